//! What the integration tests share: a recording log sink, jobs in temp
//! checkouts, and process checks through /proc.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stageline_build::BuildspecRunner;
use stageline_engine::domain::PartKind;
use stageline_engine::error::PortError;
use stageline_engine::ports::{BuildJob, Builder, LogSink, ResolvedVar};
use tokio::sync::mpsc;

/// Keeps every line, and forwards each one as it arrives.
pub struct RecordingSink {
    lines: Mutex<Vec<String>>,
    arrivals: Option<mpsc::UnboundedSender<String>>,
}

impl RecordingSink {
    pub fn new() -> Arc<Self> {
        Arc::new(RecordingSink {
            lines: Mutex::new(Vec::new()),
            arrivals: None,
        })
    }

    /// A sink and the receiving end of its arrivals.
    pub fn with_arrivals() -> (Arc<Self>, mpsc::UnboundedReceiver<String>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let sink = Arc::new(RecordingSink {
            lines: Mutex::new(Vec::new()),
            arrivals: Some(sender),
        });
        (sink, receiver)
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl LogSink for RecordingSink {
    fn line(&self, text: &str) {
        self.lines.lock().unwrap().push(text.to_string());
        if let Some(arrivals) = &self.arrivals {
            let _ = arrivals.send(text.to_string());
        }
    }
}

/// A temp checkout holding `build.yml`.
pub fn checkout_with_build(yaml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("build.yml"), yaml).unwrap();
    dir
}

/// A job for `part` in `dir`, without variables, in the sandbox.
pub fn job(dir: &Path, part: PartKind) -> BuildJob {
    BuildJob {
        workdir: dir.to_path_buf(),
        part,
        env: Vec::new(),
        injected: Vec::new(),
        sandboxed: true,
    }
}

/// The same job for a stage set to run without the sandbox.
pub fn job_without_sandbox(dir: &Path, part: PartKind) -> BuildJob {
    BuildJob {
        sandboxed: false,
        ..job(dir, part)
    }
}

pub fn var(name: &str, value: &str, secret: bool) -> ResolvedVar {
    ResolvedVar {
        name: name.into(),
        value: value.into(),
        secret,
    }
}

/// Runs `build.yml` of a fresh checkout with the default runner.
pub async fn run_build(yaml: &str) -> (Result<(), PortError>, Vec<String>) {
    let dir = checkout_with_build(yaml);
    run_job(
        &BuildspecRunner::default(),
        job(dir.path(), PartKind::Build),
    )
    .await
}

pub async fn run_job(
    runner: &BuildspecRunner,
    job: BuildJob,
) -> (Result<(), PortError>, Vec<String>) {
    let sink = RecordingSink::new();
    let result = runner.run(job, sink.clone()).await;
    (result, sink.lines())
}

/// Position of the first line equal to `text`.
pub fn position(lines: &[String], text: &str) -> usize {
    lines
        .iter()
        .position(|line| line == text)
        .unwrap_or_else(|| panic!("no line {text:?} in {lines:#?}"))
}

/// A pid written by a command into `file`, waited for.
pub async fn read_pid(file: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(file) {
            if let Ok(pid) = text.trim().parse() {
                return pid;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `pid` is still a live process (a zombie has ended).
pub fn is_running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => process_state(&stat) != Some('Z'),
        Err(_) => false,
    }
}

/// Live processes whose process group is `pgid`.
pub fn live_group_members(pgid: i32) -> Vec<i32> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the command name: state, ppid, pgrp.
        let after_name = &stat[stat.rfind(')').map_or(0, |at| at + 1)..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        if fields.get(2).and_then(|pgrp| pgrp.parse::<i32>().ok()) == Some(pgid)
            && fields.first() != Some(&"Z")
        {
            members.push(pid);
        }
    }
    members
}

/// Waits until `pid` and its whole group are gone; false if they never go.
pub async fn gone_soon(pid: i32, pgid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !is_running(pid) && live_group_members(pgid).is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn process_state(stat: &str) -> Option<char> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().next()?.chars().next()
}

pub fn path_in(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// A `sleep` duration no other process on the machine has: its command line
/// finds it from outside the sandbox, whose process ids are its own.
pub fn unique_sleep(seconds: u32) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{seconds}.{:06}{:03}",
        nanos % 1_000_000,
        NEXT.fetch_add(1, Ordering::Relaxed) % 1000
    )
}

/// Live processes of this machine whose command line holds `marker`.
pub fn processes_with(marker: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        // Not the bash whose command text merely mentions it.
        if cmdline.starts_with("sleep ") && cmdline.contains(marker) && is_running(pid) {
            found.push(pid);
        }
    }
    found
}

/// Waits until a process with `marker` runs; its pid.
pub async fn started(marker: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(pid) = processes_with(marker).first() {
            return *pid;
        }
        assert!(Instant::now() < deadline, "sleep {marker} never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until no process with `marker` is left; false if one stays.
pub async fn all_gone(marker: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if processes_with(marker).is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
