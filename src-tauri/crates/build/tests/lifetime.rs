//! Output streams as it is written; a part's processes end with the part,
//! on timeout and when the run is cancelled.

mod support;

use std::sync::Arc;
use std::time::Duration;

use stageline_build::BuildspecRunner;
use stageline_engine::domain::PartKind;
use stageline_engine::ports::Builder;
use support::{checkout_with_build, gone_soon, is_running, job, read_pid, RecordingSink};

/// A guard against a hung test, not a performance figure.
const PATIENCE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn output_lines_reach_the_sink_while_the_command_still_runs() {
    // The command prints a line, then waits for a file that the test creates
    // only after that line has reached the sink.
    let dir = checkout_with_build(
        "version: 0.2
phases:
  build:
    commands:
      - echo first; while [ ! -e go ]; do sleep 0.05; done; echo second
",
    );
    let (sink, mut arrivals) = RecordingSink::with_arrivals();
    let run = BuildspecRunner::default().run(job(dir.path(), PartKind::Build), sink.clone());
    let run = tokio::spawn(run);

    let first = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = arrivals.recv().await {
            if line == "first" {
                return true;
            }
            assert_ne!(line, "second", "second arrived before first");
        }
        false
    })
    .await
    .expect("first line never arrived");
    assert!(first);
    assert!(!sink.lines().contains(&"second".to_string()));

    std::fs::write(dir.path().join("go"), "").unwrap();
    tokio::time::timeout(PATIENCE, run)
        .await
        .expect("run never ended")
        .unwrap()
        .unwrap();
    let lines = sink.lines();
    assert!(lines.contains(&"second".to_string()));
}

#[tokio::test]
async fn timeout_fails_the_part_and_kills_its_processes() {
    let dir = checkout_with_build(
        "version: 0.2
phases:
  build:
    commands:
      - echo $$ > shell.pid; sleep 30 & echo $! > sleep.pid; wait
",
    );
    let runner = BuildspecRunner::new(Duration::from_secs(4));
    let sink = RecordingSink::new();
    let result = runner
        .run(job(dir.path(), PartKind::Build), sink.clone())
        .await;
    assert_eq!(
        result.unwrap_err().message,
        "build.yml: timed out after 4 seconds; Stageline stopped it and every process it started"
    );
    let shell = read_pid(&dir.path().join("shell.pid")).await;
    let sleep = read_pid(&dir.path().join("sleep.pid")).await;
    assert!(
        gone_soon(sleep, shell).await,
        "sleep {sleep} outlived the timeout"
    );
    assert!(sink
        .lines()
        .iter()
        .any(|line| line.starts_with("[Container] Timed out after 4 seconds")));
}

#[tokio::test]
async fn dropping_the_run_kills_every_process_it_started() {
    let dir = checkout_with_build(
        "version: 0.2
phases:
  build:
    commands:
      - echo $$ > shell.pid; sleep 300 & echo $! > sleep.pid; wait
",
    );
    let runner = BuildspecRunner::default();
    let run = runner.run(job(dir.path(), PartKind::Build), RecordingSink::new());
    let task = tokio::spawn(run);
    let shell = read_pid(&dir.path().join("shell.pid")).await;
    let sleep = read_pid(&dir.path().join("sleep.pid")).await;
    assert!(is_running(sleep));

    // The engine aborts the task: the future is dropped mid-command.
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert!(
        gone_soon(sleep, shell).await,
        "sleep {sleep} outlived the run"
    );
}

#[tokio::test]
async fn background_processes_left_by_commands_end_with_the_part() {
    let dir = checkout_with_build(
        "version: 0.2
phases:
  build:
    commands:
      - echo $$ > shell.pid; sleep 300 > /dev/null 2>&1 & echo $! > sleep.pid
",
    );
    let sink: Arc<RecordingSink> = RecordingSink::new();
    BuildspecRunner::default()
        .run(job(dir.path(), PartKind::Build), sink)
        .await
        .unwrap();
    let shell = read_pid(&dir.path().join("shell.pid")).await;
    let sleep = read_pid(&dir.path().join("sleep.pid")).await;
    assert!(
        gone_soon(sleep, shell).await,
        "sleep {sleep} outlived the part"
    );
}
