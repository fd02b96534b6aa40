import { describe, expect, it } from "vitest";
import type { Run } from "./bindings/Run";
import { ago, elapsed, expiresIn, releaseHue, runSummary, shortSha } from "./format";

describe("formatting", () => {
  it("shortens a sha to 7 characters", () => {
    expect(shortSha("0123456789abcdef")).toBe("0123456");
  });
  it("says how long ago in words", () => {
    expect(ago(0, 10_000)).toBe("just now");
    expect(ago(0, 5 * 60_000)).toBe("5 min ago");
    expect(ago(0, 3 * 3_600_000)).toBe("3 h ago");
    expect(ago(0, 50 * 3_600_000)).toBe("2 days ago");
  });
  it("shows elapsed time as a clock", () => {
    expect(elapsed(0, 42_000)).toBe("0:42");
    expect(elapsed(0, 3_723_000)).toBe("1:02:03");
  });
  it("says a release superseded while it waited never ran", () => {
    const run: Run = {
      id: 1, stackId: 1, stageId: 1, releaseId: 1, status: "superseded", trigger: { kind: "flow" }, image: null, buildAccess: null, followedFrom: null,
      parts: [], createdAt: 0, finishedAt: 0,
    };
    expect(runSummary(run)).toBe("Superseded: a newer release took its place");
  });
  it("says a deploy changed nothing from the part's flag, whatever its message", () => {
    const deploy = (unchanged: boolean, message: string | null) => ({
      kind: "deploy" as const, status: "succeeded" as const, startedAt: 0, finishedAt: 1, message, unchanged,
    });
    const run = (unchanged: boolean, message: string | null): Run => ({
      id: 1, stackId: 1, stageId: 1, releaseId: 1, status: "succeeded", trigger: { kind: "flow" }, image: null, buildAccess: null, followedFrom: null,
      parts: [deploy(unchanged, message)], createdAt: 0, finishedAt: 1,
    });
    expect(runSummary(run(true, "Keine Änderungen"))).toBe("Deployed (no changes)");
    expect(runSummary(run(false, "No changes"))).toBe("Deployed");
  });
  it("gives one release one color", () => {
    expect(releaseHue("abc1234")).toBe(releaseHue("abc1234"));
    expect(releaseHue("abc1234")).not.toBe(releaseHue("def5678"));
  });
});

describe("approval expiry (R20)", () => {
  const now = 1_700_000_000_000;
  it("reads as a person says it", () => {
    expect(expiresIn(now + 7 * 86_400_000, now)).toBe("expires in 7 days");
    expect(expiresIn(now + 3 * 3_600_000, now)).toBe("expires in 3 h");
    expect(expiresIn(now + 20 * 60_000, now)).toBe("expires in 20 min");
    expect(expiresIn(now - 1, now)).toBe("expires now");
  });
});
