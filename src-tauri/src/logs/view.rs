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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LineMark {
    pub line: u64,
    pub kind: LineKind,
}

/// One message on a followed log's channel.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(export)]
pub enum LogFeed {
    /// New lines, in order, continuing what was sent before.
    Lines(LogLines),
    /// The part ended: its log has this many lines and will not grow.
    Ended { lines: u64 },
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
