//! Turning failures into sentences a user understands. Inside the crate errors
//! are `anyhow` chains whose outermost context is written for the user; the
//! root cause (often libgit2's own words) is added as the reason.

use git2::ErrorCode;
use stageline_engine::{PortError, System};

use crate::location::scrub;

/// libgit2's reason, without the class/code debug suffix of its `Display`.
pub(crate) fn describe_git_error(error: &git2::Error) -> String {
    match error.code() {
        ErrorCode::Auth => "sign-in was refused (check the stack's access token or SSH key)".into(),
        ErrorCode::Certificate => {
            "the server's identity could not be verified (unknown SSH host key or invalid certificate)"
                .into()
        }
        ErrorCode::Owner => {
            "the repository belongs to another user (Git refuses to read it; see safe.directory)".into()
        }
        _ => error.message().trim_end_matches('.').to_string(),
    }
}

/// "What failed: why." for the user; `secret` (a token) is removed wherever it appears.
pub(crate) fn user_message(error: &anyhow::Error, secret: Option<&str>) -> String {
    let what = error.to_string();
    let root = error.root_cause();
    let why = match root.downcast_ref::<git2::Error>() {
        Some(git) => describe_git_error(git),
        None => root.to_string(),
    };
    let sentence = if error.chain().count() == 1 {
        if root.downcast_ref::<git2::Error>().is_some() {
            why
        } else {
            what
        }
    } else {
        format!("{what}: {why}")
    };
    let mut sentence = scrub(&sentence, secret);
    if !sentence.ends_with('.') {
        sentence.push('.');
    }
    sentence
}

/// The failure as the engine's `Source` port reports it.
pub(crate) fn port_error(error: &anyhow::Error, secret: Option<&str>) -> PortError {
    PortError::new(System::Git, user_message(error, secret))
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn messages_join_the_context_and_libgit2_reason_without_debug_text() {
        let failure: Result<(), git2::Error> = Err(git2::Error::new(
            ErrorCode::NotFound,
            git2::ErrorClass::Reference,
            "reference 'refs/heads/x' not found",
        ));
        let error = failure.context("Could not read branch x").unwrap_err();
        assert_eq!(
            user_message(&error, None),
            "Could not read branch x: reference 'refs/heads/x' not found."
        );
    }

    #[test]
    fn tokens_never_reach_a_message() {
        let error = anyhow::anyhow!("Cannot reach https://me:tok@host/r.git with tok");
        assert_eq!(
            user_message(&error, Some("tok")),
            "Cannot reach https://***@host/r.git with ***."
        );
    }
}
