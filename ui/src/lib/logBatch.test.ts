import { describe, expect, it } from "vitest";
import { decodeBatch } from "./logBatch";

const encode = (text: string) => new TextEncoder().encode(text).buffer as ArrayBuffer;

describe("a message on a followed log's channel", () => {
  it("is its header, then the lines as stored", () => {
    const header = { first: 40, count: 3, times: [{ at: 1000, lines: 2 }, { at: 1001, lines: 1 }], marks: [{ line: 41, kind: "error" }], ended: null };
    const message = decodeBatch(encode(`${JSON.stringify(header)}\n\u001b[32mok\u001b[0m\nerror: ünïcødé ✓\n\n`));
    expect(message).toEqual({
      lines: { first: 40, lines: ["\u001b[32mok\u001b[0m", "error: ünïcødé ✓", ""], times: [1000, 1000, 1001], marks: [{ line: 41, kind: "error" }] },
      ended: null,
    });
  });

  it("says when the part ended", () => {
    const header = { first: 7, count: 0, times: [], marks: [], ended: 7 };
    expect(decodeBatch(encode(`${JSON.stringify(header)}\n`))).toEqual({ lines: null, ended: 7 });
  });
});
