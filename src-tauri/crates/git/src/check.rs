//! The create-stack dialog's question: is this a Git repository with this
//! branch? Remote repositories are asked for their branch list only (what
//! `git ls-remote` does), nothing is cloned.

use std::time::Duration;

use git2::{Direction, ErrorClass, ErrorCode, Remote};
use stageline_engine::validation::FieldErrors;

use crate::credentials::{remote_callbacks, GitCredentials};
use crate::location::{scrub, RepoLocation};
use crate::messages::describe_git_error;
use crate::repository::open_local;

/// How long a remote may take to list its branches before it counts as unreachable.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a repository cannot be used for a stack, for the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoCheckError {
    /// Nothing at the location is a Git repository (field `repository`).
    #[error("{message}")]
    NotARepository { message: String },
    /// The repository has no such branch (field `branch`).
    #[error("{message}")]
    BranchNotFound { message: String },
    /// The remote could not be reached or refused to sign in (field `repository`).
    #[error("{message}")]
    Unreachable { message: String },
}

impl RepoCheckError {
    /// The input field the error belongs beside (`repository` or `branch`).
    pub fn field(&self) -> &'static str {
        match self {
            RepoCheckError::BranchNotFound { .. } => "branch",
            RepoCheckError::NotARepository { .. } | RepoCheckError::Unreachable { .. } => {
                "repository"
            }
        }
    }

    /// What to show the user.
    pub fn message(&self) -> &str {
        match self {
            RepoCheckError::NotARepository { message }
            | RepoCheckError::BranchNotFound { message }
            | RepoCheckError::Unreachable { message } => message,
        }
    }
}

impl From<RepoCheckError> for FieldErrors {
    fn from(error: RepoCheckError) -> FieldErrors {
        let mut errors = FieldErrors::default();
        errors.add(error.field(), error.message());
        errors
    }
}

/// Checks that `location` (a local path or a URL) is a Git repository with the
/// branch `branch`, signing in with `credentials` where the remote asks.
pub async fn check_repository(
    location: &str,
    branch: &str,
    credentials: GitCredentials,
) -> Result<(), RepoCheckError> {
    let location = RepoLocation::parse(location);
    let display = location.display();
    let branch = branch.to_string();
    let secret = credentials.https_token.clone();
    let work = tokio::task::spawn_blocking(move || {
        let branches = match &location {
            RepoLocation::Local(path) => local_branches(path)?,
            RepoLocation::Remote(url) => remote_branches(url, &display, &credentials)?,
        };
        if branches.contains(&branch) {
            Ok(())
        } else {
            Err(RepoCheckError::BranchNotFound {
                message: branch_not_found(&branch, &branches),
            })
        }
    });
    let outcome = match tokio::time::timeout(CHECK_TIMEOUT, work).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) => Err(RepoCheckError::Unreachable {
            message: "The repository check stopped unexpectedly.".into(),
        }),
        Err(_) => Err(RepoCheckError::Unreachable {
            message: format!(
                "The repository did not answer within {} seconds.",
                CHECK_TIMEOUT.as_secs()
            ),
        }),
    };
    outcome.map_err(|error| scrub_error(error, secret.as_deref()))
}

fn local_branches(path: &std::path::Path) -> Result<Vec<String>, RepoCheckError> {
    let repo = open_local(path).map_err(|error| {
        let owner = error
            .root_cause()
            .downcast_ref::<git2::Error>()
            .filter(|git| git.code() == ErrorCode::Owner)
            .map(describe_git_error);
        let message = match owner {
            Some(reason) => format!("{} cannot be read: {reason}.", path.display()),
            None => format!("{error}."),
        };
        RepoCheckError::NotARepository { message }
    })?;
    let not_readable = |e: git2::Error| RepoCheckError::NotARepository {
        message: format!(
            "The branches of {} cannot be read: {}.",
            path.display(),
            describe_git_error(&e)
        ),
    };
    let mut names = Vec::new();
    for found in repo
        .branches(Some(git2::BranchType::Local))
        .map_err(not_readable)?
    {
        let (branch, _) = found.map_err(not_readable)?;
        if let Ok(Some(name)) = branch.name() {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

fn remote_branches(
    url: &str,
    display: &str,
    credentials: &GitCredentials,
) -> Result<Vec<String>, RepoCheckError> {
    let mut remote = Remote::create_detached(url).map_err(|_| RepoCheckError::NotARepository {
        message: format!("{display} is not a valid repository URL."),
    })?;
    let connection = remote
        .connect_auth(Direction::Fetch, Some(remote_callbacks(credentials)), None)
        .map_err(|e| connect_error(&e, url, display))?;
    let heads = connection
        .list()
        .map_err(|e| connect_error(&e, url, display))?;
    Ok(heads
        .iter()
        .filter_map(|head| head.name().strip_prefix("refs/heads/"))
        .map(str::to_string)
        .collect())
}

/// A missing repository is the user's typo; anything else is the network's or
/// the server's. A `file://` URL has no network: whatever fails, nothing usable is there.
fn connect_error(error: &git2::Error, url: &str, display: &str) -> RepoCheckError {
    let missing = url.starts_with("file://")
        || error.code() == ErrorCode::NotFound
        || matches!(error.class(), ErrorClass::Repository | ErrorClass::Odb);
    if missing {
        RepoCheckError::NotARepository {
            message: format!("There is no Git repository at {display}."),
        }
    } else {
        RepoCheckError::Unreachable {
            message: format!("Cannot reach {display}: {}.", describe_git_error(error)),
        }
    }
}

fn branch_not_found(branch: &str, branches: &[String]) -> String {
    const SHOWN: usize = 8;
    if branches.is_empty() {
        return format!("Branch \"{branch}\" does not exist: the repository has no branches yet (make a first commit).");
    }
    let mut listed = branches
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if branches.len() > SHOWN {
        listed.push_str(", …");
    }
    format!("Branch \"{branch}\" does not exist in this repository (its branches: {listed}).")
}

fn scrub_error(error: RepoCheckError, secret: Option<&str>) -> RepoCheckError {
    match error {
        RepoCheckError::NotARepository { message } => RepoCheckError::NotARepository {
            message: scrub(&message, secret),
        },
        RepoCheckError::BranchNotFound { message } => RepoCheckError::BranchNotFound {
            message: scrub(&message, secret),
        },
        RepoCheckError::Unreachable { message } => RepoCheckError::Unreachable {
            message: scrub(&message, secret),
        },
    }
}
