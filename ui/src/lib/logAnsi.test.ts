import { describe, expect, it } from "vitest";
import { markMatches, parseLine, plainText, truncatePieces } from "./logAnsi";
import cases from "./logText.cases.json";

const E = "\u001b";

describe("a log line as a terminal shows it", () => {
  for (const c of cases) {
    it(`reads the text the backend reads: ${c.name}`, () => {
      expect(plainText(c.raw)).toBe(c.plain);
    });
  }

  it("keeps a plain line as one piece", () => {
    expect(parseLine("hello")).toEqual([{ text: "hello", cls: "", css: "" }]);
    expect(parseLine("")).toEqual([]);
  });

  it("turns the 16 colours and styles into palette classes", () => {
    const pieces = parseLine(`${E}[1;31mfailed${E}[0m: ${E}[92mok${E}[39m done`);
    expect(pieces).toEqual([
      { text: "failed", cls: "a-f1 a-bold", css: "" },
      { text: ": ", cls: "", css: "" },
      { text: "ok", cls: "a-f10", css: "" },
      { text: " done", cls: "", css: "" },
    ]);
  });

  it("gives 256 and true colours exact values, foreground and background", () => {
    const [a, b, c] = parseLine(`${E}[38;5;196mred${E}[48;2;1;2;3mon${E}[0m${E}[38;5;4mblue`);
    expect(a).toMatchObject({ text: "red", css: "color:rgb(255,0,0)" });
    expect(b).toMatchObject({ text: "on", css: "color:rgb(255,0,0);background:rgb(1,2,3)" });
    expect(c).toMatchObject({ text: "blue", cls: "a-f4" });
  });

  it("swaps colours for inverse video, with the default colours when unset", () => {
    expect(parseLine(`${E}[7mINV${E}[27m`)[0]).toMatchObject({ text: "INV", cls: "a-fg-inv a-bg-inv" });
    expect(parseLine(`${E}[32;7mINV`)[0]).toMatchObject({ cls: "a-fg-inv a-b2" });
  });

  it("collapses a progress bar to its last state, keeping that state's colours", () => {
    const bar = Array.from({ length: 1000 }, (_, i) => `\r${E}[36m${String(i / 10).padStart(5)}%${E}[0m`).join("");
    expect(parseLine(`Downloading${bar}`)).toEqual([
      { text: " 99.9%", cls: "a-f6", css: "" },
      { text: "ading", cls: "", css: "" },
    ]);
    expect(plainText(`Downloading${bar}${E}[K`)).toBe(" 99.9%");
  });

  it("ends styles at a reset and keeps text written after a return", () => {
    expect(plainText(`${E}[2K\r${E}[1A${E}[32m✔${E}[0m Installed`)).toBe("✔ Installed");
  });

  it("marks every match of a search across differently styled pieces", () => {
    const pieces = markMatches(parseLine(`to${E}[31mken${E}[0m TOKEN`), "token");
    expect(pieces).toEqual([
      { text: "to", cls: "", css: "", mark: true },
      { text: "ken", cls: "a-f1", css: "", mark: true },
      { text: " ", cls: "", css: "" },
      { text: "TOKEN", cls: "", css: "", mark: true },
    ]);
    expect(markMatches(parseLine("nothing here"), "token")).toEqual(parseLine("nothing here"));
  });

  it("cuts a very long line to what is shown and says how much is left", () => {
    const { pieces, hidden } = truncatePieces(parseLine(`${E}[1m${"x".repeat(50)}${E}[0m${"y".repeat(100_000)}`), 60);
    expect(pieces.map((p) => p.text.length)).toEqual([50, 10]);
    expect(hidden).toBe(99_990);
  });
});
