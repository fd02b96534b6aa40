//! What a stored log line looks like to a reader: the text a terminal would
//! show (ANSI styles dropped, carriage-return rewrites collapsed to their
//! last state), and whether the line reports an error.
//!
//! The stored log keeps the bytes the build printed; this plain form is what
//! a download, a search and the error filter see. The window renders the same
//! rules with colours (`ui/src/lib/logAnsi.ts`); both are checked against the
//! shared cases in `ui/src/lib/logText.cases.json`.

use serde::Serialize;
use ts_rs::TS;

/// What a line reports, when it stands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum LineKind {
    /// An error or a failure (the error filter shows these).
    Error,
    /// A success report (`…_COMPLETE`, `SUCCEEDED`).
    Success,
    /// A step of the build runner itself (`[Container] …`).
    Step,
}

impl LineKind {
    /// The byte stored in the line index.
    pub(crate) fn code(kind: Option<LineKind>) -> u8 {
        match kind {
            None => 0,
            Some(LineKind::Error) => 1,
            Some(LineKind::Success) => 2,
            Some(LineKind::Step) => 3,
        }
    }

    /// The kind a stored byte stands for.
    pub(crate) fn from_code(code: u8) -> Option<LineKind> {
        match code {
            1 => Some(LineKind::Error),
            2 => Some(LineKind::Success),
            3 => Some(LineKind::Step),
            _ => None,
        }
    }
}

/// The text a terminal shows for one line: escape sequences interpreted,
/// `\r` returning to the start of the line (later text overwrites earlier),
/// backspace stepping back, `ESC[K` erasing to the end of the line.
pub fn plain_text(line: &str) -> String {
    if !line.bytes().any(|b| b == 0x1b || b == b'\r' || b == 0x08) {
        return line.to_string();
    }
    let mut cells: Vec<char> = Vec::with_capacity(line.len());
    let mut cursor = 0usize;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => {
                    let mut params = String::new();
                    let mut last = None;
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            last = Some(c);
                            break;
                        }
                        params.push(c);
                    }
                    let n = |default: usize| params.parse::<usize>().unwrap_or(default);
                    match last {
                        Some('K') => match n(0) {
                            0 => cells.truncate(cursor),
                            1 => cells.iter_mut().take(cursor + 1).for_each(|c| *c = ' '),
                            _ => cells.clear(),
                        },
                        Some('G') => cursor = n(1).max(1) - 1,
                        Some('C') => cursor += n(1).max(1),
                        Some('D') => cursor = cursor.saturating_sub(n(1).max(1)),
                        _ => {}
                    }
                }
                Some(']') => {
                    // Operating system command (titles, links): up to BEL or ESC \.
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\r' => cursor = 0,
            '\u{8}' => cursor = cursor.saturating_sub(1),
            c if c != '\t' && c.is_control() => {}
            c => {
                if cursor < cells.len() {
                    cells[cursor] = c;
                } else {
                    cells.resize(cursor, ' ');
                    cells.push(c);
                }
                cursor += 1;
            }
        }
    }
    cells.into_iter().collect()
}

/// Whether a line stands out, judged on its plain text.
pub fn classify(plain: &str) -> Option<LineKind> {
    // The runner echoes each command it runs: the command's words are not a report.
    if plain.starts_with("[Container] Running command ") {
        return Some(LineKind::Step);
    }
    let lower = plain.to_ascii_lowercase();
    if reports_error(&lower) {
        return Some(LineKind::Error);
    }
    if plain.starts_with("[Container] ") {
        return Some(LineKind::Step);
    }
    if plain.contains("_COMPLETE") || plain.contains("SUCCEEDED") {
        return Some(LineKind::Success);
    }
    None
}

/// Words build tools print when something went wrong; "0 errors" and
/// "0 failed" (test summaries) are not errors.
const ERROR_WORDS: &[&str] = &[
    "error",
    "errors",
    "err!",
    "fatal",
    "failed",
    "failure",
    "exception",
    "traceback",
    "panicked",
    "rollback",
    "denied",
];

/// Phrases that report a failure without one of the words.
const ERROR_PHRASES: &[&str] = &[
    "timed out",
    "did not exit successfully",
    "permission denied",
];

fn reports_error(lower: &str) -> bool {
    if ERROR_PHRASES.iter().any(|phrase| lower.contains(phrase)) {
        return true;
    }
    let mut previous = "";
    let in_word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '!' | '_' | '-');
    for word in lower.split(|c: char| !in_word(c)) {
        if word.is_empty() {
            continue;
        }
        let hit = ERROR_WORDS.contains(&word)
            || word.ends_with("_failed")
            || word.starts_with("rollback_")
            || word.contains("_rollback_")
            || word.starts_with("error")
                && word[5..].chars().all(|c| c.is_ascii_digit() || c == '!');
        if hit && previous != "0" && previous != "no" {
            return true;
        }
        previous = word;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        raw: String,
        plain: String,
    }

    /// The cases the window's renderer is tested against too.
    fn shared_cases() -> Vec<Case> {
        let text = include_str!("../../../ui/src/lib/logText.cases.json");
        serde_json::from_str(text).expect("the shared cases parse")
    }

    #[test]
    fn plain_text_matches_every_shared_case() {
        for case in shared_cases() {
            assert_eq!(plain_text(&case.raw), case.plain, "case: {}", case.name);
        }
    }

    #[test]
    fn error_lines_are_told_from_summaries_that_report_none() {
        for line in [
            "npm ERR! missing script: build",
            "error: could not compile `shop`",
            "src/main.rs:3:5: error[E0425]: cannot find value",
            "Traceback (most recent call last):",
            "[Container] Command did not exit successfully make exit status 2",
            "[Container] Phase complete: BUILD State: FAILED",
            "shop-dev UPDATE_ROLLBACK_IN_PROGRESS",
            "Service CREATE_FAILED: Resource handler returned message",
            "fatal: not a git repository",
        ] {
            assert_eq!(classify(line), Some(LineKind::Error), "{line}");
        }
        for line in [
            "Tests: 12 passed, 0 failed",
            "Compiled with no errors",
            "added 312 packages in 4s",
            "Building error-pages module",
        ] {
            assert_ne!(classify(line), Some(LineKind::Error), "{line}");
        }
        assert_eq!(
            classify("[Container] Entering phase BUILD"),
            Some(LineKind::Step)
        );
        assert_eq!(
            classify("[Container] Running command echo \"npm ERR! failed\" && exit 1"),
            Some(LineKind::Step),
            "a command echoed by the runner reports nothing yet"
        );
        assert_eq!(
            classify("shop-dev UPDATE_COMPLETE"),
            Some(LineKind::Success)
        );
    }

    #[test]
    fn kinds_survive_the_index_byte() {
        for kind in [
            None,
            Some(LineKind::Error),
            Some(LineKind::Success),
            Some(LineKind::Step),
        ] {
            assert_eq!(LineKind::from_code(LineKind::code(kind)), kind);
        }
    }
}
