//! Reading a stored log: pages of lines, search, the error lines, and the
//! plain-text copy that is downloaded or opened in an editor.
//!
//! Everything here reads the stored file, which the build runner wrote with
//! secrets already masked, so no path shows more than the log holds.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::index::{read_records, RECORD_BYTES};
use super::text::{plain_text, LineKind};
use super::view::{
    LineMark, LogErrors, LogLine, LogLines, LogMatches, ERRORS_LISTED, MATCHES_LISTED,
    PAGE_LINES_MAX,
};
use super::LogFiles;

fn text_of(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

fn time_of(at: i64) -> Option<i64> {
    (at > 0).then_some(at)
}

/// Lines `from..from + count` (at most [`PAGE_LINES_MAX`], and only lines
/// that exist), as stored.
pub fn page(files: &LogFiles, from: u64, count: u64) -> io::Result<LogLines> {
    let total = files.extent.lines;
    let from = from.min(total);
    let to = from.saturating_add(count.min(PAGE_LINES_MAX)).min(total);
    let mut page = LogLines {
        first: from,
        ..LogLines::default()
    };
    if to == from {
        return Ok(page);
    }
    let records = read_records(&files.index, from, to)?;
    let end = if to < total {
        read_records(&files.index, to, to + 1)?[0].offset
    } else {
        files.extent.bytes
    };
    let start = records[0].offset;
    let mut bytes = vec![0u8; (end - start) as usize];
    let mut log = File::open(&files.log)?;
    log.seek(SeekFrom::Start(start))?;
    log.read_exact(&mut bytes)?;
    for (i, record) in records.iter().enumerate() {
        let line_end = records.get(i + 1).map_or(end, |next| next.offset);
        let slice = &bytes[(record.offset - start) as usize..(line_end - start) as usize];
        page.lines.push(text_of(slice));
        page.times.push(time_of(record.at));
        if let Some(kind) = record.kind {
            page.marks.push(LineMark {
                line: from + i as u64,
                kind,
            });
        }
    }
    Ok(page)
}

/// Calls `each` with every line (number, stored text, its index record's
/// kind and time) in order, reading the log and its index side by side.
fn each_line(
    files: &LogFiles,
    mut each: impl FnMut(u64, &str, Option<LineKind>, i64),
) -> io::Result<()> {
    if files.extent.lines == 0 {
        return Ok(());
    }
    let mut log =
        BufReader::with_capacity(1 << 16, File::open(&files.log)?).take(files.extent.bytes);
    let mut index = BufReader::with_capacity(1 << 14, File::open(&files.index)?);
    let mut line = Vec::new();
    let mut record = [0u8; RECORD_BYTES as usize];
    for number in 0..files.extent.lines {
        line.clear();
        if log.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        index.read_exact(&mut record)?;
        let mut at = [0u8; 8];
        at[..6].copy_from_slice(&record[8..14]);
        let text = String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(&line));
        each(
            number,
            &text,
            LineKind::from_code(record[14]),
            i64::from_le_bytes(at),
        );
    }
    Ok(())
}

/// The lines whose text, as a reader sees it, contains `query` (ignoring case).
pub fn find(files: &LogFiles, query: &str) -> io::Result<LogMatches> {
    let mut matches = LogMatches {
        searched: files.extent.lines,
        ..LogMatches::default()
    };
    let query = query.to_lowercase();
    if query.is_empty() {
        return Ok(matches);
    }
    each_line(files, |number, text, _, _| {
        if plain_text(text).to_lowercase().contains(&query) {
            matches.count += 1;
            if matches.lines.len() < MATCHES_LISTED {
                matches.lines.push(number);
            }
        }
    })?;
    Ok(matches)
}

/// The lines that report an error (the first [`ERRORS_LISTED`] with their text).
pub fn errors(files: &LogFiles, listed: usize) -> io::Result<LogErrors> {
    let listed = listed.min(ERRORS_LISTED);
    let mut found = LogErrors {
        searched: files.extent.lines,
        ..LogErrors::default()
    };
    each_line(files, |number, text, kind, at| {
        if kind == Some(LineKind::Error) {
            found.count += 1;
            if found.lines.len() < listed {
                found.lines.push(LogLine {
                    line: number,
                    text: text.to_string(),
                    at: time_of(at),
                    kind,
                });
            }
        }
    })?;
    Ok(found)
}

/// Writes the log as plain text (no ANSI codes, progress lines at their
/// last state) to `to`; returns how many lines it holds.
pub fn export(files: &LogFiles, to: &Path) -> io::Result<u64> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = to.with_extension("part");
    let mut out = BufWriter::new(File::create(&partial)?);
    let mut lines = 0;
    let mut failed = None;
    each_line(files, |_, text, _, _| {
        if failed.is_none() {
            lines += 1;
            if let Err(error) = writeln!(out, "{}", plain_text(text)) {
                failed = Some(error);
            }
        }
    })?;
    if let Some(error) = failed {
        return Err(error);
    }
    out.flush()?;
    drop(out);
    std::fs::rename(&partial, to)?;
    Ok(lines)
}
