//! R2: the engine decides which stacks' branches are watched — from a
//! stack's creation (or when it is told, for one set up first), after every
//! start from the newest release, and never while the stack is deleted.

mod common;

use common::*;
use stageline_engine::flow::Input;
use stageline_engine::testing::*;

/// Waits until the stack's newest release is commit `n`.
async fn wait_newest_release(flow: &Flow, n: u32) {
    let (stack, sha) = (flow.stack, commit(n).sha);
    wait_until(&flow.pipeline, "the commit became a release", move |s| {
        s.newest_release_of(stack).map(|r| r.commit.sha.as_str()) == Some(sha.as_str())
    })
    .await;
}

#[tokio::test]
async fn a_new_stack_is_watched_from_its_creation_and_a_deleted_one_no_longer() {
    let flow = Flow::new(&[]).await;
    assert_eq!(
        flow.fakes.source.watched().get(&flow.stack),
        Some(&None),
        "watched, with no release seen yet"
    );

    flow.fakes.source.push(flow.stack, commit(1));
    wait_newest_release(&flow, 1).await;

    flow.delete_stack().await;
    assert!(flow.fakes.source.watched().is_empty());
}

#[tokio::test]
async fn a_stack_set_up_first_is_watched_only_when_told() {
    let flow = Flow::with_watch(&[], false).await;
    assert!(flow.fakes.source.watched().is_empty());

    let watch = Input::WatchBranch {
        stack_id: flow.stack,
    };
    flow.pipeline.send(watch).await.unwrap();
    assert_eq!(flow.fakes.source.watched().get(&flow.stack), Some(&None));
}

#[tokio::test]
async fn after_a_restart_each_stack_is_watched_from_its_newest_release() {
    let flow = Flow::new(&[]).await;
    flow.commit(1).await;
    let starts = flow.fakes.source.watch_starts();

    let flow = flow.restart().await;

    assert_eq!(flow.fakes.source.watch_starts(), starts + 1);
    assert_eq!(
        flow.fakes.source.watched().get(&flow.stack),
        Some(&Some(commit(1).sha))
    );
}

#[tokio::test]
async fn transitions_that_leave_the_branch_alone_do_not_restart_its_watch() {
    let flow = Flow::new(&[("prod", true)]).await;
    let starts = flow.fakes.source.watch_starts();

    flow.commit(1).await;
    flow.settle().await;

    assert_eq!(flow.fakes.source.watch_starts(), starts);
}
