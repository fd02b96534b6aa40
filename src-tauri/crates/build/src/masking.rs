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

#[cfg(test)]
mod tests {
    use super::*;

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
