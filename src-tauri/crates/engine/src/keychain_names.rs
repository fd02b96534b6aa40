//! The names of every keychain entry Stageline writes, in one place: what
//! a stored value's `keychain_ref` is made of. An entry holds one secret;
//! the name says whose it is and never holds the value.

use crate::ids::{AccountId, StackId};

/// An account's AWS keys (JSON: access key id, secret, session token).
pub fn account_keys(account: AccountId) -> String {
    format!("account/{account}")
}

/// The HTTPS token of a stack's remote repository.
pub fn https_token(stack: StackId) -> String {
    format!("stack/{stack}/https-token")
}

/// A stack's chat webhook (its kind and URL, as JSON).
pub fn chat_webhook(stack: StackId) -> String {
    format!("stack/{stack}/chat-webhook")
}

/// A secret variable's value; `id` is minted by the engine's clock.
pub fn secret_variable(id: i64) -> String {
    format!("env/{id}")
}
