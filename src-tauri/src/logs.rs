//! Run logs: one file per part of a run under the app data dir, streamed
//! line by line to whoever watches (the stage window, over a Tauri channel).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use stageline_engine::ports::{LogSink, Logs};
use stageline_engine::{PartKind, RunId};

type Listener = Arc<dyn Fn(&str) -> bool + Send + Sync>;
type Key = (RunId, PartKind);

/// Log files and their live listeners.
#[derive(Clone)]
pub struct FileLogs {
    dir: PathBuf,
    listeners: Arc<Mutex<HashMap<Key, Vec<Listener>>>>,
}

impl FileLogs {
    pub fn new(dir: PathBuf) -> Self {
        let _ = std::fs::create_dir_all(&dir);
        FileLogs {
            dir,
            listeners: Arc::default(),
        }
    }

    fn path(&self, run: RunId, part: PartKind) -> PathBuf {
        log_path(&self.dir, run, part)
    }

    /// What the part has logged so far.
    pub fn read(&self, run: RunId, part: PartKind) -> String {
        std::fs::read_to_string(self.path(run, part)).unwrap_or_default()
    }

    /// Calls `listener` with every new line of the part (until it returns false),
    /// and returns what was logged before.
    pub fn follow(
        &self,
        run: RunId,
        part: PartKind,
        listener: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> String {
        let mut listeners = self.listeners.lock().unwrap();
        listeners
            .entry((run, part))
            .or_default()
            .push(Arc::new(listener));
        self.read(run, part)
    }
}

fn log_path(dir: &Path, run: RunId, part: PartKind) -> PathBuf {
    dir.join(format!("{run}-{}.log", part.as_str()))
}

struct FileSink {
    key: Key,
    file: Mutex<Option<std::fs::File>>,
    listeners: Arc<Mutex<HashMap<Key, Vec<Listener>>>>,
}

impl LogSink for FileSink {
    fn line(&self, text: &str) {
        if let Some(file) = self.file.lock().unwrap().as_mut() {
            let _ = writeln!(file, "{text}");
        }
        let mut listeners = self.listeners.lock().unwrap();
        if let Some(list) = listeners.get_mut(&self.key) {
            list.retain(|listener| listener(text));
        }
    }
}

impl Logs for FileLogs {
    fn open(&self, run: RunId, part: PartKind) -> Arc<dyn LogSink> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(run, part))
            .ok();
        Arc::new(FileSink {
            key: (run, part),
            file: Mutex::new(file),
            listeners: self.listeners.clone(),
        })
    }
}
