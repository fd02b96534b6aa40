// The lines of one log the window holds: fixed-size pages, filled by the
// live batches and by pages read when the user scrolls back, and bounded —
// pages far from what is shown are dropped, so memory does not grow with
// the log (a million lines hold as much as a thousand).
import type { LineKind } from "./bindings/LineKind";
import type { LogLines } from "./bindings/LogLines";

export const PAGE_LINES = 256;

export interface CachedLine {
  text: string;
  at: number | null;
  kind: LineKind | null;
}

interface Page {
  texts: (string | undefined)[];
  times: (number | null)[];
  kinds: (LineKind | null)[];
  filled: number;
}

export class LogPages {
  private pages = new Map<number, Page>();

  constructor(private readonly maxPages = 48) {}

  /** How many pages are held (bounded by `maxPages` after `keepNear`). */
  get size(): number {
    return this.pages.size;
  }

  private page(number: number): Page {
    let page = this.pages.get(number);
    if (!page) {
      page = { texts: new Array(PAGE_LINES), times: new Array(PAGE_LINES).fill(null), kinds: new Array(PAGE_LINES).fill(null), filled: 0 };
      this.pages.set(number, page);
    }
    return page;
  }

  /** Stores consecutive lines (a live batch or a page read back). */
  apply(lines: LogLines): void {
    const kinds = new Map<number, LineKind>();
    for (const mark of lines.marks) kinds.set(mark.line, mark.kind);
    let page: Page | undefined;
    let pageNumber = -1;
    for (let i = 0; i < lines.lines.length; i++) {
      const n = lines.first + i;
      const p = Math.floor(n / PAGE_LINES);
      if (p !== pageNumber) {
        page = this.page(p);
        pageNumber = p;
      }
      const slot = n - p * PAGE_LINES;
      if (page!.texts[slot] === undefined) page!.filled++;
      page!.texts[slot] = lines.lines[i];
      page!.times[slot] = lines.times[i] ?? null;
      page!.kinds[slot] = kinds.get(n) ?? null;
    }
  }

  /** Line `n`, if held. */
  get(n: number): CachedLine | undefined {
    const p = Math.floor(n / PAGE_LINES);
    const page = this.pages.get(p);
    const slot = n - p * PAGE_LINES;
    const text = page?.texts[slot];
    if (page === undefined || text === undefined) return undefined;
    return { text, at: page.times[slot], kind: page.kinds[slot] };
  }

  /** The pages with lines in `from..to` (below `total`) that are not all held. */
  missing(from: number, to: number, total: number): number[] {
    const out: number[] = [];
    const last = Math.min(to, total) - 1;
    for (let p = Math.floor(Math.max(0, from) / PAGE_LINES); p * PAGE_LINES <= last; p++) {
      const page = this.pages.get(p);
      const wanted = Math.min(PAGE_LINES, total - p * PAGE_LINES);
      if (!page || page.filled < wanted) out.push(p);
    }
    return out;
  }

  /** Drops the pages farthest from line `center` until at most `maxPages` are held. */
  keepNear(center: number): void {
    if (this.pages.size <= this.maxPages) return;
    const centerPage = Math.floor(center / PAGE_LINES);
    const byDistance = [...this.pages.keys()].sort((a, b) => Math.abs(b - centerPage) - Math.abs(a - centerPage));
    for (const p of byDistance.slice(0, this.pages.size - this.maxPages)) this.pages.delete(p);
  }
}
