//! Turning SDK failures into sentences a user understands. Inside the crate
//! errors are `anyhow` chains with context; at the port they become one
//! `PortError` whose message is that chain ("doing X: because Y").

use std::error::Error;

use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use stageline_engine::{PortError, System};

/// What went wrong with one request, in words: the service's error code and
/// message, a time-out, or why AWS could not be reached.
pub(crate) fn describe<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + Error + 'static,
    R: std::fmt::Debug,
{
    match error {
        SdkError::ServiceError(_) => {
            let code = error.code().unwrap_or("an unknown error");
            let message = error.message().unwrap_or("no details given");
            if is_throttling_code(code) {
                format!("AWS throttled the request ({code}: {message})")
            } else {
                format!("{code}: {message}")
            }
        }
        SdkError::TimeoutError(_) => "the request timed out".to_owned(),
        SdkError::DispatchFailure(_) => format!("could not reach AWS ({})", source_chain(error)),
        SdkError::ResponseError(_) => format!(
            "AWS sent a response that could not be read ({})",
            source_chain(error)
        ),
        _ => source_chain(error),
    }
}

/// The messages of an error's sources, joined, without repeats.
fn source_chain(error: &dyn Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = error.source();
    while let Some(current) = next {
        let text = current.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = current.source();
    }
    if parts.is_empty() {
        error.to_string()
    } else {
        parts.join(": ")
    }
}

fn is_throttling_code(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
    )
}

/// The service error code of a failed request, if the service answered.
pub(crate) fn error_code<E, R>(error: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::ServiceError(_) => error.code(),
        _ => None,
    }
}

/// The service error message of a failed request, if the service answered.
pub(crate) fn error_message<E, R>(error: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::ServiceError(_) => error.message(),
        _ => None,
    }
}

/// Adds what was being done to an SDK failure.
pub(crate) trait SdkResultExt<T> {
    /// `Err` becomes "`doing`: <what AWS said>".
    fn aws(self, doing: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T, E, R> SdkResultExt<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + Error + 'static,
    R: std::fmt::Debug,
{
    fn aws(self, doing: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|error| anyhow::anyhow!("{}: {}", doing(), describe(&error)))
    }
}

/// The error the port returns: the whole chain, outermost first.
pub(crate) fn to_port_error(error: anyhow::Error) -> PortError {
    PortError::new(System::Aws, format!("{error:#}"))
}
