import { describe, expect, it } from "vitest";
import { LogPages, PAGE_LINES } from "./logPages";
import type { LogLines } from "./bindings/LogLines";

function lines(first: number, count: number): LogLines {
  const texts = Array.from({ length: count }, (_, i) => `line ${first + i}`);
  return { first, lines: texts, times: texts.map(() => 1000), marks: count > 1 ? [{ line: first + 1, kind: "error" }] : [] };
}

describe("the lines the window holds", () => {
  it("keeps what batches and pages bring, with times and kinds", () => {
    const pages = new LogPages();
    pages.apply(lines(0, 10));
    expect(pages.get(1)).toEqual({ text: "line 1", at: 1000, kind: "error" });
    expect(pages.get(2)?.kind).toBeNull();
    expect(pages.get(10)).toBeUndefined();
  });

  it("knows which pages still lack lines that exist", () => {
    const pages = new LogPages();
    pages.apply(lines(PAGE_LINES + 10, 5)); // a batch that starts mid-page
    expect(pages.missing(0, 3 * PAGE_LINES, PAGE_LINES + 15)).toEqual([0, 1]);
    pages.apply(lines(PAGE_LINES, 10));
    pages.apply(lines(0, PAGE_LINES));
    expect(pages.missing(0, 3 * PAGE_LINES, PAGE_LINES + 15)).toEqual([]);
  });

  it("holds a bounded number of pages however long the log grows", () => {
    const pages = new LogPages(8);
    for (let first = 0; first < 1_000_000; first += 4096) {
      pages.apply(lines(first, 4096));
      pages.keepNear(first + 4095); // following the tail
    }
    expect(pages.size).toBeLessThanOrEqual(8);
    expect(pages.get(1_003_519)?.text).toBe("line 1003519");
    expect(pages.get(0)).toBeUndefined();
  });
});
