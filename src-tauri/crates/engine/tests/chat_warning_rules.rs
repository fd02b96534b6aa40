//! The chat notifier's stack warning is its own: the watcher's warning and
//! the chat's set and clear independently.

mod common;

use common::*;
use stageline_engine::flow::Input;

#[tokio::test]
async fn a_chat_warning_and_a_watcher_warning_do_not_clear_each_other() {
    let flow = Flow::new(&[]).await;
    let stack = flow.stack;
    let warnings = || {
        flow.pipeline.read(move |s| {
            s.stack_warnings(stack)
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
    };
    flow.pipeline
        .send(Input::ChatWarning {
            stack_id: stack,
            message: Some("Chat messages are not getting through".into()),
        })
        .await
        .unwrap();
    flow.pipeline
        .send(Input::StackWarning {
            stack_id: stack,
            message: Some("Could not fetch the remote".into()),
        })
        .await
        .unwrap();
    assert_eq!(warnings().await.unwrap().len(), 2);
    flow.pipeline
        .send(Input::StackWarning {
            stack_id: stack,
            message: None,
        })
        .await
        .unwrap();
    assert_eq!(
        warnings().await.unwrap(),
        vec!["Chat messages are not getting through".to_string()]
    );
    flow.pipeline
        .send(Input::ChatWarning {
            stack_id: stack,
            message: None,
        })
        .await
        .unwrap();
    assert!(warnings().await.unwrap().is_empty());
}
