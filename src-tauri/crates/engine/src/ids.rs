//! Identifiers and time. Both are handed to the engine (by the `Clock` port),
//! never read implicitly, so every flow is reproducible in tests.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
        #[serde(transparent)]
        #[ts(export, type = "number")]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    )*};
}

id_type!(
    /// An AWS account (keychain credentials or a named profile).
    AccountId,
    /// A stack: one repository branch deployed through its stages.
    StackId,
    /// A stage of a stack.
    StageId,
    /// A commit of the branch moving through the stages.
    ReleaseId,
    /// One release in one stage.
    RunId,
    /// A manual approval request at a stage.
    ApprovalId,
);
