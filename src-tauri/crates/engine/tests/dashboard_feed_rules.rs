//! The dashboard's feed (issue "One application layer": events carry
//! state): after transitions the dashboard gets the views of the stacks that
//! changed and every stack's order, gathered into a few updates, instead of
//! reloading every stack after each event.

use std::collections::BTreeSet;
use std::sync::Arc;

use stageline_engine::flow::{FlowState, Input};
use stageline_engine::pipeline::{Pipeline, Ports, DASHBOARD_EVERY};
use stageline_engine::testing::*;
use stageline_engine::*;

async fn start(fakes: &Fakes, dashboard: &Arc<RecordingDashboard>) -> Pipeline {
    let ports = Ports {
        events: dashboard.clone(),
        ..fakes.ports()
    };
    let pipeline = Pipeline::start(ports, test_config()).await.unwrap();
    pipeline
        .send(Input::PutAccount(test_account(1)))
        .await
        .unwrap();
    for (id, name) in [(2, "shop"), (3, "blog")] {
        pipeline
            .send(Input::CreateStack {
                stack: test_stack(id, name, AccountId(1)),
                first_region: "us-east-1".into(),
                watch: true,
            })
            .await
            .unwrap();
    }
    pipeline
}

#[tokio::test]
async fn a_commits_runs_reach_the_dashboard_as_its_stacks_view_in_a_few_updates() {
    let fakes = Fakes::default();
    let dashboard = Arc::new(RecordingDashboard::default());
    let pipeline = start(&fakes, &dashboard).await;
    tokio::time::sleep(DASHBOARD_EVERY * 3).await;
    let before = dashboard.updates().len();
    let events_before = dashboard.events.all().len();

    fakes.source.set_head(StackId(2), commit(1));
    pipeline
        .send(Input::CommitDetected {
            stack_id: StackId(2),
            head: commit(1),
            included: vec![],
            forced: false,
        })
        .await
        .unwrap();
    wait_until(&pipeline, "dev runs commit 1", |s: &FlowState| {
        s.stages_of(StackId(2))
            .first()
            .is_some_and(|stage| s.flow(stage.id).deployed.is_some())
    })
    .await;
    tokio::time::sleep(DASHBOARD_EVERY * 3).await;

    let updates = dashboard.updates()[before..].to_vec();
    let events = dashboard.events.all().len() - events_before;
    assert!(!updates.is_empty(), "the dashboard heard of the commit");
    assert!(
        updates.len() < events,
        "{} updates for {events} events: gathered, not one per event",
        updates.len()
    );
    for update in &updates {
        assert_eq!(
            update.order,
            vec![StackId(3), StackId(2)],
            "by name: blog, shop"
        );
        assert!(
            update.stacks.iter().all(|view| view.stack.id == StackId(2)),
            "only the stack that changed is sent"
        );
    }
    let last = updates.last().unwrap();
    let dev = &last.stacks[0].stages[0];
    assert_eq!(
        dev.deployed.as_ref().map(|r| r.commit.sha.clone()),
        Some(commit(1).sha),
        "the last update shows what the dashboard would load"
    );
    let loaded = pipeline.read(|s| s.dashboard()).await.unwrap();
    assert_eq!(
        &last.stacks[0],
        loaded.iter().find(|v| v.stack.id == StackId(2)).unwrap()
    );
}

#[tokio::test]
async fn an_update_carries_only_the_changed_stacks_and_every_stacks_place() {
    let fakes = Fakes::default();
    let dashboard = Arc::new(RecordingDashboard::default());
    let pipeline = start(&fakes, &dashboard).await;
    let update = pipeline
        .read(|s| s.dashboard_update(&BTreeSet::from([StackId(3), StackId(99)])))
        .await
        .unwrap();
    assert_eq!(update.order, vec![StackId(3), StackId(2)]);
    assert_eq!(
        update.stacks.len(),
        1,
        "a stack that does not exist is left out"
    );
    assert_eq!(update.stacks[0].stack.name, "blog");
}
