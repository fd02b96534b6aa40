//! Errors the engine returns, and the closed set of codes the UI maps to what it shows.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::validation::FieldErrors;

/// What kind of failure reached the user. The UI branches on this, never on text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum ErrorCode {
    /// Input broke a rule; `fields` says which.
    Invalid,
    NotFound,
    /// The approval was superseded by a newer release (R16).
    Superseded,
    /// The action no longer fits the state (an approval already decided…).
    Conflict,
    Keychain,
    Git,
    Build,
    Aws,
    Store,
    Internal,
}

/// The outside system a port failure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum System {
    Store,
    Keychain,
    Git,
    Build,
    Aws,
}

/// A failure of an outside system, described for the user (`message` is shown as is).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PortError {
    pub system: System,
    pub message: String,
}

impl PortError {
    /// A failure of `system`, with a message a user understands.
    pub fn new(system: System, message: impl Into<String>) -> Self {
        PortError {
            system,
            message: message.into(),
        }
    }
}

/// Why an engine call did not happen.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Invalid(#[from] FieldErrors),
    #[error("{0} was not found.")]
    NotFound(&'static str),
    #[error("A newer release has reached this stage since; only the newest waiting release can be approved.")]
    ApprovalSuperseded,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Port(#[from] PortError),
    #[error("The pipeline engine has stopped.")]
    Stopped,
}

impl EngineError {
    /// The code the UI branches on.
    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::Invalid(_) => ErrorCode::Invalid,
            EngineError::NotFound(_) => ErrorCode::NotFound,
            EngineError::ApprovalSuperseded => ErrorCode::Superseded,
            EngineError::Conflict(_) => ErrorCode::Conflict,
            EngineError::Port(e) => match e.system {
                System::Store => ErrorCode::Store,
                System::Keychain => ErrorCode::Keychain,
                System::Git => ErrorCode::Git,
                System::Build => ErrorCode::Build,
                System::Aws => ErrorCode::Aws,
            },
            EngineError::Stopped => ErrorCode::Internal,
        }
    }
}
