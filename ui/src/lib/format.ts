// Words and numbers as the user reads them.
import type { PartKind } from "./bindings/PartKind";
import type { Run } from "./bindings/Run";
import type { Routing } from "./bindings/Routing";
import type { Database } from "./bindings/Database";

export function shortSha(sha: string): string {
  return sha.slice(0, 7);
}

/** "just now", "5 min ago", "3 h ago", "2 days ago". */
export function ago(time: number, now: number): string {
  const seconds = Math.max(0, Math.round((now - time) / 1000));
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  return days === 1 ? "yesterday" : `${days} days ago`;
}

/** R20: "expires in 7 days", "expires in 3 h", "expires in 20 min", "expires now". */
export function expiresIn(time: number, now: number): string {
  const minutes = Math.round((time - now) / 60000);
  if (minutes < 1) return "expires now";
  if (minutes < 60) return `expires in ${minutes} min`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `expires in ${hours} h`;
  return `expires in ${Math.round(hours / 24)} days`;
}

/** "0:42", "12:05", "1:02:03". */
export function elapsed(from: number, to: number): string {
  const total = Math.max(0, Math.floor((to - from) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

export const partLabel: Record<PartKind, string> = { build: "Build", release: "Release", deploy: "Deploy", verify: "Verify" };

const runningLabel: Record<PartKind, string> = {
  build: "Building…",
  release: "Releasing…",
  deploy: "Deploying…",
  verify: "Verifying…",
};

export const routingLabel: Record<Routing, string> = {
  apiGateway: "API Gateway",
  loadBalancer: "Load balancer",
};

export function databaseLabel(database: Database): string | null {
  switch (database.kind) {
    case "none":
      return null;
    case "newPostgres":
      return "Postgres";
    case "existingRds":
      return `RDS ${database.identifier}`;
  }
}

/** What a run is doing, in a few words. */
export function runSummary(run: Pick<Run, "status" | "parts" | "trigger">): string {
  if (run.status === "running") {
    const part = run.parts.find((p) => p.status === "running");
    return part ? runningLabel[part.kind] : "Starting…";
  }
  if (run.status === "succeeded") {
    if (run.trigger.kind === "rollback") return "Rolled back";
    const deploy = run.parts.find((p) => p.kind === "deploy");
    return deploy?.unchanged ? "Deployed (no changes)" : "Deployed";
  }
  if (run.status === "cancelled") return "Cancelled";
  if (run.status === "superseded") return "Superseded: a newer release took its place";
  const failed = run.parts.find((p) => p.status === "failed");
  if (failed?.kind === "verify") return "Verification failed";
  return failed ? `${partLabel[failed.kind]} failed` : "Failed";
}

/** A stable hue for a commit, so one release has one color across the stages. */
export function releaseHue(sha: string): number {
  let hash = 0;
  for (let i = 0; i < Math.min(sha.length, 12); i++) hash = (hash * 31 + sha.charCodeAt(i)) >>> 0;
  return hash % 360;
}
