// Numbers and times of a log, as the user reads them.

const numbers = new Intl.NumberFormat(undefined, { useGrouping: true });

/** "12,345" in the user's locale. */
export function count(n: number): string {
  return numbers.format(n);
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** "14:03:22.123", local time. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

// One formatter for every line: making one per call (toLocaleDateString) is slow and leaves garbage.
const days = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric" });

/** "3 Dec 2025, 14:03:22.123", for a tooltip. */
export function fullTime(ms: number): string {
  return `${days.format(ms)}, ${clockTime(ms)}`;
}

/** "+1:02.350" since `start`. */
export function sinceStart(ms: number, start: number): string {
  const total = Math.max(0, ms - start);
  const minutes = Math.floor(total / 60000);
  const seconds = (total % 60000) / 1000;
  return `+${minutes}:${seconds.toFixed(3).padStart(6, "0")}`;
}
