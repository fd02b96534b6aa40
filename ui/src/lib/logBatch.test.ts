import { describe, expect, it } from "vitest";
import { batchLines } from "./logBatch";

describe("a message on a followed log's channel", () => {
  it("gives each line its time from the runs of equal times", () => {
    const lines = batchLines({
      first: 40,
      lines: ["\u001b[32mok\u001b[0m", "error: ünïcødé ✓", ""],
      times: [{ at: 1000, lines: 2 }, { at: 1001, lines: 1 }],
      marks: [{ line: 41, kind: "error" }],
      errors: 1,
      ended: null,
    });
    expect(lines).toEqual({
      first: 40,
      lines: ["\u001b[32mok\u001b[0m", "error: ünïcødé ✓", ""],
      times: [1000, 1000, 1001],
      marks: [{ line: 41, kind: "error" }],
    });
  });
});
