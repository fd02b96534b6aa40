//! Commit → release latency for a local repository: a real commit (git CLI)
//! in a real repository, noticed by the branch watcher, turned into a release
//! by the engine and written to a real SQLite file. Median of 20.
//!     cargo bench -p stageline-integration --bench commit_to_release

use std::sync::Arc;
use std::time::{Duration, Instant};

use stageline_engine::flow::Input;
use stageline_engine::pipeline::Pipeline;
use stageline_engine::testing::*;
use stageline_engine::*;
use stageline_git::{GitSource, WatchEvent};
use stageline_integration::{commit_files, git, make_repo, stack_on};
use stageline_store::SqliteStore;
use tokio::sync::mpsc;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let repo = make_repo(dir.path(), &[("app.txt", "0")]);
        let fakes = Fakes::default();
        // Hold every build: only the release's creation is measured.
        fakes.builder.hold(PartKind::Build);
        let source = GitSource::without_credentials(dir.path().join("mirrors"));
        let mut ports = fakes.ports();
        ports.store = Arc::new(SqliteStore::open(&dir.path().join("stageline.db")).await.unwrap());
        let pipeline = Pipeline::start(ports, test_config()).await.unwrap();
        let (stack, _dev) = stack_on(&pipeline, test_account(1), "shop", &repo).await;
        let (events, mut received) = mpsc::channel(64);
        let _watch = source.watch_events(&stack, Some(git(&repo, &["rev-parse", "HEAD"])), events);
        tokio::time::sleep(Duration::from_millis(300)).await;

        let mut latencies = Vec::new();
        for n in 1..=20 {
            let started = Instant::now();
            let sha = commit_files(&repo, &[("app.txt", &n.to_string())], &format!("change {n}"));
            loop {
                let event = received.recv().await.unwrap();
                let is_ours = matches!(&event, WatchEvent::NewHead { head, .. } if head.sha == sha);
                pipeline.send(Input::from(event)).await.unwrap();
                if is_ours {
                    break;
                }
            }
            let created = pipeline.read(|s| s.newest_release_of(StackId(2)).map(|r| r.commit.sha.clone())).await.unwrap();
            assert_eq!(created, Some(sha));
            latencies.push(started.elapsed());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        latencies.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!("commit_to_release: local repository, 20 commits (git CLI) → watcher → engine → release in SQLite");
        println!("  min    {:>7.2} ms", ms(latencies[0]));
        println!("  median {:>7.2} ms   (target: within 500 ms)", ms(latencies[9]));
        println!("  max    {:>7.2} ms", ms(latencies[19]));
        println!("  (includes the `git commit` process itself)");
    });
}
