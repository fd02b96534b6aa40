//! A stack's chat webhook.

use stageline_engine::StackId;

use crate::chat::Chat;
use crate::commands::CoreState;
use crate::error::AppResult;
use crate::services::chat::{self, ChatTestOutcome, ChatWebhookInput, ChatWebhookView};

type ChatState<'a> = tauri::State<'a, Chat>;

#[tauri::command]
pub async fn chat_webhook(
    core: CoreState<'_>,
    chat: ChatState<'_>,
    stack_id: StackId,
) -> AppResult<ChatWebhookView> {
    chat::webhook(&core, &chat, stack_id).await
}

#[tauri::command]
pub async fn set_chat_webhook(
    core: CoreState<'_>,
    chat: ChatState<'_>,
    stack_id: StackId,
    input: ChatWebhookInput,
) -> AppResult<ChatWebhookView> {
    chat::set(&core, &chat, stack_id, input).await
}

#[tauri::command]
pub async fn clear_chat_webhook(
    core: CoreState<'_>,
    chat: ChatState<'_>,
    stack_id: StackId,
) -> AppResult<ChatWebhookView> {
    chat::clear(&core, &chat, stack_id).await
}

#[tauri::command]
pub async fn test_chat_webhook(
    core: CoreState<'_>,
    chat: ChatState<'_>,
    stack_id: StackId,
) -> AppResult<ChatTestOutcome> {
    chat::test(&core, &chat, stack_id).await
}
