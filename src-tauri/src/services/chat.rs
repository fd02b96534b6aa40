//! A stack's chat webhook: checked, kept in the keychain (read back before it
//! counts), and described to the UI by its kind and host only.

use serde::{Deserialize, Serialize};
use stageline_chat::{check_url, ChatEvent, ChatMessage, Webhook, WebhookKind};
use stageline_engine::keychain_names::chat_webhook;
use stageline_engine::StackId;
use ts_rs::TS;

use crate::chat::Chat;
use crate::core::Core;
use crate::error::{AppError, AppResult};

/// What the UI knows of a stack's webhook: never its URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ChatWebhookView {
    /// `None` when the stack has no webhook.
    pub kind: Option<WebhookKind>,
    /// Where the messages go (`hooks.slack.com`), for display.
    pub host: Option<String>,
}

impl ChatWebhookView {
    fn of(hook: Option<&Webhook>) -> Self {
        ChatWebhookView {
            kind: hook.map(|h| h.kind),
            host: hook.map(Webhook::host),
        }
    }
}

/// The chat settings' form. The URL travels inward once, to the keychain.
#[derive(Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ChatWebhookInput {
    pub kind: WebhookKind,
    pub url: String,
}

impl std::fmt::Debug for ChatWebhookInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChatWebhookInput({:?}, ***)", self.kind)
    }
}

/// How "Send test message" went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ChatTestOutcome {
    pub delivered: bool,
    /// What to tell the user: where it went, or why it did not get there.
    pub message: String,
}

async fn stack_name(core: &Core, stack: StackId) -> AppResult<String> {
    core.pipeline
        .read(move |s| s.stack(stack).map(|st| st.name.clone()))
        .await?
        .ok_or_else(|| stageline_engine::EngineError::NotFound("The stack").into())
}

/// The stack's webhook, as the UI may know it.
pub async fn webhook(core: &Core, chat: &Chat, stack: StackId) -> AppResult<ChatWebhookView> {
    stack_name(core, stack).await?;
    Ok(ChatWebhookView::of(chat.webhooks.get(stack).as_ref()))
}

/// Sets the stack's webhook. A URL that is not `https://` (or `http://` to
/// this machine) is refused with the reason beside the field; nothing is written then.
pub async fn set(
    core: &Core,
    chat: &Chat,
    stack: StackId,
    input: ChatWebhookInput,
) -> AppResult<ChatWebhookView> {
    stack_name(core, stack).await?;
    check_url(&input.url).map_err(|reason| AppError::field("url", reason))?;
    let hook =
        Webhook::new(input.kind, &input.url).map_err(|reason| AppError::field("url", reason))?;
    let reference = chat_webhook(stack);
    core.keychain
        .put(&reference, &hook.to_keychain_value())
        .await?;
    let stored = core.keychain.get(&reference).await?;
    if Webhook::from_keychain_value(&stored).as_ref() != Some(&hook) {
        let _ = core.keychain.delete(&reference).await;
        return Err(AppError::internal(
            "The keychain did not keep the webhook: it was not saved.",
        ));
    }
    chat.webhooks.set(stack, Some(hook.clone()));
    Ok(ChatWebhookView::of(Some(&hook)))
}

/// Removes the stack's webhook (from the keychain too); messages stop at once.
pub async fn clear(core: &Core, chat: &Chat, stack: StackId) -> AppResult<ChatWebhookView> {
    stack_name(core, stack).await?;
    core.keychain.delete(&chat_webhook(stack)).await?;
    chat.webhooks.set(stack, None);
    core.pipeline
        .notify(stageline_engine::flow::Input::ChatWarning {
            stack_id: stack,
            message: None,
        });
    Ok(ChatWebhookView::of(None))
}

/// Sends a test message to the stack's webhook, once (no retries: the user
/// is waiting, and can press the button again).
pub async fn test(core: &Core, chat: &Chat, stack: StackId) -> AppResult<ChatTestOutcome> {
    let name = stack_name(core, stack).await?;
    let Some(hook) = chat.webhooks.get(stack) else {
        return Err(AppError::field("url", "Set a webhook first."));
    };
    let message = ChatMessage {
        stack_id: stack,
        stack: name,
        stage: String::new(),
        release: None,
        ships: Vec::new(),
        event: ChatEvent::Test,
        url: None,
    };
    let body = stageline_chat::message::body(hook.kind, &message);
    Ok(match chat.sender.send(&hook, &body, &[]).await {
        Ok(_) => ChatTestOutcome {
            delivered: true,
            message: format!("Sent to {}. Look for it in your chat.", hook.host()),
        },
        Err(error) => ChatTestOutcome {
            delivered: false,
            message: format!("Not delivered to {}: {error}.", hook.host()),
        },
    })
}
