//! Replaces secret values by `***` in every line before it reaches a log.

/// The secret values of one job.
#[derive(Clone, Default)]
pub(crate) struct SecretMask {
    /// Longest first, so a secret containing another is masked whole.
    values: Vec<String>,
}

impl SecretMask {
    /// Masks each of `secrets`. A multi-line value is masked line by line,
    /// since logs are matched one line at a time.
    pub(crate) fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut values: Vec<String> = secrets
            .into_iter()
            .flat_map(|secret| secret.lines())
            .map(|piece| piece.trim_end_matches('\r'))
            .filter(|piece| !piece.is_empty())
            .map(str::to_string)
            .collect();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        SecretMask { values }
    }

    /// A log line with every secret masked — also a secret a terminal would
    /// show although the raw bytes split it (escape codes inside it, or a
    /// carriage-return rewrite that assembles it): then the line is stored as
    /// the masked text a terminal shows, since its raw form cannot be masked.
    pub(crate) fn apply_line(&self, line: &str) -> String {
        let masked = self.apply(line);
        if self.values.is_empty() || !(line.contains('\x1b') || line.contains('\r')) {
            return masked;
        }
        // What a terminal would show of the masked line, if it still shows a secret.
        let shown = as_terminal_shows(&masked);
        let shown_masked = self.apply(&shown);
        if shown_masked != shown {
            shown_masked
        } else {
            masked
        }
    }

    /// `text` with every secret value replaced by `***`.
    pub(crate) fn apply(&self, text: &str) -> String {
        let mut masked = text.to_string();
        for value in &self.values {
            if masked.contains(value.as_str()) {
                masked = masked.replace(value.as_str(), "***");
            }
        }
        masked
    }

    /// The byte length of the longest secret (0 without secrets).
    pub(crate) fn longest(&self) -> usize {
        self.values.first().map_or(0, String::len)
    }
}

/// What a terminal shows for one line: escape sequences dropped, and each
/// carriage return rewriting the line from its start.
fn as_terminal_shows(line: &str) -> String {
    let mut shown: Vec<char> = Vec::new();
    let mut column = 0;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                // CSI (`ESC [ … final`) or a two-character escape.
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for next in chars.by_ref() {
                        if ('@'..='~').contains(&next) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => column = 0,
            _ => {
                if column < shown.len() {
                    shown[column] = c;
                } else {
                    shown.push(c);
                }
                column += 1;
            }
        }
    }
    shown.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_split_by_escape_codes_or_assembled_by_a_carriage_return_is_masked() {
        let mask = SecretMask::new(["hunter2"]);
        assert_eq!(mask.apply_line("token hun\x1b[0mter2 ok"), "token *** ok");
        assert_eq!(mask.apply_line("xxxter2\rhun"), "***");
        assert_eq!(
            mask.apply_line("\x1b[32mgreen\x1b[0m hunter2"),
            "\x1b[32mgreen\x1b[0m ***",
            "colours stay when the raw line masks cleanly"
        );
    }

    #[test]
    fn every_occurrence_of_every_secret_is_masked() {
        let mask = SecretMask::new(["hunter2", "s3cr3t"]);
        assert_eq!(
            mask.apply("a hunter2 b s3cr3t c hunter2"),
            "a *** b *** c ***"
        );
    }

    #[test]
    fn longer_secret_containing_a_shorter_one_is_masked_whole() {
        let mask = SecretMask::new(["abc", "abcdef"]);
        assert_eq!(mask.apply("xabcdefx"), "x***x");
    }

    #[test]
    fn empty_secrets_mask_nothing_and_multi_line_secrets_mask_each_line() {
        let mask = SecretMask::new(["", "line-one\nline-two"]);
        assert_eq!(mask.apply("plain"), "plain");
        assert_eq!(mask.apply("line-two"), "***");
    }
}
