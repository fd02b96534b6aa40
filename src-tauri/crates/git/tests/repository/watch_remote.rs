//! The watcher on a remote repository (fetched on its poll interval), here a
//! bare repository over `file://` pushed to from a second clone.

use std::time::Duration;

use stageline_engine::StackId;
use stageline_git::{ReleaseWatcher, WatchEvent};
use tempfile::TempDir;
use tokio::sync::mpsc;

use crate::support::{isolate, new_head, next_event, stays_quiet, target, Remote};

#[tokio::test]
async fn a_push_to_the_remote_is_noticed_within_its_poll_interval() {
    isolate();
    let cache = TempDir::new().unwrap();
    let remote = Remote::new();
    let (tx, mut events) = mpsc::channel(16);
    let _watch = ReleaseWatcher::spawn(
        target(
            &remote.url,
            "main",
            Some(remote.pusher.head()),
            cache.path(),
        ),
        tx,
    );
    assert!(stays_quiet(&mut events, Duration::from_millis(1500)).await);

    let pushed = remote.pusher.commit("pushed");
    remote.pusher.git(&["push", "-q", "origin", "main"]);

    let (head, message, included, forced) = new_head(next_event(&mut events).await);
    assert_eq!(head, pushed);
    assert_eq!(message, "pushed");
    assert!(included.is_empty());
    assert!(!forced);
}

#[tokio::test]
async fn three_commits_pushed_at_once_make_one_event() {
    isolate();
    let cache = TempDir::new().unwrap();
    let remote = Remote::new();
    let (tx, mut events) = mpsc::channel(16);
    let _watch = ReleaseWatcher::spawn(
        target(
            &remote.url,
            "main",
            Some(remote.pusher.head()),
            cache.path(),
        ),
        tx,
    );

    let one = remote.pusher.commit("one");
    let two = remote.pusher.commit("two");
    let three = remote.pusher.commit("three");
    remote.pusher.git(&["push", "-q", "origin", "main"]);

    let (head, _, included, forced) = new_head(next_event(&mut events).await);
    assert_eq!(head, three);
    assert_eq!(
        included,
        [two, one],
        "the others, newest first, without the head"
    );
    assert!(!forced);
    assert!(
        stays_quiet(&mut events, Duration::from_millis(2500)).await,
        "one event for the push"
    );
}

#[tokio::test]
async fn a_force_push_is_flagged() {
    isolate();
    let cache = TempDir::new().unwrap();
    let remote = Remote::new();
    let base = remote.pusher.head();
    let released = remote.pusher.commit("to be rewritten");
    remote.pusher.git(&["push", "-q", "origin", "main"]);
    let (tx, mut events) = mpsc::channel(16);
    let _watch = ReleaseWatcher::spawn(
        target(&remote.url, "main", Some(released), cache.path()),
        tx,
    );
    assert!(stays_quiet(&mut events, Duration::from_millis(1500)).await);

    remote.pusher.git(&["reset", "-q", "--hard", &base]);
    remote.pusher.commit("rewritten one");
    let rewritten = remote.pusher.commit("rewritten two");
    remote
        .pusher
        .git(&["push", "-q", "--force", "origin", "main"]);

    let (head, _, included, forced) = new_head(next_event(&mut events).await);
    assert_eq!(head, rewritten);
    assert!(forced);
    assert!(included.is_empty());
}

#[tokio::test]
async fn an_unreachable_remote_warns_then_recovery_clears_the_warning() {
    isolate();
    let cache = TempDir::new().unwrap();
    let remote = Remote::new();
    let (tx, mut events) = mpsc::channel(16);
    let _watch = ReleaseWatcher::spawn(
        target(
            &remote.url,
            "main",
            Some(remote.pusher.head()),
            cache.path(),
        ),
        tx,
    );
    assert!(stays_quiet(&mut events, Duration::from_millis(1500)).await);

    let moved = remote.bare.with_extension("moved");
    std::fs::rename(&remote.bare, &moved).unwrap();
    match next_event(&mut events).await {
        WatchEvent::Warning {
            stack_id,
            message: Some(message),
        } => {
            assert_eq!(stack_id, StackId(7));
            assert!(
                message.starts_with("Cannot fetch from file://"),
                "{message}"
            );
            assert!(!message.contains("class="), "no debug text: {message}");
        }
        other => panic!("expected a warning, got {other:?}"),
    }

    std::fs::rename(&moved, &remote.bare).unwrap();
    assert_eq!(
        next_event(&mut events).await,
        WatchEvent::Warning {
            stack_id: StackId(7),
            message: None
        }
    );
    assert!(
        stays_quiet(&mut events, Duration::from_millis(1500)).await,
        "one warning, one clear"
    );
}

#[tokio::test]
async fn a_branch_deleted_on_the_remote_shows_a_warning() {
    isolate();
    let cache = TempDir::new().unwrap();
    let remote = Remote::new();
    remote.pusher.git(&["push", "-q", "origin", "main:release"]);
    let (tx, mut events) = mpsc::channel(16);
    let _watch = ReleaseWatcher::spawn(
        target(
            &remote.url,
            "release",
            Some(remote.pusher.head()),
            cache.path(),
        ),
        tx,
    );
    assert!(stays_quiet(&mut events, Duration::from_millis(1500)).await);

    remote
        .pusher
        .git(&["push", "-q", "origin", "--delete", "release"]);

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
}

#[tokio::test]
async fn the_watcher_and_the_source_share_one_mirror() {
    isolate();
    let cache = TempDir::new().unwrap();
    let remote = Remote::new();
    let source = stageline_git::GitSource::without_credentials(cache.path().to_path_buf());
    let stack = crate::support::stack(5, &remote.url, "main");
    let (tx, mut events) = mpsc::channel(16);

    let _watch = source.watch_events(&stack, None, tx);
    let (reported, _, _, _) = new_head(next_event(&mut events).await);
    let head = stageline_engine::ports::Source::head(&source, &stack)
        .await
        .unwrap();

    assert_eq!(reported, head.sha);
    assert_eq!(
        std::fs::read_dir(cache.path()).unwrap().count(),
        1,
        "one mirror for the stack"
    );
}
