// The dashboard applies the backend's updates (the changed stacks' views and
// every stack's order) instead of reloading all stacks after each event.
import type { Account } from "./bindings/Account";
import type { DashboardUpdate } from "./bindings/DashboardUpdate";
import type { StackView } from "./bindings/StackView";

/**
 * The stacks after `update`: changed ones replaced, gone ones dropped, in the
 * backend's order. `null` when the dashboard must be loaded whole: the update
 * names a stack this list has never seen and does not carry, or carries a
 * stack of an account the dashboard does not know yet (made outside this
 * window, as the demo's is).
 */
export function applyDashboardUpdate(
  stacks: StackView[],
  accounts: Account[],
  update: DashboardUpdate,
): StackView[] | null {
  const known = new Set(accounts.map((account) => account.id));
  if (update.stacks.some((view) => !known.has(view.stack.accountId))) return null;
  const byId = new Map(stacks.map((view) => [view.stack.id, view]));
  for (const view of update.stacks) byId.set(view.stack.id, view);
  const next: StackView[] = [];
  for (const id of update.order) {
    const view = byId.get(id);
    if (!view) return null;
    next.push(view);
  }
  return next;
}
