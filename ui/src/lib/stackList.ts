// How the dashboard lists many stacks: a filter, stacks that need someone
// first, and the stages to jump to (pending approvals, failures).
import type { StackView } from "./bindings/StackView";
import type { StageView } from "./bindings/StageView";

/** What a stage shows at a glance (the stage card's colours). */
export type StageState = "approval" | "running" | "failed" | "ok" | "idle" | "deleting";

export function stageState(view: StageView): StageState {
  if (view.stage.lifecycle.kind !== "active") return "deleting";
  if (view.pendingApproval) return "approval";
  const run = view.latestRun;
  if (run?.status === "running") return "running";
  if (run?.status === "failed") return "failed";
  return view.deployed ? "ok" : "idle";
}

/** Whether the stack matches what was typed: its name, repository, branch, account or a stage's name. */
export function matches(stack: StackView, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const haystack = [
    stack.stack.name,
    stack.stack.repository,
    stack.stack.branch,
    stack.accountName,
    ...stack.stages.map((s) => s.stage.settings.name),
  ]
    .join(" ")
    .toLowerCase();
  return words.every((word) => haystack.includes(word));
}

function rank(stack: StackView): number {
  const states = stack.stages.map(stageState);
  if (states.includes("approval")) return 0;
  if (states.includes("failed")) return 1;
  if (states.includes("running")) return 2;
  return 3;
}

/** The matching stacks, those awaiting approval first, then failed, then running, then by name. */
export function listed(stacks: StackView[], query: string): StackView[] {
  return stacks
    .filter((stack) => matches(stack, query))
    .sort((a, b) => rank(a) - rank(b) || a.stack.name.localeCompare(b.stack.name));
}

/** The stages someone should look at, in dashboard order. */
export function attention(stacks: StackView[], kind: "approval" | "failed"): StageView[] {
  return listed(stacks, "").flatMap((stack) => stack.stages.filter((stage) => stageState(stage) === kind));
}

/** How often the dashboard's clock ticks: every second while a run shows its
 *  elapsed time, else every 30 s (ages change by the minute), so an idle
 *  window does not wake up every second. */
export function tickDelay(stacks: StackView[]): number {
  return stacks.some((s) => s.stages.some((stage) => stage.latestRun?.status === "running")) ? 1000 : 30000;
}
