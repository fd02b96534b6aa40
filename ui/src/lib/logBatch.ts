// A message on a followed log's channel: a header line (JSON), then the new
// lines exactly as the stored log holds them, each ended by a line break.
// Decoding is a text decode and a split: no JSON array of lines to parse.
import type { LogBatchHeader } from "./bindings/LogBatchHeader";
import type { LogLines } from "./bindings/LogLines";

const utf8 = new TextDecoder();

/** What one message says: new lines, and whether the part has ended (with how many lines). */
export interface LogMessage {
  lines: LogLines | null;
  ended: number | null;
}

export function decodeBatch(message: ArrayBuffer): LogMessage {
  const text = utf8.decode(message);
  const headerEnd = text.indexOf("\n");
  const header = JSON.parse(headerEnd === -1 ? text : text.slice(0, headerEnd)) as LogBatchHeader;
  if (header.count === 0) return { lines: null, ended: header.ended };
  const lines = text.slice(headerEnd + 1, text.length - 1).split("\n");
  const times: (number | null)[] = [];
  for (const run of header.times) for (let i = 0; i < run.lines; i++) times.push(run.at);
  return { lines: { first: header.first, lines, times, marks: header.marks }, ended: header.ended };
}
