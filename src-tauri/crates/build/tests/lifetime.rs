//! Output streams as it is written; a part's processes end with the part,
//! on timeout and when the run is cancelled — in the sandbox (its own PID
//! namespace) and without it (bash's process group).

mod support;

use std::time::Duration;

use stageline_build::BuildspecRunner;
use stageline_engine::domain::PartKind;
use stageline_engine::ports::{BuildJob, Builder};
use support::{
    all_gone, checkout_with_build, job, job_without_sandbox, started, unique_sleep, RecordingSink,
};

/// A guard against a hung test, not a performance figure.
const PATIENCE: Duration = Duration::from_secs(60);

/// Both ways a part runs: in the sandbox, and for a stage set to run without it.
fn both_ways(dir: &std::path::Path) -> [BuildJob; 2] {
    [
        job(dir, PartKind::Build),
        job_without_sandbox(dir, PartKind::Build),
    ]
}

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
    for mut job in both_ways(std::path::Path::new("/")) {
        let marker = unique_sleep(30);
        let dir = checkout_with_build(&format!(
            "version: 0.2
phases:
  build:
    commands:
      - sleep {marker} & wait
"
        ));
        job.workdir = dir.path().to_path_buf();
        let runner = BuildspecRunner::new(Duration::from_secs(4));
        let sink = RecordingSink::new();
        let result = runner.run(job, sink.clone()).await;
        assert_eq!(
            result.unwrap_err().message,
            "build.yml: timed out after 4 seconds; Stageline stopped it and every process it started"
        );
        assert!(
            all_gone(&marker).await,
            "sleep {marker} outlived the timeout"
        );
        assert!(sink
            .lines()
            .iter()
            .any(|line| line.starts_with("[Container] Timed out after 4 seconds")));
    }
}

#[tokio::test]
async fn dropping_the_run_kills_every_process_it_started() {
    for mut job in both_ways(std::path::Path::new("/")) {
        let marker = unique_sleep(300);
        let dir = checkout_with_build(&format!(
            "version: 0.2
phases:
  build:
    commands:
      - sleep {marker} & wait
"
        ));
        job.workdir = dir.path().to_path_buf();
        let run = BuildspecRunner::default().run(job, RecordingSink::new());
        let task = tokio::spawn(run);
        started(&marker).await;

        // The engine aborts the task: the future is dropped mid-command.
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(all_gone(&marker).await, "sleep {marker} outlived the run");
    }
}

#[tokio::test]
async fn background_processes_left_by_commands_end_with_the_part() {
    for mut job in both_ways(std::path::Path::new("/")) {
        let sandboxed = job.sandboxed;
        let marker = unique_sleep(300);
        let dir = checkout_with_build(&format!(
            "version: 0.2
phases:
  build:
    commands:
      - sleep {marker} > /dev/null 2>&1 &
"
        ));
        job.workdir = dir.path().to_path_buf();
        BuildspecRunner::default()
            .run(job, RecordingSink::new())
            .await
            .unwrap();
        assert!(
            all_gone(&marker).await,
            "sleep {marker} outlived the part (sandboxed: {sandboxed})"
        );
    }
}
