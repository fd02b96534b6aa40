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

/// One message on a followed log's channel (sent as bytes: [`LogFeed::encode`]).
#[derive(Debug, Clone, PartialEq)]
pub enum LogFeed {
    /// New lines, in order, continuing what was sent before.
    Lines(LogLines),
    /// The part ended: its log has this many lines and will not grow.
    Ended { lines: u64 },
}

/// The first line of a message on a followed log's channel. The message is
/// this header as JSON, a line break, then `count` lines each ended by a
/// line break: exactly the bytes those lines have in the stored log. When a
/// build printed more in a frame than one batch holds, `first` is past the
/// end of the previous batch: the lines between are read in pages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LogBatchHeader {
    /// The number of the first line.
    pub first: u64,
    pub count: u64,
    /// When the lines were written, as runs of lines with the same time.
    pub times: Vec<TimeRun>,
    /// The marks of every line written since the previous message (also of
    /// lines this one does not hold).
    pub marks: Vec<LineMark>,
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

impl LogFeed {
    /// The message as it crosses to the window (see [`LogBatchHeader`]):
    /// no JSON array of lines to build or parse, the text as stored.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            LogFeed::Lines(batch) => {
                let mut times: Vec<TimeRun> = Vec::new();
                for at in &batch.times {
                    match times.last_mut() {
                        Some(run) if run.at == *at => run.lines += 1,
                        _ => times.push(TimeRun { at: *at, lines: 1 }),
                    }
                }
                let header = LogBatchHeader {
                    first: batch.first,
                    count: batch.lines.len() as u64,
                    times,
                    marks: batch.marks.clone(),
                    ended: None,
                };
                let text: usize = batch.lines.iter().map(|line| line.len() + 1).sum();
                let mut bytes = serde_json::to_vec(&header).unwrap_or_default();
                bytes.reserve(text + 1);
                bytes.push(b'\n');
                for line in &batch.lines {
                    bytes.extend_from_slice(line.as_bytes());
                    bytes.push(b'\n');
                }
                bytes
            }
            LogFeed::Ended { lines } => {
                let header = LogBatchHeader {
                    first: *lines,
                    ended: Some(*lines),
                    ..LogBatchHeader::default()
                };
                let mut bytes = serde_json::to_vec(&header).unwrap_or_default();
                bytes.push(b'\n');
                bytes
            }
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
