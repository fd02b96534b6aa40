//! The watcher on a local repository (file-system notifications).

use std::time::Duration;

use stageline_git::{ReleaseWatcher, WatchEvent};
use tempfile::TempDir;
use tokio::sync::mpsc;

use crate::support::{isolate, new_head, next_event, stays_quiet, target, WorkRepo};

fn local_repo() -> (TempDir, WorkRepo) {
    isolate();
    let tmp = TempDir::new().unwrap();
    let repo = WorkRepo::init(&tmp.path().join("app"));
    (tmp, repo)
}

#[tokio::test]
async fn a_new_stack_gets_its_current_head_reported_once() {
    let (tmp, repo) = local_repo();
    let (tx, mut events) = mpsc::channel(16);

    let _watch = ReleaseWatcher::spawn(
        target(repo.dir.to_str().unwrap(), "main", None, tmp.path()),
        tx,
    );

    let (sha, message, included, forced) = new_head(next_event(&mut events).await);
    assert_eq!(sha, repo.head());
    assert_eq!(message, "first commit");
    assert!(included.is_empty());
    assert!(!forced);
    assert!(stays_quiet(&mut events, Duration::from_millis(1500)).await);
}

#[tokio::test]
async fn a_local_commit_is_noticed() {
    let (tmp, repo) = local_repo();
    let (tx, mut events) = mpsc::channel(16);
    let _watch = ReleaseWatcher::spawn(
        target(
            repo.dir.to_str().unwrap(),
            "main",
            Some(repo.head()),
            tmp.path(),
        ),
        tx,
    );
    // Let the watch start, so the commit below is a change it sees happen.
    assert!(stays_quiet(&mut events, Duration::from_millis(300)).await);

    let sha = repo.commit("second commit");

    let (head, message, included, forced) = new_head(next_event(&mut events).await);
    assert_eq!(head, sha);
    assert_eq!(message, "second commit");
    assert!(included.is_empty(), "the previous head is not included");
    assert!(!forced);
}

#[tokio::test]
async fn commits_made_while_the_app_was_closed_are_reported_at_start() {
    let (tmp, repo) = local_repo();
    let last_release = repo.head();
    let second = repo.commit("second");
    let third = repo.commit("third");
    let (tx, mut events) = mpsc::channel(16);

    let _watch = ReleaseWatcher::spawn(
        target(
            repo.dir.to_str().unwrap(),
            "main",
            Some(last_release),
            tmp.path(),
        ),
        tx,
    );

    let (head, _, included, forced) = new_head(next_event(&mut events).await);
    assert_eq!(head, third);
    assert_eq!(included, [second]);
    assert!(!forced);
}

#[tokio::test]
async fn commits_landing_together_locally_make_one_event() {
    let (tmp, repo) = local_repo();
    let (tx, mut events) = mpsc::channel(16);
    let _watch = ReleaseWatcher::spawn(
        target(
            repo.dir.to_str().unwrap(),
            "main",
            Some(repo.head()),
            tmp.path(),
        ),
        tx,
    );
    repo.git(&["checkout", "-q", "-b", "side"]);
    let one = repo.commit("one");
    let two = repo.commit("two");
    let three = repo.commit("three");
    repo.git(&["checkout", "-q", "main"]);
    assert!(
        stays_quiet(&mut events, Duration::from_millis(500)).await,
        "another branch moved, not main"
    );

    repo.git(&["merge", "-q", "--ff-only", "side"]);

    let (head, _, included, forced) = new_head(next_event(&mut events).await);
    assert_eq!(head, three);
    assert_eq!(included, [two, one]);
    assert!(!forced);
    assert!(stays_quiet(&mut events, Duration::from_millis(1500)).await);
}

#[tokio::test]
async fn a_reset_branch_is_reported_as_forced() {
    let (tmp, repo) = local_repo();
    let base = repo.head();
    let released = repo.commit("to be rewritten");
    let (tx, mut events) = mpsc::channel(16);
    let _watch = ReleaseWatcher::spawn(
        target(
            repo.dir.to_str().unwrap(),
            "main",
            Some(released),
            tmp.path(),
        ),
        tx,
    );
    assert!(stays_quiet(&mut events, Duration::from_millis(300)).await);

    repo.git(&["reset", "-q", "--hard", &base]);
    let rewritten = repo.commit("rewritten");

    // The reset itself may be seen first (a move back, also forced); the rewrite follows.
    let mut last = new_head(next_event(&mut events).await);
    if last.0 != rewritten {
        assert!(last.3, "moving back is forced");
        last = new_head(next_event(&mut events).await);
    }
    let (head, _, included, forced) = last;
    assert_eq!(head, rewritten);
    assert!(forced);
    assert!(included.is_empty());
}

#[tokio::test]
async fn a_deleted_branch_shows_a_warning_until_it_is_back() {
    let (tmp, repo) = local_repo();
    repo.git(&["branch", "release"]);
    let (tx, mut events) = mpsc::channel(16);
    let _watch = ReleaseWatcher::spawn(
        target(
            repo.dir.to_str().unwrap(),
            "release",
            Some(repo.head()),
            tmp.path(),
        ),
        tx,
    );
    assert!(stays_quiet(&mut events, Duration::from_millis(300)).await);

    repo.git(&["branch", "-D", "release"]);
    match next_event(&mut events).await {
        WatchEvent::Warning {
            message: Some(message),
            ..
        } => {
            assert!(
                message.contains("Branch \"release\" does not exist"),
                "{message}"
            );
        }
        other => panic!("expected a warning, got {other:?}"),
    }

    repo.git(&["branch", "release"]);
    assert_eq!(
        next_event(&mut events).await,
        WatchEvent::Warning {
            stack_id: stageline_engine::StackId(7),
            message: None
        }
    );
}

#[tokio::test]
async fn dropping_the_handle_stops_the_watch() {
    let (tmp, repo) = local_repo();
    let (tx, mut events) = mpsc::channel(16);
    let watch = ReleaseWatcher::spawn(
        target(repo.dir.to_str().unwrap(), "main", None, tmp.path()),
        tx,
    );
    next_event(&mut events).await;

    watch.stop();

    let closed = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap();
    assert!(closed.is_none(), "the watcher let go of its sender");
}

#[tokio::test]
async fn the_source_port_reports_new_heads_as_engine_inputs_until_unwatched() {
    use stageline_engine::flow::Input;
    use stageline_engine::ports::Source;

    let (tmp, repo) = local_repo();
    let source = stageline_git::GitSource::without_credentials(tmp.path().join("mirrors"));
    let stack = crate::support::stack(6, repo.dir.to_str().unwrap(), "main");
    let (tx, mut inputs) = mpsc::unbounded_channel::<Input>();
    let sink: stageline_engine::ports::InputSink = std::sync::Arc::new(move |input| {
        let _ = tx.send(input);
    });

    source.watch(&stack, None, sink);
    let first = tokio::time::timeout(Duration::from_secs(10), inputs.recv())
        .await
        .expect("the head is reported")
        .unwrap();
    let Input::CommitDetected { stack_id, head, .. } = first else {
        panic!("a commit is detected, not {first:?}");
    };
    assert_eq!((stack_id, head.sha), (stack.id, repo.head()));

    source.unwatch(stack.id);
    repo.commit("after the watch stopped");
    let quiet = tokio::time::timeout(Duration::from_millis(1500), inputs.recv()).await;
    assert!(
        matches!(quiet, Err(_) | Ok(None)),
        "an unwatched branch reports nothing"
    );
}
