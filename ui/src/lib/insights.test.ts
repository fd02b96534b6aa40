import { describe, expect, it } from "vitest";
import { durationLabel, frequencyLabel, rateLabel, stackedDurationData } from "./insights";

describe("delivery figures in words", () => {
  it("words durations in the unit that reads best", () => {
    expect(durationLabel(null)).toBe("—");
    expect(durationLabel(42_000)).toBe("42 s");
    expect(durationLabel(12 * 60_000)).toBe("12 min");
    expect(durationLabel(3 * 3_600_000 + 20 * 60_000)).toBe("3 h 20 min");
    expect(durationLabel(5 * 3_600_000)).toBe("5 h");
    expect(durationLabel(2.5 * 86_400_000)).toBe("2.5 days");
  });

  it("words rates as percentages", () => {
    expect(rateLabel(null)).toBe("—");
    expect(rateLabel(0)).toBe("0 %");
    expect(rateLabel(0.0625)).toBe("6.3 %");
    expect(rateLabel(0.25)).toBe("25 %");
  });

  it("words how often a stage deploys", () => {
    expect(frequencyLabel(0, 7)).toBe("None");
    expect(frequencyLabel(210, 7)).toBe("30 a day");
    expect(frequencyLabel(10, 7)).toBe("1.4 a day");
    expect(frequencyLabel(3, 7)).toBe("3.0 a week");
    expect(frequencyLabel(2, 90)).toBe("2 in 90 days");
  });

  it("stacks build, release and deploy durations", () => {
    const [at, total, release, build] = stackedDurationData([
      { at: 60_000, runs: 2, buildMs: 120_000, releaseMs: 60_000, deployMs: 180_000 },
    ]);
    expect(at).toEqual([60]);
    expect(build).toEqual([2]);
    expect(release).toEqual([3]);
    expect(total).toEqual([6]);
  });
});

describe("chart data", () => {
  it("stacks the day's failures on its deployments", async () => {
    const { dailyData } = await import("./insights");
    const stage = {
      perDay: [{ day: 86_400_000, deployments: 3, failures: 1, leadTimeMs: null }],
    } as unknown as Parameters<typeof dailyData>[0];
    expect(dailyData(stage)).toEqual([[86_400], [4], [3]]);
  });
});
