//! The chat notifier's stack warning is its own: the watcher's warning and
//! the chat's set and clear independently.

mod common;

use common::*;
use stageline_engine::flow::Input;

#[tokio::test]
async fn a_chat_warning_and_a_watcher_warning_do_not_clear_each_other() {
    let flow = Flow::new(&[]).await;
    let stack_id = flow.stack;
    let chat = |message: Option<&str>| Input::ChatWarning {
        stack_id,
        message: message.map(str::to_string),
    };
    let watcher = |message: Option<&str>| Input::StackWarning {
        stack_id,
        message: message.map(str::to_string),
    };
    let warnings_after = |input: Input| {
        let pipeline = &flow.pipeline;
        async move {
            pipeline.send(input).await.unwrap();
            pipeline
                .read(move |s| {
                    s.stack_warnings(stack_id)
                        .into_iter()
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap()
        }
    };
    warnings_after(chat(Some("Chat messages are not getting through"))).await;
    let both = warnings_after(watcher(Some("Could not fetch the remote"))).await;
    assert_eq!(both.len(), 2);
    assert_eq!(
        warnings_after(watcher(None)).await,
        vec!["Chat messages are not getting through".to_string()],
        "the watcher cleared only its own"
    );
    assert!(warnings_after(chat(None)).await.is_empty());
}
