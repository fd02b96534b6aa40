//! The one error that crosses to the UI: a code it branches on, a message it
//! shows, and the fields the message belongs beside.

use serde::Serialize;
use ts_rs::TS;

use stageline_engine::validation::{FieldError, FieldErrors};
use stageline_engine::{EngineError, ErrorCode, PortError};

/// What a failed command returns.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    /// For `invalid`: each broken rule, by field.
    pub fields: Vec<FieldError>,
}

impl AppError {
    /// A broken rule on one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        errors.into()
    }

    /// Something a user cannot fix by changing input.
    pub fn internal(message: impl Into<String>) -> Self {
        AppError {
            code: ErrorCode::Internal,
            message: message.into(),
            fields: Vec::new(),
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

impl From<FieldErrors> for AppError {
    fn from(errors: FieldErrors) -> Self {
        AppError {
            code: ErrorCode::Invalid,
            message: errors.to_string(),
            fields: errors.0,
        }
    }
}

impl From<EngineError> for AppError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Invalid(fields) => fields.into(),
            other => {
                // Input errors are the user's to fix; these are for a bug report.
                tracing::warn!(code = ?other.code(), error = %other, "a command failed");
                AppError {
                    code: other.code(),
                    message: other.to_string(),
                    fields: Vec::new(),
                }
            }
        }
    }
}

impl From<PortError> for AppError {
    fn from(error: PortError) -> Self {
        EngineError::Port(error).into()
    }
}

/// The result of a command.
pub type AppResult<T> = Result<T, AppError>;
