// Typed calls for a part's log. Every type comes from the Rust side (bindings/).
import { Channel, invoke } from "@tauri-apps/api/core";
import { toApiError } from "./api";
import type { LogBatch } from "./bindings/LogBatch";
import type { LogErrors } from "./bindings/LogErrors";
import type { LogLines } from "./bindings/LogLines";
import type { LogMatches } from "./bindings/LogMatches";
import type { LogStart } from "./bindings/LogStart";
import type { PartKind } from "./bindings/PartKind";
import type { RunId } from "./bindings/RunId";
import type { SavedLog } from "./bindings/SavedLog";

async function call<T>(command: string, args: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw toApiError(error);
  }
}

export const logApi = {
  /** Lines so far; later ones arrive on `onFeed` in batches. */
  follow: (runId: RunId, part: PartKind, onFeed: (batch: LogBatch) => void) => {
    const feed = new Channel<LogBatch>();
    feed.onmessage = onFeed;
    return call<LogStart>("follow_log", { runId, part, feed });
  },
  unfollow: (follower: number) => call<void>("unfollow_log", { follower }),
  read: (runId: RunId, part: PartKind, from: number, count: number) => call<LogLines>("read_log", { runId, part, from, count }),
  find: (runId: RunId, part: PartKind, query: string) => call<LogMatches>("find_in_log", { runId, part, query }),
  errors: (runId: RunId, part: PartKind, listed: number) => call<LogErrors>("log_errors", { runId, part, listed }),
  save: (runId: RunId, part: PartKind) => call<SavedLog>("save_log", { runId, part }),
  open: (runId: RunId, part: PartKind) => call<SavedLog>("open_log", { runId, part }),
};
