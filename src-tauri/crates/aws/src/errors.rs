//! Turning SDK failures into sentences a user understands. Inside the crate
//! errors are `anyhow` chains with context; at the port they become one
//! `PortError` whose message is that chain ("doing X: because Y").

use std::error::Error;

use aws_sdk_cloudformation::config::http::HttpResponse;
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

/// A failure that says nothing about the stack or the request: AWS could not
/// be reached (a network blip, a laptop that just woke up), timed out,
/// throttled or failed on its side (5xx). Waiting on a stack retries it.
#[derive(Debug)]
pub(crate) struct Transient(pub String);

impl std::fmt::Display for Transient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Transient {}

/// Whether trying the same request again later can help.
pub(crate) fn is_transient<E>(error: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error() || error.code().is_some_and(is_throttling_code)
        }
        _ => false,
    }
}

/// Whether an error chain holds a [`Transient`] failure.
pub(crate) fn is_transient_error(error: &anyhow::Error) -> bool {
    error.downcast_ref::<Transient>().is_some()
}

/// Adds what was being done to an SDK failure.
pub(crate) trait SdkResultExt<T> {
    /// `Err` becomes "`doing`: <what AWS said>".
    fn aws(self, doing: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T, E> SdkResultExt<T> for Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + Error + 'static,
{
    fn aws(self, doing: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|error| {
            let message = format!("{}: {}", doing(), describe(&error));
            if is_transient(&error) {
                anyhow::Error::new(Transient(message))
            } else {
                anyhow::anyhow!(message)
            }
        })
    }
}

/// The error the port returns: the whole chain, outermost first.
pub(crate) fn to_port_error(error: anyhow::Error) -> PortError {
    PortError::new(System::Aws, format!("{error:#}"))
}
