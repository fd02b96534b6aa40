//! Run logs: one file per part of a run under the app data dir, a line index
//! beside it, and live followers (the stage window, over a Tauri channel).
//!
//! The file holds the lines exactly as the build runner wrote them (secrets
//! already masked by it); what followers receive is those same lines, in
//! batches: one about every animation frame, never one message per line, and
//! none larger than [`BATCH_BYTES`]. When a build prints more than that in a
//! frame, the batch holds the newest lines (what a following view shows) and
//! the count of error lines so far; the lines in between are in the stored
//! log, read in pages when the user scrolls back. So a window never falls behind a fast
//! build, and what it costs does not grow with the printing rate. A line
//! reaches followers only once it is on disk.

mod index;
pub mod read;
mod saved;
pub mod text;
pub mod view;

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stageline_engine::ports::{LogSink, Logs};
use stageline_engine::{PartKind, RunId};

pub use saved::{open_in_editor, save, saved_name};

use index::{Extent, Record};
use text::{classify, plain_text, LineKind};
use view::{LineMark, LogFeed, LogLines, LogStart};

/// How often new lines go out: about one batch per animation frame.
const BATCH_INTERVAL: Duration = Duration::from_millis(16);
/// Most text one batch holds (at least one line): more than a screen shows,
/// and small enough that the message is evaluated in the page at once rather
/// than fetched (Tauri sends JSON under 8 KiB that way).
const BATCH_BYTES: usize = 5 * 1024;

type Key = (RunId, PartKind);
/// Gets each message; returns false once nobody listens any more.
type Follower = Arc<dyn Fn(&LogFeed) -> bool + Send + Sync>;

/// A part whose log is being written now.
struct Writing {
    log: BufWriter<File>,
    index: BufWriter<File>,
    /// Everything handed to the writers.
    written: Extent,
    /// What is on disk and was handed to followers.
    sent: Extent,
    /// The newest lines written since the last batch (at most [`BATCH_BYTES`]
    /// of them, with their time and kind), the number of the first, their size.
    pending: VecDeque<(String, Option<i64>, Option<LineKind>)>,
    pending_first: u64,
    pending_bytes: usize,
    /// How many written lines report an error, and how many of those sent.
    errors: u64,
    errors_sent: u64,
    followers: Vec<(u64, Follower)>,
    ended: bool,
}

impl Writing {
    fn flush(&mut self) {
        let _ = self.log.flush();
        let _ = self.index.flush();
    }
}

#[derive(Default)]
struct Live {
    writing: HashMap<Key, Writing>,
    /// Finished logs whose index was checked, with their extent.
    finished: HashMap<Key, Extent>,
    next_follower: u64,
    batcher_running: bool,
}

struct Shared {
    live: Mutex<Live>,
    /// Wakes the batcher: a part opened, ended, or has a full batch.
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Log files and their live followers.
#[derive(Clone)]
pub struct FileLogs {
    dir: PathBuf,
    shared: Arc<Shared>,
}

/// Where one part's log is and how much of it can be read now.
pub struct LogFiles {
    pub(crate) log: PathBuf,
    pub(crate) index: PathBuf,
    pub(crate) extent: Extent,
    pub live: bool,
}

impl LogFiles {
    /// How many lines can be read now.
    pub fn lines(&self) -> u64 {
        self.extent.lines
    }
}

impl FileLogs {
    pub fn new(dir: PathBuf) -> Self {
        let _ = std::fs::create_dir_all(&dir);
        FileLogs {
            dir,
            shared: Arc::new(Shared {
                live: Mutex::default(),
                wake: Condvar::new(),
            }),
        }
    }

    fn paths(&self, run: RunId, part: PartKind) -> (PathBuf, PathBuf) {
        let log = log_path(&self.dir, run, part);
        let index = index_path(&log);
        (log, index)
    }

    /// The part's files and how much of them is complete: while the part
    /// runs, what followers were sent; else the whole log (its index checked
    /// once, and rebuilt for logs written before there was one).
    pub fn files(&self, run: RunId, part: PartKind) -> std::io::Result<LogFiles> {
        let (log, index) = self.paths(run, part);
        let mut live = self.shared.lock();
        let key = (run, part);
        let (extent, is_live) = if let Some(writing) = live.writing.get(&key) {
            // An ended part's lines are all on disk, even before the last batch is sent.
            (
                if writing.ended {
                    writing.written
                } else {
                    writing.sent
                },
                true,
            )
        } else if let Some(extent) = live.finished.get(&key) {
            (*extent, false)
        } else if !log.exists() {
            (Extent::default(), false)
        } else {
            let extent = index::repair(&log, &index, false)?;
            live.finished.insert(key, extent);
            (extent, false)
        };
        Ok(LogFiles {
            log,
            index,
            extent,
            live: is_live,
        })
    }

    /// How many lines the part has logged so far (read them in pages); while
    /// the part is still being written, `follower` then gets every later line
    /// in batches, and a last message when it ends (until it returns false).
    pub fn follow(
        &self,
        run: RunId,
        part: PartKind,
        follower: impl Fn(&LogFeed) -> bool + Send + Sync + 'static,
    ) -> std::io::Result<LogStart> {
        {
            let mut live = self.shared.lock();
            live.next_follower += 1;
            let id = live.next_follower;
            if let Some(writing) = live.writing.get_mut(&(run, part)) {
                if writing.ended {
                    // Everything is on disk already; nothing more will come.
                    return Ok(LogStart {
                        lines: writing.written.lines,
                        live: false,
                        follower: None,
                        errors: writing.errors,
                    });
                }
                writing.followers.push((id, Arc::new(follower)));
                return Ok(LogStart {
                    lines: writing.sent.lines,
                    live: true,
                    follower: Some(id),
                    errors: writing.errors_sent,
                });
            }
        }
        let files = self.files(run, part)?;
        Ok(LogStart {
            lines: files.lines(),
            live: false,
            follower: None,
            errors: index::count_errors(&files.index, files.lines())?,
        })
    }

    /// Stops sending to a follower (its view closed before the part ended).
    pub fn unfollow(&self, follower: u64) {
        let mut live = self.shared.lock();
        for writing in live.writing.values_mut() {
            writing.followers.retain(|(id, _)| *id != follower);
        }
    }

    fn start_batcher(&self, live: &mut Live) {
        if live.batcher_running {
            return;
        }
        live.batcher_running = true;
        let shared = self.shared.clone();
        let started = std::thread::Builder::new()
            .name("log-batches".into())
            .spawn(move || send_batches(shared));
        if started.is_err() {
            live.batcher_running = false;
        }
    }
}

fn log_path(dir: &Path, run: RunId, part: PartKind) -> PathBuf {
    dir.join(format!("{run}-{}.log", part.as_str()))
}

fn index_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".idx");
    PathBuf::from(name)
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What one round of the batcher hands to one part's followers.
struct Delivery {
    key: Key,
    batch: Option<LogLines>,
    errors: u64,
    ended: Option<u64>,
    followers: Vec<(u64, Follower)>,
}

/// The batcher: every [`BATCH_INTERVAL`] (or at once when a part ended) it
/// flushes the parts with new lines and sends them. It is the only sender,
/// so every follower gets its messages in order; it sends outside the lock,
/// so writers never wait for the window.
fn send_batches(shared: Arc<Shared>) {
    loop {
        let deliveries = {
            let mut live = shared.lock();
            let urgent = |live: &Live| live.writing.values().any(|w| w.ended);
            if live.writing.is_empty() {
                let (guard, _) = shared
                    .wake
                    .wait_timeout(live, Duration::from_secs(1))
                    .unwrap_or_else(|e| e.into_inner());
                live = guard;
                if live.writing.is_empty() {
                    if Arc::strong_count(&shared) == 1 {
                        return; // the logs are gone
                    }
                    continue;
                }
            } else if !urgent(&live) {
                let (guard, _) = shared
                    .wake
                    .wait_timeout(live, BATCH_INTERVAL)
                    .unwrap_or_else(|e| e.into_inner());
                live = guard;
            }
            take_deliveries(&mut live)
        };
        let mut gone = Vec::new();
        for delivery in deliveries {
            let mut listening = vec![true; delivery.followers.len()];
            if let Some(batch) = delivery.batch {
                let feed = LogFeed::Lines {
                    batch,
                    errors: delivery.errors,
                };
                for ((_, follower), listens) in delivery.followers.iter().zip(&mut listening) {
                    *listens = follower(&feed);
                }
            }
            if let Some(lines) = delivery.ended {
                let feed = LogFeed::Ended {
                    lines,
                    errors: delivery.errors,
                };
                for (_, follower) in &delivery.followers {
                    follower(&feed);
                }
            } else {
                for ((id, _), listens) in delivery.followers.iter().zip(listening) {
                    if !listens {
                        gone.push((delivery.key, *id));
                    }
                }
            }
        }
        if !gone.is_empty() {
            let mut live = shared.lock();
            for (key, id) in gone {
                if let Some(writing) = live.writing.get_mut(&key) {
                    writing.followers.retain(|(other, _)| *other != id);
                }
            }
        }
    }
}

fn take_deliveries(live: &mut Live) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    let mut ended = Vec::new();
    for (key, writing) in live.writing.iter_mut() {
        if writing.pending.is_empty() && !writing.ended {
            continue;
        }
        writing.flush();
        let mut batch = LogLines {
            first: writing.pending_first,
            ..LogLines::default()
        };
        for (i, (line, at, kind)) in std::mem::take(&mut writing.pending).into_iter().enumerate() {
            if let Some(kind) = kind {
                batch.marks.push(LineMark {
                    line: batch.first + i as u64,
                    kind,
                });
            }
            batch.lines.push(line);
            batch.times.push(at);
        }
        writing.errors_sent = writing.errors;
        writing.pending_first = writing.written.lines;
        writing.pending_bytes = 0;
        writing.sent = writing.written;
        if writing.ended {
            ended.push(*key);
        }
        if writing.followers.is_empty() {
            continue;
        }
        deliveries.push(Delivery {
            key: *key,
            batch: (!batch.lines.is_empty()).then_some(batch),
            errors: writing.errors_sent,
            ended: writing.ended.then_some(writing.sent.lines),
            followers: writing.followers.clone(),
        });
    }
    for key in ended {
        if let Some(writing) = live.writing.remove(&key) {
            live.finished.insert(key, writing.sent);
        }
    }
    deliveries
}

/// One part's log while it runs; dropping it (the part ended) sends the
/// last batch and lets the followers go.
struct FileSink {
    key: Key,
    shared: Arc<Shared>,
}

impl LogSink for FileSink {
    fn line(&self, text: &str) {
        for piece in text.split('\n') {
            // Judged before taking the lock, so writers of other parts never wait on it.
            let kind = classify(&plain_text(piece));
            let at = now_millis();
            let mut live = self.shared.lock();
            let Some(writing) = live.writing.get_mut(&self.key) else {
                return;
            };
            let record = Record {
                offset: writing.written.bytes,
                at,
                kind,
            };
            let _ = writing
                .log
                .write_all(piece.as_bytes())
                .and_then(|()| writing.log.write_all(b"\n"));
            let _ = writing.index.write_all(&record.encode());
            writing.written.lines += 1;
            writing.written.bytes += piece.len() as u64 + 1;
            writing
                .pending
                .push_back((piece.to_string(), Some(at), kind));
            if kind == Some(LineKind::Error) {
                writing.errors += 1;
            }
            writing.pending_bytes += piece.len() + 1;
            // Past a batch's size, the oldest pending lines stay on disk only.
            while writing.pending_bytes > BATCH_BYTES && writing.pending.len() > 1 {
                if let Some((dropped, _, _)) = writing.pending.pop_front() {
                    writing.pending_bytes -= dropped.len() + 1;
                    writing.pending_first += 1;
                }
            }
        }
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        let mut live = self.shared.lock();
        if let Some(writing) = live.writing.get_mut(&self.key) {
            // On disk at once (the part's end is recorded next); sent by the batcher.
            writing.flush();
            writing.ended = true;
            self.shared.wake.notify_one();
        }
    }
}

impl Logs for FileLogs {
    fn open(&self, run: RunId, part: PartKind) -> Arc<dyn LogSink> {
        let key = (run, part);
        let (log_path, index_path) = self.paths(run, part);
        let mut live = self.shared.lock();
        live.finished.remove(&key);
        if let Some(writing) = live.writing.get_mut(&key) {
            writing.ended = false; // opened again before its end was sent
        } else {
            let extent = index::repair(&log_path, &index_path, true).unwrap_or_default();
            let errors = index::count_errors(&index_path, extent.lines).unwrap_or(0);
            let append = |path: &Path| OpenOptions::new().create(true).append(true).open(path);
            if let (Ok(log), Ok(index)) = (append(&log_path), append(&index_path)) {
                live.writing.insert(
                    key,
                    Writing {
                        log: BufWriter::with_capacity(64 * 1024, log),
                        index: BufWriter::with_capacity(16 * 1024, index),
                        written: extent,
                        sent: extent,
                        pending: VecDeque::new(),
                        pending_first: extent.lines,
                        pending_bytes: 0,
                        errors,
                        errors_sent: errors,
                        followers: Vec::new(),
                        ended: false,
                    },
                );
            }
        }
        self.start_batcher(&mut live);
        self.shared.wake.notify_one();
        Arc::new(FileSink {
            key,
            shared: self.shared.clone(),
        })
    }

    fn text(&self, run: RunId, part: PartKind, max_bytes: usize) -> Option<String> {
        let (log_path, _) = self.paths(run, part);
        if let Some(writing) = self.shared.lock().writing.get_mut(&(run, part)) {
            writing.flush();
        }
        let mut file = std::fs::File::open(&log_path).ok()?;
        let length = file.metadata().ok()?.len();
        // Only the end is read: a log of any size costs `max_bytes` here.
        let from = length.saturating_sub(max_bytes as u64);
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(from)).ok()?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).ok()?;
        let text = String::from_utf8_lossy(&bytes);
        Some(stageline_engine::ports::last_bytes(&text, max_bytes, from))
    }
}

#[cfg(test)]
mod tests;
