import { describe, expect, it } from "vitest";
import type { Account } from "./bindings/Account";
import type { StackView } from "./bindings/StackView";
import { applyDashboardUpdate } from "./dashboardUpdate";

function stack(id: number, name: string, warnings: string[] = [], accountId = 5): StackView {
  return { stack: { id, name, accountId }, accountName: "Sandbox", warnings, newestRelease: null, stages: [] } as unknown as StackView;
}

const accounts = [{ id: 5, name: "Sandbox" }] as unknown as Account[];

describe("dashboard updates", () => {
  const shop = stack(1, "shop");
  const blog = stack(2, "blog");

  it("replaces the changed stack and keeps the others as they are", () => {
    const changed = stack(1, "shop", ["The remote cannot be reached."]);
    const next = applyDashboardUpdate([blog, shop], accounts, { stacks: [changed], order: [2, 1] });
    expect(next).toEqual([blog, changed]);
    expect(next?.[0]).toBe(blog);
  });

  it("adds a new stack and drops a gone one, in the backend's order", () => {
    const api = stack(3, "api");
    expect(applyDashboardUpdate([blog, shop], accounts, { stacks: [api], order: [3, 2] })).toEqual([api, blog]);
  });

  it("asks for a whole reload when it names a stack it does not carry and the list has never seen", () => {
    expect(applyDashboardUpdate([shop], accounts, { stacks: [], order: [1, 9] })).toBeNull();
  });

  it("asks for a whole reload when a stack's account is not known yet (the demo's, made outside the window)", () => {
    expect(applyDashboardUpdate([], [], { stacks: [stack(1, "shop")], order: [1] })).toBeNull();
  });
});
