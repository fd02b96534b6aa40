//! A stage's log as a terminal prints it (the app's and the offline reader's).

use stageline_engine::{PartKind, PartStatus, Run, RunId};

use crate::logs::read::page;
use crate::logs::text::plain_text;
use crate::logs::FileLogs;

/// The part to show: the one asked for, else the run's last part that started.
pub fn part_to_show(run: &Run, asked: Option<PartKind>) -> PartKind {
    asked.unwrap_or_else(|| {
        run.parts
            .iter()
            .rev()
            .find(|p| !matches!(p.status, PartStatus::Pending))
            .map_or(PartKind::Build, |p| p.kind)
    })
}

/// Lines `from..to` of the part's log, as a terminal shows them (escape
/// codes and carriage-return rewrites applied; secrets were masked when stored).
pub fn lines_of(logs: &FileLogs, run: RunId, part: PartKind, from: u64, to: u64) -> Vec<String> {
    let Ok(files) = logs.files(run, part) else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    let mut next = from;
    while next < to.min(files.lines()) {
        let Ok(read) = page(&files, next, to - next) else {
            break;
        };
        if read.lines.is_empty() {
            break;
        }
        next += read.lines.len() as u64;
        lines.extend(read.lines.iter().map(|line| plain_text(line)));
    }
    lines
}
