//! Splits the shell's merged output into lines and finds the driver's
//! end-of-command markers in it.

/// What the shell's output says, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OutputEvent {
    /// One line of command output, without its line break.
    Line(String),
    /// The command being run ended with this exit code.
    CommandEnded(i32),
}

/// Longest line kept whole; longer output without a line break is cut into
/// pieces so that a command printing no newline still streams (and memory
/// stays bounded).
const MAX_LINE_BYTES: usize = 64 * 1024;

/// Turns chunks of bytes into [`OutputEvent`]s.
pub(crate) struct OutputSplitter {
    pending: Vec<u8>,
    token: Vec<u8>,
    /// Bytes held back when a long line is cut, so a marker (or a secret) is
    /// never split between two pieces.
    tail_kept: usize,
}

impl OutputSplitter {
    /// `token` is the driver's marker; `longest_secret` the byte length of the
    /// longest value to be masked.
    pub(crate) fn new(token: &str, longest_secret: usize) -> Self {
        OutputSplitter {
            pending: Vec::new(),
            token: token.as_bytes().to_vec(),
            tail_kept: token.len().max(longest_secret) + 16,
        }
    }

    /// Feeds bytes read from the shell; complete events are pushed to `out`.
    pub(crate) fn push(&mut self, bytes: &[u8], out: &mut Vec<OutputEvent>) {
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(offset) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + offset;
            self.line(start, end, out);
            start = end + 1;
        }
        self.pending.drain(..start);

        if self.pending.len() > MAX_LINE_BYTES + self.tail_kept {
            let mut cut = self.pending.len() - self.tail_kept;
            if let Some(marker) = find(&self.pending, &self.token) {
                cut = cut.min(marker);
            }
            if cut > 0 {
                out.push(OutputEvent::Line(text(&self.pending[..cut])));
                self.pending.drain(..cut);
            }
        }
    }

    /// What is left when the output ends: a last line without a line break.
    pub(crate) fn finish(&mut self, out: &mut Vec<OutputEvent>) {
        if !self.pending.is_empty() {
            let end = self.pending.len();
            self.line(0, end, out);
            self.pending.clear();
        }
    }

    fn line(&self, start: usize, end: usize, out: &mut Vec<OutputEvent>) {
        let line = &self.pending[start..end];
        if let Some(at) = find(line, &self.token) {
            let code = std::str::from_utf8(&line[at + self.token.len()..])
                .ok()
                .and_then(|rest| rest.trim().parse::<i32>().ok());
            if let Some(code) = code {
                // Output that did not end with a line break precedes the marker.
                if at > 0 {
                    out.push(OutputEvent::Line(text(&line[..at])));
                }
                out.push(OutputEvent::CommandEnded(code));
                return;
            }
        }
        out.push(OutputEvent::Line(text(line)));
    }
}

fn text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<OutputEvent> {
        let mut splitter = OutputSplitter::new("TOK", 0);
        let mut out = Vec::new();
        for chunk in chunks {
            splitter.push(chunk, &mut out);
        }
        splitter.finish(&mut out);
        out
    }

    fn line(text: &str) -> OutputEvent {
        OutputEvent::Line(text.into())
    }

    #[test]
    fn lines_split_across_chunks_are_joined() {
        assert_eq!(
            events(&[b"hel", b"lo\nwor", b"ld\r\nTOK 0\n"]),
            [line("hello"), line("world"), OutputEvent::CommandEnded(0)]
        );
    }

    #[test]
    fn output_without_line_break_before_marker_is_its_own_line() {
        assert_eq!(
            events(&[b"partialTOK 3\n"]),
            [line("partial"), OutputEvent::CommandEnded(3)]
        );
    }

    #[test]
    fn very_long_lines_are_cut_but_keep_the_marker_whole() {
        let mut splitter = OutputSplitter::new("TOK", 0);
        let mut out = Vec::new();
        splitter.push(&vec![b'x'; MAX_LINE_BYTES * 2], &mut out);
        splitter.push(b"TOK 1\n", &mut out);
        let total: usize = out
            .iter()
            .map(|event| match event {
                OutputEvent::Line(text) => text.len(),
                OutputEvent::CommandEnded(_) => 0,
            })
            .sum();
        assert_eq!(total, MAX_LINE_BYTES * 2);
        assert_eq!(out.last(), Some(&OutputEvent::CommandEnded(1)));
    }
}
