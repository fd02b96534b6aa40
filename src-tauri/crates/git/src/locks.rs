//! Process-wide locks on folders: the watcher, a checkout and a refresh may
//! reach for one mirror or one commit's checkout at the same moment, and two
//! writers in one Git folder would fight over its lock files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Runs `work` while no other `exclusive` call on `folder` runs in this process.
pub(crate) fn exclusive<T>(folder: &Path, work: impl FnOnce() -> T) -> T {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let lock = {
        let mut locks = LOCKS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Arc::clone(locks.entry(folder.to_path_buf()).or_default())
    };
    let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
    work()
}
