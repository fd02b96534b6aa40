//! Chat notifications: each stack's optional incoming webhook (Slack-compatible
//! or plain JSON) hears of approvals requested and decided, failed runs and
//! rollbacks.
//!
//! Rules of this crate:
//! - a webhook's URL is a secret: it is never logged, formatted by `Debug`,
//!   or put in an error; only its host is shown (the app keeps it in the keychain);
//! - the pipeline never waits for a chat: events go into a bounded queue that
//!   drops its oldest, and deliveries run in their own tasks;
//! - what a message says is pure functions of what happened (`message`),
//!   tested without a network; the sender is tested against a real HTTP server.

pub mod message;
pub mod notifier;
pub mod sender;
pub mod webhook;

pub use message::{ChatEvent, ChatMessage};
pub use notifier::{
    message_for, rollback_of, wanted, ChatFacts, ChatNotifier, NotifierOptions, StageFacts,
    WarningSink, Webhooks,
};
pub use sender::{DeliveryError, HttpSender, BACKOFF};
pub use webhook::{check_url, display_host, Webhook, WebhookKind};
