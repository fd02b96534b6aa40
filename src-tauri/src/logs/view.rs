//! What the window gets of a log (generated into `ui/src/lib/bindings`).

use serde::Serialize;
use stageline_engine::ids::Millis;
use ts_rs::TS;

pub use super::text::LineKind;

/// Consecutive lines of a part's log, exactly as stored: masked, with the
/// build's ANSI codes and carriage returns kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LogLines {
    /// The number of the first line (the log's first line is 0).
    pub first: u64,
    pub lines: Vec<String>,
    /// When each line was written; null for logs from before times were kept.
    pub times: Vec<Option<Millis>>,
    /// The lines that stand out, by number (most lines are in none).
    pub marks: Vec<LineMark>,
}

impl LogLines {
    /// The byte size of the text, as batches are bounded by it.
    #[cfg(test)]
    pub(crate) fn text_bytes(&self) -> usize {
        self.lines.iter().map(|line| line.len() + 1).sum()
    }
}

/// A line that stands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LineMark {
    pub line: u64,
    pub kind: LineKind,
}

/// One message on a followed log's channel, before it is sent ([`LogFeed::to_json`]).
#[derive(Debug, Clone, PartialEq)]
pub enum LogFeed {
    /// New lines, in order; `errors` of all lines written so far report an error.
    Lines { batch: LogLines, errors: u64 },
    /// The part ended: its log has this many lines and will not grow.
    Ended { lines: u64, errors: u64 },
}

/// A message on a followed log's channel: the newest lines written since the
/// previous message, exactly as stored. When a build printed more in a frame
/// than one message holds, `first` is past the end of the previous message:
/// the lines between are in the stored log, read in pages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LogBatch {
    /// The number of the first line.
    pub first: u64,
    pub lines: Vec<String>,
    /// When the lines were written, as runs of lines with the same time.
    pub times: Vec<TimeRun>,
    /// The lines of this message that stand out.
    pub marks: Vec<LineMark>,
    /// How many lines of the whole log so far report an error.
    pub errors: u64,
    /// Set on the last message: the part ended with this many lines.
    pub ended: Option<u64>,
}

/// `lines` consecutive lines written at the same millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TimeRun {
    pub at: Option<Millis>,
    pub lines: u32,
}

/// Messages under this many bytes are evaluated in the page at once; larger
/// ones are fetched by the page, which costs it far more (Tauri's channels).
pub const MESSAGE_BYTES_DIRECT: usize = 8192;

fn batch_message(batch: &LogLines, from: usize, errors: u64) -> LogBatch {
    let mut times: Vec<TimeRun> = Vec::new();
    for at in &batch.times[from..] {
        match times.last_mut() {
            Some(run) if run.at == *at => run.lines += 1,
            _ => times.push(TimeRun { at: *at, lines: 1 }),
        }
    }
    let first = batch.first + from as u64;
    LogBatch {
        first,
        lines: batch.lines[from..].to_vec(),
        times,
        marks: batch
            .marks
            .iter()
            .filter(|m| m.line >= first)
            .copied()
            .collect(),
        errors,
        ended: None,
    }
}

impl LogFeed {
    /// The message as JSON: under [`MESSAGE_BYTES_DIRECT`] whenever its
    /// newest line fits (older lines are left to the pages when escaping
    /// made the text longer than it is stored).
    pub fn to_json(&self) -> String {
        match self {
            LogFeed::Lines { batch, errors } => {
                let mut from = 0;
                loop {
                    let json = serde_json::to_string(&batch_message(batch, from, *errors))
                        .unwrap_or_default();
                    let left = batch.lines.len() - from;
                    if json.len() < MESSAGE_BYTES_DIRECT || left <= 1 {
                        return json;
                    }
                    from += left.div_ceil(2);
                }
            }
            LogFeed::Ended { lines, errors } => serde_json::to_string(&LogBatch {
                first: *lines,
                errors: *errors,
                ended: Some(*lines),
                ..LogBatch::default()
            })
            .unwrap_or_default(),
        }
    }
}

/// A log when it is first followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LogStart {
    /// Lines stored so far (read them in pages); later ones arrive on the channel.
    pub lines: u64,
    /// Whether the part is still writing its log.
    pub live: bool,
    /// While live: who follows, to stop following early (`unfollow_log`).
    pub follower: Option<u64>,
    /// How many of those lines report an error.
    pub errors: u64,
}

/// One line, on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LogLine {
    pub line: u64,
    pub text: String,
    pub at: Option<Millis>,
    pub kind: Option<LineKind>,
}

/// The lines of a log whose text contains what was searched for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LogMatches {
    /// How many lines match.
    pub count: u64,
    /// Their numbers, in order (the first [`MATCHES_LISTED`] of them).
    pub lines: Vec<u64>,
    /// How many lines were searched (the log may have grown since).
    pub searched: u64,
}

/// The error lines of a log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LogErrors {
    /// How many lines report an error.
    pub count: u64,
    /// The first [`ERRORS_LISTED`] of them.
    pub lines: Vec<LogLine>,
    pub searched: u64,
}

/// Where a saved or opened log was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SavedLog {
    pub path: String,
    pub lines: u64,
}

/// Most match numbers one search returns (the count is always exact).
pub const MATCHES_LISTED: usize = 100_000;
/// Most error lines the error filter returns.
pub const ERRORS_LISTED: usize = 10_000;
/// Most lines one page holds.
pub const PAGE_LINES_MAX: u64 = 2_000;
