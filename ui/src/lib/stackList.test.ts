import { describe, expect, it } from "vitest";
import type { StackView } from "./bindings/StackView";
import type { StageView } from "./bindings/StageView";
import { attention, listed, matches, stageState, tickDelay } from "./stackList";

function stage(name: string, state: "approval" | "failed" | "running" | "ok"): StageView {
  const run = state === "failed" || state === "running" ? { status: state } : null;
  return {
    stage: { id: name.length, stackId: 1, position: 0, settings: { name }, lifecycle: { kind: "active" } },
    latestRun: run,
    latestRelease: null,
    deployed: state === "ok" ? { commit: { sha: "abc" } } : null,
    waiting: null,
    pendingApproval: state === "approval" ? { approval: {}, release: {} } : null,
    deleteRefusal: null,
  } as unknown as StageView;
}

function stack(name: string, stages: StageView[], repository = `/repos/${name}`): StackView {
  return {
    stack: { id: name.length, name, repository, branch: "main" },
    accountName: "Sandbox",
    warnings: [],
    newestRelease: null,
    stages,
  } as unknown as StackView;
}

describe("many stacks", () => {
  const stacks = [
    stack("zebra", [stage("dev", "ok")]),
    stack("shop", [stage("dev", "ok"), stage("prod", "approval")]),
    stack("api", [stage("dev", "failed")]),
    stack("web", [stage("canary", "running")]),
  ];

  it("lists stacks awaiting approval first, then failed, then running, then by name", () => {
    expect(listed(stacks, "").map((s) => s.stack.name)).toEqual(["shop", "api", "web", "zebra"]);
  });

  it("filters by stack, repository, account and stage names, every word", () => {
    expect(listed(stacks, "canary").map((s) => s.stack.name)).toEqual(["web"]);
    expect(matches(stacks[0], "ZEB sandbox")).toBe(true);
    expect(matches(stacks[0], "zebra prod")).toBe(false);
  });

  it("finds the stages to jump to", () => {
    expect(attention(stacks, "approval").map((s) => s.stage.settings.name)).toEqual(["prod"]);
    expect(attention(stacks, "failed").map((s) => stageState(s))).toEqual(["failed"]);
  });
});

describe("the dashboard's clock", () => {
  it("ticks every second only while a run shows its elapsed time", () => {
    expect(tickDelay([stack("web", [stage("dev", "ok"), stage("canary", "running")])])).toBe(1000);
    expect(tickDelay([stack("shop", [stage("dev", "ok"), stage("prod", "approval")]), stack("api", [stage("dev", "failed")])])).toBe(30000);
    expect(tickDelay([])).toBe(30000);
  });
});
