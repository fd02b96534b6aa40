// Where the new stage goes (R1). The existing stages never move: only the new
// card does, into one of the slots between them (slot i = before stage i;
// slot n = after the last).

/** The `after` argument for creating the stage in `slot`: the stage before it, or null for first. */
export function afterForSlot<T extends { id: number }>(stages: T[], slot: number): number | null {
  const clamped = clampSlot(slot, stages.length);
  return clamped === 0 ? null : stages[clamped - 1].id;
}

/** Keeps a slot within 0…count. */
export function clampSlot(slot: number, count: number): number {
  return Math.max(0, Math.min(count, Math.round(slot)));
}

/** The slot after a key press (←/→ one place, Home/End to the ends); null for other keys. */
export function slotForKey(key: string, slot: number, count: number): number | null {
  switch (key) {
    case "ArrowLeft":
    case "ArrowUp":
      return clampSlot(slot - 1, count);
    case "ArrowRight":
    case "ArrowDown":
      return clampSlot(slot + 1, count);
    case "Home":
      return 0;
    case "End":
      return count;
    default:
      return null;
  }
}

/** The slot a pointer at `x` points to, given the horizontal extents of the existing stages (in order). */
export function slotForPointer(x: number, stages: { left: number; width: number }[]): number {
  let slot = 0;
  for (const stage of stages) {
    if (x > stage.left + stage.width / 2) slot += 1;
  }
  return slot;
}

/** The order as shown: existing stage names with the new one in its slot. */
export function orderWithNew(names: string[], slot: number, newName: string): string[] {
  const at = clampSlot(slot, names.length);
  return [...names.slice(0, at), newName, ...names.slice(at)];
}
