//! Run logs: one file per part of a run under the app data dir, streamed
//! line by line to whoever watches (the stage window, over a Tauri channel).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use stageline_engine::ports::{LogSink, Logs};
use stageline_engine::{PartKind, RunId};

type Listener = Box<dyn Fn(&str) -> bool + Send + Sync>;
type Key = (RunId, PartKind);

/// The parts being written now, with who follows each.
#[derive(Default)]
struct Live {
    followers: HashMap<Key, Vec<Listener>>,
}

/// Log files and their live followers.
#[derive(Clone)]
pub struct FileLogs {
    dir: PathBuf,
    live: Arc<Mutex<Live>>,
}

impl FileLogs {
    pub fn new(dir: PathBuf) -> Self {
        let _ = std::fs::create_dir_all(&dir);
        FileLogs {
            dir,
            live: Arc::default(),
        }
    }

    fn path(&self, run: RunId, part: PartKind) -> PathBuf {
        log_path(&self.dir, run, part)
    }

    /// Returns what the part has logged so far; while the part is still being
    /// written, `listener` then gets every new line (until it returns false).
    /// Reading and subscribing happen under the writers' lock, so no line is
    /// lost or sent twice.
    pub fn follow(
        &self,
        run: RunId,
        part: PartKind,
        listener: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> String {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let text = std::fs::read_to_string(self.path(run, part)).unwrap_or_default();
        if let Some(followers) = live.followers.get_mut(&(run, part)) {
            followers.push(Box::new(listener));
        }
        text
    }
}

fn log_path(dir: &Path, run: RunId, part: PartKind) -> PathBuf {
    dir.join(format!("{run}-{}.log", part.as_str()))
}

/// One part's log while it runs; dropping it (the part ended) lets its followers go.
struct FileSink {
    key: Key,
    file: Mutex<Option<std::fs::File>>,
    live: Arc<Mutex<Live>>,
}

impl LogSink for FileSink {
    fn line(&self, text: &str) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = self.file.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            let _ = writeln!(file, "{text}");
        }
        if let Some(followers) = live.followers.get_mut(&self.key) {
            followers.retain(|follower| follower(text));
        }
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.followers.remove(&self.key);
    }
}

impl Logs for FileLogs {
    fn open(&self, run: RunId, part: PartKind) -> Arc<dyn LogSink> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(run, part))
            .ok();
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .followers
            .entry((run, part))
            .or_default();
        Arc::new(FileSink {
            key: (run, part),
            file: Mutex::new(file),
            live: self.live.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_follower_gets_the_log_so_far_then_each_new_line_until_the_part_ends() {
        let dir = tempfile::tempdir().unwrap();
        let logs = FileLogs::new(dir.path().to_path_buf());
        let sink = logs.open(RunId(1), PartKind::Build);
        sink.line("first");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = seen.clone();
        let before = logs.follow(RunId(1), PartKind::Build, move |line| {
            kept.lock().unwrap().push(line.to_string());
            true
        });
        assert_eq!(before, "first\n");
        sink.line("second");
        assert_eq!(*seen.lock().unwrap(), ["second"]);
        drop(sink);
        assert!(
            logs.live.lock().unwrap().followers.is_empty(),
            "followers go with the part"
        );
        // Following a finished part returns its log and keeps nobody waiting.
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let all = logs.follow(RunId(1), PartKind::Build, move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            true
        });
        assert_eq!(all, "first\nsecond\n");
        assert!(logs.live.lock().unwrap().followers.is_empty());
    }
}
