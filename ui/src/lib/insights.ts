// Delivery figures as the user reads them. The figures themselves are
// computed by the backend (in SQL over the run history); this only words them
// and shapes them for the charts.
import type { DurationPoint } from "./bindings/DurationPoint";
import type { StageInsights } from "./bindings/StageInsights";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "40 s", "12 min", "3 h 20 min", "2.5 days"; "—" when there is no figure. */
export function durationLabel(ms: number | null | undefined): string {
  if (ms == null) return "—";
  if (ms < MINUTE) return `${Math.round(ms / 1000)} s`;
  if (ms < HOUR) return `${Math.round(ms / MINUTE)} min`;
  if (ms < 2 * DAY) {
    const hours = Math.floor(ms / HOUR);
    const minutes = Math.round((ms % HOUR) / MINUTE);
    return minutes ? `${hours} h ${minutes} min` : `${hours} h`;
  }
  return `${(ms / DAY).toFixed(1)} days`;
}

/** "6.3 %", "0 %"; "—" when nothing ended. */
export function rateLabel(rate: number | null | undefined): string {
  if (rate == null) return "—";
  const percent = rate * 100;
  return `${percent === 0 || percent >= 10 ? percent.toFixed(0) : percent.toFixed(1)} %`;
}

/** How often a stage deploys, in the unit that reads best: "12 a day", "3 a week", "1 in 30 days". */
export function frequencyLabel(deployments: number, days: number): string {
  if (deployments === 0) return "None";
  const perDay = deployments / days;
  if (perDay >= 1) return `${perDay >= 10 ? Math.round(perDay) : perDay.toFixed(1)} a day`;
  const perWeek = perDay * 7;
  if (perWeek >= 1) return `${perWeek.toFixed(1)} a week`;
  return `${deployments} in ${days} days`;
}

/**
 * uPlot's data for runs ended per day (x in seconds), stacked: every run that
 * ended (drawn first, in the failure colour), then those that succeeded over it.
 */
export function dailyData(stage: StageInsights): [number[], number[], number[]] {
  return [
    stage.perDay.map((d) => d.day / 1000),
    stage.perDay.map((d) => d.deployments + d.failures),
    stage.perDay.map((d) => d.deployments),
  ];
}

/** uPlot's data for the day's mean lead time, in hours (null where nothing deployed). */
export function leadTimeData(stage: StageInsights): [number[], (number | null)[]] {
  return [stage.perDay.map((d) => d.day / 1000), stage.perDay.map((d) => (d.leadTimeMs == null ? null : d.leadTimeMs / HOUR))];
}

/**
 * uPlot's data for run durations stacked build / release / deploy, in minutes:
 * each series is the sum of its part and the parts below it, so drawing the
 * total first and the build last shows the three bands.
 */
export function stackedDurationData(points: DurationPoint[]): [number[], number[], number[], number[]] {
  const build = points.map((p) => p.buildMs / MINUTE);
  const release = points.map((p, i) => build[i] + p.releaseMs / MINUTE);
  const total = points.map((p, i) => release[i] + p.deployMs / MINUTE);
  return [points.map((p) => p.at / 1000), total, release, build];
}
