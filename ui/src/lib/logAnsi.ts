// A stored log line as a terminal shows it: ANSI colours and styles turned
// into styled pieces, carriage returns rewriting the line from its start
// (progress bars end at their last state), backspace and erase-line obeyed.
// The backend reads lines by the same rules for search and the saved file
// (src-tauri/src/logs/text.rs); both are tested on logText.cases.json.

/** A run of text in one style. `cls` names palette classes; `css` holds exact colours. */
export interface Piece {
  text: string;
  cls: string;
  css: string;
  /** Inside a search match. */
  mark?: boolean;
}

interface Style {
  fg: number | string | null; // 0–15 palette index, or a CSS colour
  bg: number | string | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
  inverse: boolean;
  strike: boolean;
}

const plainStyle: Style = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false, strike: false };

/** The xterm 256-colour cube and grey ramp, for indexes 16–255. */
function color256(n: number): string {
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v},${v},${v})`;
  }
  const i = n - 16;
  const step = (c: number) => (c === 0 ? 0 : 55 + c * 40);
  return `rgb(${step(Math.floor(i / 36))},${step(Math.floor(i / 6) % 6)},${step(i % 6)})`;
}

/** Applies one SGR sequence's parameters to a style. */
function applySgr(style: Style, params: number[]): Style {
  const s = { ...style };
  if (params.length === 0) params = [0];
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    if (p === 0) Object.assign(s, plainStyle);
    else if (p === 1) s.bold = true;
    else if (p === 2) s.dim = true;
    else if (p === 3) s.italic = true;
    else if (p === 4) s.underline = true;
    else if (p === 7) s.inverse = true;
    else if (p === 9) s.strike = true;
    else if (p === 22) s.bold = s.dim = false;
    else if (p === 23) s.italic = false;
    else if (p === 24) s.underline = false;
    else if (p === 27) s.inverse = false;
    else if (p === 29) s.strike = false;
    else if (p >= 30 && p <= 37) s.fg = p - 30;
    else if (p >= 90 && p <= 97) s.fg = p - 90 + 8;
    else if (p === 39) s.fg = null;
    else if (p >= 40 && p <= 47) s.bg = p - 40;
    else if (p >= 100 && p <= 107) s.bg = p - 100 + 8;
    else if (p === 49) s.bg = null;
    else if (p === 38 || p === 48) {
      let color: number | string | null = null;
      if (params[i + 1] === 5 && params[i + 2] !== undefined) {
        const n = params[i + 2];
        color = n < 16 ? n : color256(Math.min(255, n));
        i += 2;
      } else if (params[i + 1] === 2 && params[i + 4] !== undefined) {
        const [r, g, b] = params.slice(i + 2, i + 5).map((v) => Math.min(255, v));
        color = `rgb(${r},${g},${b})`;
        i += 4;
      }
      if (p === 38) s.fg = color;
      else s.bg = color;
    }
  }
  return s;
}

function styleKey(s: Style): string {
  return `${s.fg}|${s.bg}|${+s.bold}${+s.dim}${+s.italic}${+s.underline}${+s.inverse}${+s.strike}`;
}

function pieceStyle(s: Style): { cls: string; css: string } {
  const cls: string[] = [];
  const css: string[] = [];
  let fg = s.fg;
  let bg = s.bg;
  if (s.inverse) {
    [fg, bg] = [bg, fg];
    if (fg === null) cls.push("a-fg-inv");
    if (bg === null) cls.push("a-bg-inv");
  }
  if (typeof fg === "number") cls.push(`a-f${fg}`);
  else if (fg) css.push(`color:${fg}`);
  if (typeof bg === "number") cls.push(`a-b${bg}`);
  else if (bg) css.push(`background:${bg}`);
  if (s.bold) cls.push("a-bold");
  if (s.dim) cls.push("a-dim");
  if (s.italic) cls.push("a-italic");
  if (s.underline) cls.push("a-under");
  if (s.strike) cls.push("a-strike");
  return { cls: cls.join(" "), css: css.join(";") };
}

const ESC = "\u001b";

/** Whether a line needs more than showing as it is. */
function isPlain(line: string): boolean {
  return !/[\u001b\r\b]/.test(line);
}

/** The line as styled pieces, in order; their texts joined are `plainText(line)`. */
export function parseLine(line: string): Piece[] {
  if (isPlain(line)) return line === "" ? [] : [{ text: line, cls: "", css: "" }];
  const chars: string[] = [];
  const styles: Style[] = [];
  let style = plainStyle;
  let cursor = 0;
  const put = (c: string) => {
    while (chars.length < cursor) {
      chars.push(" ");
      styles.push(plainStyle);
    }
    chars[cursor] = c;
    styles[cursor] = style;
    cursor++;
  };
  const codePoints = Array.from(line);
  for (let i = 0; i < codePoints.length; i++) {
    const c = codePoints[i];
    if (c === ESC) {
      const next = codePoints[i + 1];
      if (next === "[") {
        let j = i + 2;
        let params = "";
        while (j < codePoints.length && !(codePoints[j] >= "\u0040" && codePoints[j] <= "\u007e")) params += codePoints[j++];
        const final = codePoints[j];
        i = j;
        const n = (fallback: number) => {
          const v = parseInt(params, 10);
          return Number.isNaN(v) ? fallback : v;
        };
        if (final === "m") {
          style = applySgr(style, params === "" ? [] : params.split(/[;:]/).map((v) => (v === "" ? 0 : parseInt(v, 10) || 0)));
        } else if (final === "K") {
          const mode = n(0);
          if (mode === 0) {
            chars.length = Math.min(chars.length, cursor);
            styles.length = chars.length;
          } else if (mode === 1) {
            for (let k = 0; k <= cursor && k < chars.length; k++) chars[k] = " ";
          } else {
            chars.length = 0;
            styles.length = 0;
          }
        } else if (final === "G") cursor = Math.max(1, n(1)) - 1;
        else if (final === "C") cursor += Math.max(1, n(1));
        else if (final === "D") cursor = Math.max(0, cursor - Math.max(1, n(1)));
      } else if (next === "]") {
        // Operating system command (titles, links): up to BEL or ESC \.
        let j = i + 2;
        while (j < codePoints.length && codePoints[j] !== "\u0007" && !(codePoints[j] === ESC && codePoints[j + 1] === "\\")) j++;
        i = codePoints[j] === ESC ? j + 1 : j;
      } else {
        i++; // a two-character escape
      }
    } else if (c === "\r") cursor = 0;
    else if (c === "\b") cursor = Math.max(0, cursor - 1);
    else if (c !== "\t" && c < " ") continue;
    else if (c === "\u007f" || (c >= "\u0080" && c <= "\u009f")) continue;
    else put(c);
  }
  const pieces: Piece[] = [];
  let key = "";
  for (let k = 0; k < chars.length; k++) {
    const s = styles[k];
    const thisKey = styleKey(s);
    if (pieces.length > 0 && thisKey === key) pieces[pieces.length - 1].text += chars[k];
    else {
      pieces.push({ text: chars[k], ...pieceStyle(s) });
      key = thisKey;
    }
  }
  return pieces;
}

/** The text a reader sees: no escape codes, progress rewrites at their last state. */
export function plainText(line: string): string {
  return isPlain(line) ? line : parseLine(line).map((p) => p.text).join("");
}

/** Cuts pieces to at most `max` characters; returns how many were left out. */
export function truncatePieces(pieces: Piece[], max: number): { pieces: Piece[]; hidden: number } {
  let length = 0;
  for (const p of pieces) length += p.text.length;
  if (length <= max) return { pieces, hidden: 0 };
  const out: Piece[] = [];
  let left = max;
  for (const p of pieces) {
    if (left <= 0) break;
    out.push(p.text.length <= left ? p : { ...p, text: p.text.slice(0, left) });
    left -= p.text.length;
  }
  return { pieces: out, hidden: length - max };
}

/** Splits pieces so that every case-insensitive occurrence of `query` is marked. */
export function markMatches(pieces: Piece[], query: string): Piece[] {
  if (!query) return pieces;
  const text = pieces.map((p) => p.text).join("");
  const lower = text.toLowerCase();
  const needle = query.toLowerCase();
  if (lower.length !== text.length) return pieces; // case folding changed lengths: show unmarked
  const ranges: [number, number][] = [];
  for (let at = lower.indexOf(needle); at !== -1; at = lower.indexOf(needle, at + needle.length)) {
    ranges.push([at, at + needle.length]);
  }
  if (ranges.length === 0) return pieces;
  const out: Piece[] = [];
  let offset = 0;
  let r = 0;
  for (const p of pieces) {
    let start = 0;
    const end = p.text.length;
    while (start < end) {
      const absolute = offset + start;
      while (r < ranges.length && ranges[r][1] <= absolute) r++;
      const range = ranges[r];
      if (!range || range[0] >= offset + end) {
        out.push({ ...p, text: p.text.slice(start) });
        break;
      }
      if (range[0] > absolute) {
        const cut = range[0] - offset;
        out.push({ ...p, text: p.text.slice(start, cut) });
        start = cut;
        continue;
      }
      const cut = Math.min(end, range[1] - offset);
      out.push({ ...p, text: p.text.slice(start, cut), mark: true });
      start = cut;
    }
    offset += end;
  }
  return out;
}
