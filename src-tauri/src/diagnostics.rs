//! The app's own diagnostic log: what it did and what went wrong, in
//! `<data dir>/diagnostics/stageline.log`, rotated by size so it never grows
//! without bound, for a user to attach to a bug report.
//!
//! It records names, ids, statuses and error messages — never a secret:
//! events carry keychain references, not values, and nothing here formats
//! an account's keys or a variable's value.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use stageline_engine::ports::Events;
use stageline_engine::PipelineEvent;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Where the log lives inside the data folder.
pub const DIAGNOSTICS_DIR: &str = "diagnostics";
/// The current file; older ones are `stageline.log.1` … `.N`.
pub const LOG_FILE: &str = "stageline.log";
/// A file is rotated when it passes this size.
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// How many rotated files are kept besides the current one.
const KEPT_FILES: usize = 4;

/// The log's path in a data folder.
pub fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DIAGNOSTICS_DIR).join(LOG_FILE)
}

/// Starts the log for this process: Stageline's own records from `info`,
/// every library's from `warn`; warnings also go to the terminal. Only the
/// first call in a process takes effect (the log is process-wide).
pub fn start(data_dir: &Path) -> io::Result<()> {
    let file = RotatingFile::open(&log_path(data_dir), MAX_FILE_BYTES, KEPT_FILES)?;
    let file = Arc::new(Mutex::new(file));
    let ours = Targets::new()
        .with_default(LevelFilter::WARN)
        .with_target("stageline", LevelFilter::INFO)
        .with_target("stageline_app", LevelFilter::INFO);
    let to_file = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(move || SharedFile(file.clone()))
        .with_filter(ours);
    let to_terminal = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(io::stderr)
        .with_filter(LevelFilter::WARN);
    // A second start (tests start several apps' logs in one process) keeps the first.
    let _ = tracing_subscriber::registry()
        .with(to_file)
        .with(to_terminal)
        .try_init();
    log_panics();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        os = std::env::consts::OS,
        data_dir = %data_dir.display(),
        "Stageline started"
    );
    Ok(())
}

/// A panic is written to the log before the default hook prints it.
fn log_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            tracing::error!(panic = %info, "Stageline stopped on an internal error");
            default(info);
        }));
    });
}

/// The engine's events, each also recorded in the diagnostic log.
pub struct Recorded(pub Arc<dyn Events>);

impl Events for Recorded {
    fn emit(&self, event: PipelineEvent) {
        record(&event);
        self.0.emit(event);
    }

    fn wants_dashboard(&self) -> bool {
        self.0.wants_dashboard()
    }

    fn dashboard(&self, update: stageline_engine::flow::DashboardUpdate) {
        self.0.dashboard(update);
    }
}

/// One line per pipeline event: which run, stage or approval, and its new
/// status. Only ids and statuses — an event holds no secret value, and the
/// log does not need more to follow what happened.
pub fn record(event: &PipelineEvent) {
    match event {
        PipelineEvent::ReleaseCreated { release } => {
            tracing::info!(release = %release.id, stack = %release.stack_id, commit = %release.commit.sha, "release created")
        }
        PipelineEvent::RunStarted { run } => {
            tracing::info!(run = %run.id, stage = %run.stage_id, release = %run.release_id, trigger = ?run.trigger, "run started")
        }
        PipelineEvent::PartChanged { run, part, status } => {
            let message = run
                .parts
                .iter()
                .find(|p| p.kind == *part)
                .and_then(|p| p.message.as_deref())
                .unwrap_or("");
            tracing::info!(run = %run.id, part = ?part, status = ?status, message, "part changed")
        }
        PipelineEvent::RunFinished { run } => {
            tracing::info!(run = %run.id, stage = %run.stage_id, status = ?run.status, "run finished")
        }
        PipelineEvent::ApprovalRequested { approval, .. } => {
            tracing::info!(approval = %approval.id, stage = %approval.stage_id, "approval requested")
        }
        PipelineEvent::ApprovalDecided { approval } => {
            tracing::info!(approval = %approval.id, status = ?approval.status, via = ?approval.decision.as_ref().map(|d| d.via), "approval decided")
        }
        PipelineEvent::ReleaseSuperseded {
            release_id,
            stage_id,
            by,
        } => {
            tracing::info!(release = %release_id, stage = %stage_id, by = %by, "release superseded")
        }
        PipelineEvent::ReleaseQueued {
            release_id,
            stage_id,
        } => tracing::info!(release = %release_id, stage = %stage_id, "release queued"),
        PipelineEvent::StageChanged { stage } => {
            tracing::info!(stage = %stage.id, stack = %stage.stack_id, lifecycle = ?stage.lifecycle, "stage changed")
        }
        PipelineEvent::StageRemoved { stack_id, stage_id } => {
            tracing::info!(stage = %stage_id, stack = %stack_id, "stage removed")
        }
        PipelineEvent::StackChanged { stack_id } => {
            tracing::info!(stack = %stack_id, "stack changed")
        }
        PipelineEvent::FreezeChanged {
            stack_id,
            stage_id,
            freeze,
        } => {
            tracing::info!(stack = %stack_id, stage = ?stage_id, frozen = freeze.is_some(), "freeze changed")
        }
        PipelineEvent::ServiceChanged { stage_id, .. } => {
            tracing::info!(stage = %stage_id, "service changed")
        }
        PipelineEvent::StackWarning { stack_id, message } => match message {
            Some(message) => tracing::warn!(stack = %stack_id, message, "stack warning"),
            None => tracing::info!(stack = %stack_id, "stack warning cleared"),
        },
    }
}

/// The log file, shared by every thread that writes a record.
struct SharedFile(Arc<Mutex<RotatingFile>>);

impl Write for SharedFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut file = self.0.lock().unwrap_or_else(|e| e.into_inner());
        file.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut file = self.0.lock().unwrap_or_else(|e| e.into_inner());
        file.flush()
    }
}

/// A file that moves itself aside to `.1` (and `.1` to `.2`…, dropping the
/// oldest) once it passes `max_bytes`. Records are whole lines, so a
/// rotation never splits one.
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
    kept: usize,
}

impl RotatingFile {
    /// Opens `path` for appending (creating its folder).
    pub fn open(path: &Path, max_bytes: u64, kept: usize) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = append(path)?;
        let written = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            file,
            written,
            max_bytes,
            kept,
        })
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let _ = std::fs::remove_file(self.rotated(self.kept));
        for n in (1..self.kept).rev() {
            let _ = std::fs::rename(self.rotated(n), self.rotated(n + 1));
        }
        std::fs::rename(&self.path, self.rotated(1))?;
        self.file = append(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

fn append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        // Owner-only, like the rest of the data folder's private files.
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

impl Write for RotatingFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.written > 0 && self.written + bytes.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let n = self.file.write(bytes)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_moves_aside_and_the_oldest_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d").join("stageline.log");
        let mut file = RotatingFile::open(&path, 100, 2).unwrap();
        for n in 0..10 {
            // tracing writes each record with one call, as here; 40 bytes a line.
            file.write_all(format!("{n:039}\n").as_bytes()).unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap();
        let first = std::fs::read_to_string(dir.path().join("d/stageline.log.1")).unwrap();
        let second = std::fs::read_to_string(dir.path().join("d/stageline.log.2")).unwrap();
        assert!(
            !dir.path().join("d/stageline.log.3").exists(),
            "only two kept"
        );
        assert!(current.len() <= 100 && first.len() <= 100 && second.len() <= 100);
        assert!(
            current.ends_with(&format!("{:039}\n", 9)),
            "newest is current"
        );
        assert!(
            first.lines().all(|l| l.len() == 39),
            "lines are never split"
        );
        assert_eq!(
            second.lines().count() + first.lines().count() + current.lines().count(),
            6
        );
    }

    #[test]
    fn a_reopened_log_appends_and_counts_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stageline.log");
        std::fs::write(&path, "x".repeat(90)).unwrap();
        let mut file = RotatingFile::open(&path, 100, 2).unwrap();
        file.write_all(format!("{:019}\n", 0).as_bytes()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "0".repeat(19) + "\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("stageline.log.1")).unwrap(),
            "x".repeat(90)
        );
    }
}
