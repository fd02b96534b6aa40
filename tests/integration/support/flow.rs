//! Waiting on the engine's state in cross-crate tests.

use std::time::Duration;

use stageline_engine::flow::FlowState;
use stageline_engine::flow::Input;
use stageline_engine::pipeline::Pipeline;
use stageline_engine::testing::test_stack;
use stageline_engine::{Account, RunStatus, Stack, StackId, StageId};

/// Waits until `check` holds (a bound for a hung test, not a speed check).
pub async fn wait_for(
    pipeline: &Pipeline,
    what: &str,
    seconds: u64,
    check: impl Fn(&FlowState) -> bool + Send + Sync + Clone + 'static,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        let check = check.clone();
        if pipeline.read(move |s| check(s)).await.unwrap_or(false) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = pipeline
        .read(|s| format!("{:#?}", s.dashboard()))
        .await
        .unwrap_or_default();
    panic!("timed out waiting until {what}; state: {state}");
}

/// The sha the named stage of `stack` runs now.
pub fn deployed_sha(s: &FlowState, stack: StackId, name: &str) -> Option<String> {
    let stage = s
        .stages_of(stack)
        .into_iter()
        .find(|st| st.settings.name == name)?;
    s.flow(stage.id)
        .deployed
        .and_then(|r| s.release(r))
        .map(|r| r.commit.sha.clone())
}

/// The status of the named stage's newest run.
pub fn latest_status(s: &FlowState, stack: StackId, name: &str) -> Option<RunStatus> {
    let stage = s
        .stages_of(stack)
        .into_iter()
        .find(|st| st.settings.name == name)?;
    s.latest_run(stage.id).map(|r| r.status)
}

/// Saves `account` and a stack `name` (id 2) on the repository at `repo`;
/// returns the stack and its `dev` stage. Its branch is not watched: a test
/// sets its stages up, then starts the watch (`Input::WatchBranch`) or gives
/// the commits itself.
pub async fn stack_on(
    pipeline: &Pipeline,
    account: Account,
    name: &str,
    repo: &std::path::Path,
) -> (Stack, StageId) {
    let mut stack = test_stack(2, name, account.id);
    stack.repository = repo.display().to_string();
    pipeline.send(Input::PutAccount(account)).await.unwrap();
    pipeline
        .send(Input::CreateStack {
            stack: stack.clone(),
            first_region: "us-east-1".into(),
            watch: false,
        })
        .await
        .unwrap();
    let dev = pipeline
        .read(|s| s.flow_of(StackId(2))[0].id)
        .await
        .unwrap();
    (stack, dev)
}
