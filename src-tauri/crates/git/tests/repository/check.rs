//! The create-stack dialog's repository check.

use stageline_engine::validation::FieldErrors;
use stageline_git::{check_repository, GitCredentials, RepoCheckError};
use tempfile::TempDir;

use crate::support::{isolate, Remote, WorkRepo};

async fn check(location: &str, branch: &str) -> Result<(), RepoCheckError> {
    isolate();
    check_repository(location, branch, GitCredentials::default()).await
}

#[tokio::test]
async fn a_local_repository_with_the_branch_passes() {
    let tmp = TempDir::new().unwrap();
    let repo = WorkRepo::init(&tmp.path().join("app"));

    assert_eq!(check(repo.dir.to_str().unwrap(), "main").await, Ok(()));
}

#[tokio::test]
async fn a_folder_that_is_not_a_repository_is_reported_on_the_repository_field() {
    let tmp = TempDir::new().unwrap();

    let error = check(tmp.path().to_str().unwrap(), "main")
        .await
        .unwrap_err();

    assert!(
        matches!(error, RepoCheckError::NotARepository { .. }),
        "{error:?}"
    );
    assert_eq!(error.field(), "repository");
    assert!(
        error.message().ends_with("is not a Git repository."),
        "{}",
        error.message()
    );
    let fields: FieldErrors = error.into();
    assert!(fields.has("repository"));
}

#[tokio::test]
async fn a_missing_folder_is_not_a_repository() {
    let tmp = TempDir::new().unwrap();
    let missing = tmp.path().join("nowhere");

    let error = check(missing.to_str().unwrap(), "main").await.unwrap_err();

    assert!(
        matches!(error, RepoCheckError::NotARepository { .. }),
        "{error:?}"
    );
    assert!(
        error.message().starts_with("There is no folder at"),
        "{}",
        error.message()
    );
}

#[tokio::test]
async fn a_subfolder_of_a_repository_is_not_the_repository() {
    let tmp = TempDir::new().unwrap();
    let repo = WorkRepo::init(&tmp.path().join("app"));
    std::fs::create_dir(repo.dir.join("sub")).unwrap();

    let error = check(repo.dir.join("sub").to_str().unwrap(), "main")
        .await
        .unwrap_err();

    assert!(
        matches!(error, RepoCheckError::NotARepository { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_unknown_branch_is_reported_on_the_branch_field_with_the_branches_there_are() {
    let tmp = TempDir::new().unwrap();
    let repo = WorkRepo::init(&tmp.path().join("app"));
    repo.git(&["branch", "develop"]);

    let error = check(repo.dir.to_str().unwrap(), "mian").await.unwrap_err();

    assert!(
        matches!(error, RepoCheckError::BranchNotFound { .. }),
        "{error:?}"
    );
    assert_eq!(error.field(), "branch");
    assert_eq!(
        error.message(),
        "Branch \"mian\" does not exist in this repository (its branches: develop, main)."
    );
}

#[tokio::test]
async fn a_remote_repository_is_checked_by_listing_its_branches() {
    let remote = Remote::new();

    assert_eq!(check(&remote.url, "main").await, Ok(()));
    let error = check(&remote.url, "release").await.unwrap_err();
    assert!(
        matches!(error, RepoCheckError::BranchNotFound { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_remote_url_without_a_repository_is_not_a_repository() {
    let tmp = TempDir::new().unwrap();
    let url = format!("file://{}", tmp.path().join("nothing.git").display());

    let error = check(&url, "main").await.unwrap_err();

    assert!(
        matches!(error, RepoCheckError::NotARepository { .. }),
        "{error:?}"
    );
    assert_eq!(error.field(), "repository");
}

#[tokio::test]
async fn a_server_that_does_not_answer_is_unreachable() {
    // Nothing listens on port 1 of the loopback address: the connection is refused.
    let error = check("https://127.0.0.1:1/team/app.git", "main")
        .await
        .unwrap_err();

    assert!(
        matches!(error, RepoCheckError::Unreachable { .. }),
        "{error:?}"
    );
    assert_eq!(error.field(), "repository");
    assert!(
        error
            .message()
            .starts_with("Cannot reach https://127.0.0.1:1/team/app.git"),
        "{}",
        error.message()
    );
}

#[tokio::test]
async fn a_token_never_appears_in_a_check_message() {
    isolate();
    let credentials = GitCredentials {
        https_token: Some("tok-123-secret".into()),
        ssh_key_file: None,
    };

    let error = check_repository(
        "https://user:tok-123-secret@127.0.0.1:1/app.git",
        "main",
        credentials,
    )
    .await
    .unwrap_err();

    assert!(
        !error.message().contains("tok-123-secret"),
        "{}",
        error.message()
    );
}
