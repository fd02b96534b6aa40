//! Issue 15 on the fakes: parts run in the sandbox unless their stage is set
//! to run without it, and each run records whose AWS rights its parts had.

mod common;

use common::*;
use stageline_engine::*;

#[tokio::test]
async fn parts_run_sandboxed_unless_their_stage_is_set_to_run_without_it() {
    let flow = Flow::new(&[]).await;
    let mut prod = settings("prod", false);
    prod.run_without_sandbox = true;
    let dev = flow.stage("dev").await;
    flow.create_stage(Some(dev), prod).await.unwrap();
    flow.commit(1).await;
    flow.wait_deployed("prod", 1).await;

    let calls = flow.fakes.builder.calls();
    assert!(calls.iter().any(|c| c.stage == "prod"), "{calls:?}");
    for call in &calls {
        assert_eq!(
            call.sandboxed,
            call.stage != "prod",
            "{:?} of {}",
            call.part,
            call.stage
        );
    }
}

#[tokio::test]
async fn a_run_records_whose_aws_rights_its_parts_had() {
    let flow = Flow::new(&[]).await;
    flow.commit(1).await;
    flow.wait_deployed("dev", 1).await;
    let run = flow.latest_run("dev").await.unwrap();
    assert_eq!(run.build_access, Some(BuildAccess::BuildRole));
}

#[tokio::test]
async fn settings_and_runs_written_before_issue_15_read_as_sandboxed_and_unknown() {
    let flow = Flow::new(&[]).await;
    flow.commit(1).await;
    flow.wait_deployed("dev", 1).await;
    let mut run = serde_json::to_value(flow.latest_run("dev").await.unwrap()).unwrap();
    run.as_object_mut().unwrap().remove("buildAccess");
    let read: Run = serde_json::from_value(run).unwrap();
    assert_eq!(read.build_access, None);

    let mut settings = serde_json::to_value(order::first_stage_settings("us-east-1")).unwrap();
    settings
        .as_object_mut()
        .unwrap()
        .remove("runWithoutSandbox");
    let read: StageSettings = serde_json::from_value(settings).unwrap();
    assert!(!read.run_without_sandbox);
}
