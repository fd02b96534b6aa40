//! Commit → `NewHead` event latency of the watcher on a local repository (R2:
//! "a local repository is noticed within a second"; the target is 0.5 s).
//! Makes 20 commits with git2 and prints the median and max latency.
//!
//! Run: `cargo bench -p stageline-git --bench commit_latency`

use std::time::{Duration, Instant};

use git2::{Repository, RepositoryInitOptions, Signature};
use stageline_engine::StackId;
use stageline_git::{ReleaseWatcher, WatchEvent, WatchTarget};
use tokio::sync::mpsc;

const COMMITS: usize = 20;

fn main() {
    let home = tempfile::TempDir::new().expect("temp dir");
    // libgit2 reads the global config from HOME: never the real one.
    std::env::set_var("HOME", home.path());
    std::env::set_var("XDG_CONFIG_HOME", home.path().join(".config"));

    let repo_dir = home.path().join("app");
    let mut options = RepositoryInitOptions::new();
    options.initial_head("main");
    let repo = Repository::init_opts(&repo_dir, &options).expect("init repository");
    let first = commit(&repo, 0);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut latencies = runtime.block_on(async {
        let (tx, mut events) = mpsc::channel(64);
        let target = WatchTarget {
            stack_id: StackId(1),
            repository: repo_dir.to_string_lossy().into_owned(),
            branch: "main".into(),
            poll_interval: Duration::from_secs(30),
            last_seen_head: Some(first),
            credentials: Default::default(),
            cache_dir: home.path().join("cache"),
        };
        let _watch = ReleaseWatcher::spawn(target, tx);
        tokio::time::sleep(Duration::from_millis(300)).await;

        let mut latencies = Vec::with_capacity(COMMITS);
        for n in 1..=COMMITS {
            // From just before the commit call: an upper bound, as the ref is
            // written at its very end and the watcher may react before it returns.
            let started = Instant::now();
            let sha = commit(&repo, n);
            loop {
                let event = tokio::time::timeout(Duration::from_secs(15), events.recv())
                    .await
                    .expect("an event within 15 s")
                    .expect("the watcher runs");
                if let WatchEvent::NewHead { head, .. } = event {
                    if head.sha == sha {
                        latencies.push(started.elapsed());
                        break;
                    }
                }
            }
            // Commits a moment apart, as a person makes them.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        latencies
    });

    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = (latencies[COMMITS / 2 - 1] + latencies[COMMITS / 2]) / 2;
    println!("commit_latency: local repository, {COMMITS} commits made with git2, commit call start → NewHead event received");
    println!("  min    {:8.2} ms", ms(latencies[0]));
    println!("  median {:8.2} ms", ms(median));
    println!(
        "  max    {:8.2} ms   (target: < 500 ms)",
        ms(latencies[COMMITS - 1])
    );
}

/// Commits a file change to `main` with git2 (ref written through a lock file
/// and a rename, as the git CLI does) and returns the sha.
fn commit(repo: &Repository, n: usize) -> String {
    let signature = Signature::now("Bench", "bench@example.com").expect("signature");
    let blob = repo.blob(format!("change {n}\n").as_bytes()).expect("blob");
    let mut tree = repo.treebuilder(None).expect("tree builder");
    tree.insert("change.txt", blob, 0o100_644)
        .expect("tree entry");
    let tree = repo.find_tree(tree.write().expect("tree")).expect("tree");
    let parent = repo
        .find_reference("refs/heads/main")
        .ok()
        .and_then(|r| r.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let oid = repo
        .commit(
            Some("refs/heads/main"),
            &signature,
            &signature,
            &format!("change {n}"),
            &tree,
            &parents,
        )
        .expect("commit");
    oid.to_string()
}
