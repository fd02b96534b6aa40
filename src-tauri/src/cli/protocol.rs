//! What the command line and the running app say to each other over the
//! control socket: one JSON request line, then JSON answer lines.

use serde::{Deserialize, Serialize};
use stageline_engine::flow::{StackView, StageView};
use stageline_engine::PartKind;

/// The socket's name in the app's data folder (owner-only).
pub const SOCKET_NAME: &str = "control.sock";

/// What the command line asks the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "camelCase")]
pub enum Request {
    Status,
    Decide {
        stack: String,
        stage: String,
        approve: bool,
        comment: String,
    },
    Retry {
        stack: String,
        stage: String,
        comment: String,
    },
    Logs {
        stack: String,
        stage: String,
        part: Option<PartKind>,
        follow: bool,
    },
}

/// Why a request was not done, as the command line's exit code says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Failure {
    /// Refused by a rule, or failed (exit 1).
    Refused,
    /// No such stack, stage, run or approval (exit 4).
    NotFound,
}

impl Failure {
    /// The command line's exit code.
    pub fn exit_code(self) -> i32 {
        match self {
            Failure::Refused => 1,
            Failure::NotFound => 4,
        }
    }
}

/// One answer line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Answer {
    /// The dashboard, for `status`.
    Stacks {
        stacks: Vec<StackView>,
    },
    /// One line of a log, as a terminal shows it.
    Line {
        text: String,
    },
    /// The request is done; `message` says what happened.
    Done {
        message: String,
    },
    Failed {
        failure: Failure,
        message: String,
    },
}

/// The stage `stage` of the stack `stack`, or why there is none.
pub fn find_stage<'a>(
    stacks: &'a [StackView],
    stack: &str,
    stage: &str,
) -> Result<(&'a StackView, &'a StageView), Answer> {
    let not_found = |message: String| Answer::Failed {
        failure: Failure::NotFound,
        message,
    };
    let found = stacks
        .iter()
        .find(|s| s.stack.name == stack)
        .ok_or_else(|| not_found(format!("There is no stack \"{stack}\".")))?;
    let view = found
        .stages
        .iter()
        .find(|s| s.stage.settings.name == stage)
        .ok_or_else(|| {
            let names: Vec<&str> = found
                .stages
                .iter()
                .map(|s| s.stage.settings.name.as_str())
                .collect();
            not_found(format!(
                "The stack \"{stack}\" has no stage \"{stage}\" (its stages: {}).",
                names.join(", ")
            ))
        })?;
    Ok((found, view))
}
