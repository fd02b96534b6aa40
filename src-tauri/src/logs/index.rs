//! The line index beside each log file (`<log>.idx`): one fixed-size record
//! per line, so any page of a log of a million lines is two seeks away.
//!
//! A record is 16 bytes, little-endian: the line's byte offset in the log
//! (8), the time it was written in Unix milliseconds (6; 0 when unknown) and
//! its [`LineKind`] code (1), then one reserved byte. Logs written before
//! the index existed, or cut short by a crash, get their index (re)built
//! from the log when first read; their lines have no time.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::text::{classify, plain_text, LineKind};

pub(crate) const RECORD_BYTES: u64 = 16;

/// One line's place in its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    pub offset: u64,
    /// Unix milliseconds; 0 when the log predates the index.
    pub at: i64,
    pub kind: Option<LineKind>,
}

impl Record {
    pub(crate) fn encode(&self) -> [u8; RECORD_BYTES as usize] {
        let mut bytes = [0u8; RECORD_BYTES as usize];
        bytes[..8].copy_from_slice(&self.offset.to_le_bytes());
        bytes[8..14].copy_from_slice(&self.at.max(0).to_le_bytes()[..6]);
        bytes[14] = LineKind::code(self.kind);
        bytes
    }

    fn decode(bytes: &[u8]) -> Record {
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&bytes[..8]);
        let mut at = [0u8; 8];
        at[..6].copy_from_slice(&bytes[8..14]);
        Record {
            offset: u64::from_le_bytes(offset),
            at: i64::from_le_bytes(at),
            kind: LineKind::from_code(bytes[14]),
        }
    }
}

/// How much of a log is complete and indexed: its first `lines` lines,
/// which end at byte `bytes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Extent {
    pub lines: u64,
    pub bytes: u64,
}

/// Reads records `from..to`.
pub(crate) fn read_records(index: &Path, from: u64, to: u64) -> io::Result<Vec<Record>> {
    if to <= from {
        return Ok(Vec::new());
    }
    let mut file = File::open(index)?;
    file.seek(SeekFrom::Start(from * RECORD_BYTES))?;
    let mut bytes = vec![0u8; ((to - from) * RECORD_BYTES) as usize];
    file.read_exact(&mut bytes)?;
    Ok(bytes
        .chunks_exact(RECORD_BYTES as usize)
        .map(Record::decode)
        .collect())
}

/// How many of the first `lines` lines report an error (read from the index alone).
pub(crate) fn count_errors(index: &Path, lines: u64) -> io::Result<u64> {
    if lines == 0 {
        return Ok(0);
    }
    let mut reader = BufReader::with_capacity(1 << 16, File::open(index)?);
    let mut bytes = [0u8; RECORD_BYTES as usize];
    let mut errors = 0;
    for _ in 0..lines {
        reader.read_exact(&mut bytes)?;
        if LineKind::from_code(bytes[14]) == Some(LineKind::Error) {
            errors += 1;
        }
    }
    Ok(errors)
}

/// Makes the index cover every complete line of the log (adding records
/// for lines it lacks, dropping any it has beyond the log) and returns the
/// extent. With `terminate`, a last line without its line break (a crash
/// mid-write) gets one, so that appending goes on with a new line.
pub(crate) fn repair(log: &Path, index: &Path, terminate: bool) -> io::Result<Extent> {
    let log_len = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
    let mut index_file = OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(false)
        .open(index)?;
    let mut records = index_file.metadata()?.len() / RECORD_BYTES;
    // Trust the index up to its last record that starts inside the log.
    // (Its last record is written again, as its line may have been torn.)
    let mut start = 0u64;
    let mut kept_time = 0;
    while records > 0 {
        records -= 1;
        let last = read_records(index, records, records + 1)?[0];
        if last.offset < log_len {
            start = last.offset;
            kept_time = last.at;
            break;
        }
    }
    index_file.set_len(records * RECORD_BYTES)?;
    index_file.seek(SeekFrom::End(0))?;
    if log_len == 0 {
        return Ok(Extent::default());
    }

    let mut reader = BufReader::with_capacity(1 << 16, File::open(log)?);
    reader.seek(SeekFrom::Start(start))?;
    let mut writer = io::BufWriter::new(&mut index_file);
    let mut offset = start;
    let mut line = Vec::new();
    let mut ends_with_break = true;
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        ends_with_break = line.last() == Some(&b'\n');
        let text = String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(&line));
        let kind = classify(&plain_text(&text));
        let at = if offset == start { kept_time } else { 0 };
        writer.write_all(&Record { offset, at, kind }.encode())?;
        records += 1;
        offset += read as u64;
    }
    writer.flush()?;
    drop(writer);
    if !ends_with_break && terminate {
        OpenOptions::new()
            .append(true)
            .open(log)?
            .write_all(b"\n")?;
        offset += 1;
    }
    Ok(Extent {
        lines: records,
        bytes: offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_keeps_offset_time_and_kind() {
        let record = Record {
            offset: 5_000_000_123,
            at: 1_733_080_000_123,
            kind: Some(LineKind::Error),
        };
        assert_eq!(Record::decode(&record.encode()), record);
    }

    #[test]
    fn a_log_without_an_index_gets_one_and_a_torn_index_is_completed() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("1-build.log");
        let index = dir.path().join("1-build.log.idx");
        std::fs::write(&log, "one\nerror: two\nthree\n").unwrap();
        let extent = repair(&log, &index, false).unwrap();
        assert_eq!(
            extent,
            Extent {
                lines: 3,
                bytes: 21
            }
        );
        let records = read_records(&index, 0, 3).unwrap();
        assert_eq!(
            records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            [0, 4, 15]
        );
        assert_eq!(records[1].kind, Some(LineKind::Error));

        // A crash left the index one record short and half a record long.
        let file = OpenOptions::new().write(true).open(&index).unwrap();
        file.set_len(RECORD_BYTES + 7).unwrap();
        assert_eq!(repair(&log, &index, false).unwrap().lines, 3);
        assert_eq!(read_records(&index, 0, 3).unwrap(), records);
    }

    #[test]
    fn a_line_torn_by_a_crash_is_ended_before_appending_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("1-build.log");
        let index = dir.path().join("1-build.log.idx");
        std::fs::write(&log, "one\ntw").unwrap();
        let extent = repair(&log, &index, true).unwrap();
        assert_eq!(extent, Extent { lines: 2, bytes: 7 });
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntw\n");
    }
}
