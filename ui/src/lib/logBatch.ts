// A message on a followed log's channel, as the pages take it: one time per line.
import type { LogBatch } from "./bindings/LogBatch";
import type { LogLines } from "./bindings/LogLines";

export function batchLines(batch: LogBatch): LogLines {
  const times: (number | null)[] = [];
  for (const run of batch.times) for (let i = 0; i < run.lines; i++) times.push(run.at);
  return { first: batch.first, lines: batch.lines, times, marks: batch.marks };
}
