//! Each part's private checkout: made fresh per attempt, removed when the
//! part ends (on the blocking pool), and leftovers of an earlier process
//! swept once per workspaces folder.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::flow::PartContext;
use crate::pipeline::{PipelineConfig, Ports};
use crate::ports::{CheckoutOptions, LogSink};

/// A part's private checkout, removed when the part ends (also when it is
/// cancelled) unless checkouts are kept for debugging. Removing a large tree
/// takes seconds, so it happens on the blocking pool, never on the runtime's
/// threads.
pub(super) struct Workspace {
    pub(super) dir: PathBuf,
    keep: bool,
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if !self.keep {
            remove_in_background(std::mem::take(&mut self.dir));
        }
    }
}

/// Removes `dir` off the async runtime's threads (inline only when no runtime
/// runs, as at exit).
fn remove_in_background(dir: PathBuf) {
    let remove = move || {
        let _ = std::fs::remove_dir_all(&dir);
        live_workspaces()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&dir);
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn_blocking(remove);
        }
        Err(_) => remove(),
    }
}

/// The workspaces this process has made and not yet removed.
fn live_workspaces() -> &'static Mutex<HashSet<PathBuf>> {
    static LIVE: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

/// Leftovers of an earlier process (a part that was running when it stopped)
/// are removed once per workspaces folder, in the background; this process's
/// own workspaces are never touched.
fn sweep_once(workspaces: &Path) {
    static SWEPT: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    let mut swept = SWEPT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if !swept.insert(workspaces.to_path_buf()) {
        return;
    }
    let workspaces = workspaces.to_path_buf();
    let sweep = move || {
        let Ok(entries) = std::fs::read_dir(&workspaces) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let live = live_workspaces()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&path);
            if !live {
                let _ = std::fs::remove_dir_all(path);
            }
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn_blocking(sweep);
        }
        Err(_) => sweep(),
    }
}

pub(super) async fn checkout(
    name: String,
    context: &PartContext,
    ports: &Ports,
    config: &PipelineConfig,
    log: &Arc<dyn LogSink>,
) -> Result<Workspace, String> {
    if !config.keep_workspaces {
        sweep_once(&config.workspaces);
    }
    // A fresh name per attempt: a cancelled attempt's folder may still be
    // being removed in the background when the part runs again.
    let dir = config
        .workspaces
        .join(format!("{name}-{}", ports.clock.new_id()));
    live_workspaces()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(dir.clone());
    let workspace = Workspace {
        dir: dir.clone(),
        keep: config.keep_workspaces,
    };
    let commit = &context.release.commit;
    log.line(&format!(
        "Checking out {} ({})",
        commit.short_sha(),
        commit.message
    ));
    let options = CheckoutOptions {
        submodules_and_lfs: context.stage.settings.submodules_and_lfs,
    };
    let report = ports
        .source
        .checkout(&context.stack, &commit.sha, dir, options)
        .await
        .map_err(|e| e.message)?;
    log.line(&format!(
        "Checked out {} in {:.2} s: {} written.",
        commit.short_sha(),
        report.elapsed.as_secs_f64(),
        count_of_files(report.files)
    ));
    for detail in &report.details {
        log.line(detail);
    }
    Ok(workspace)
}

/// "1 file", "20,000 files".
fn count_of_files(files: u64) -> String {
    let digits = files.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let noun = if files == 1 { "file" } else { "files" };
    format!("{grouped} {noun}")
}

#[cfg(test)]
mod tests {
    use super::count_of_files;

    #[test]
    fn file_counts_read_as_a_person_writes_them() {
        assert_eq!(count_of_files(0), "0 files");
        assert_eq!(count_of_files(1), "1 file");
        assert_eq!(count_of_files(999), "999 files");
        assert_eq!(count_of_files(20_000), "20,000 files");
        assert_eq!(count_of_files(1_234_567), "1,234,567 files");
    }
}
