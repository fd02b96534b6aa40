//! The `Source` port: branch heads and real checkouts, local and remote.

use stageline_engine::ports::{CheckoutOptions, Source};
use stageline_engine::System;
use stageline_git::GitSource;
use tempfile::TempDir;

use crate::support::{git, isolate, stack, Remote, WorkRepo};

const WITH_EXTRAS: CheckoutOptions = CheckoutOptions {
    submodules_and_lfs: true,
};

#[tokio::test]
async fn head_of_a_local_repository_is_its_branch_head() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let repo = WorkRepo::init(&tmp.path().join("app"));
    let sha = repo.commit("second commit");
    let source = GitSource::without_credentials(tmp.path().join("cache"));

    let head = source
        .head(&stack(1, repo.dir.to_str().unwrap(), "main"))
        .await
        .unwrap();

    assert_eq!(head.sha, sha);
    assert_eq!(head.message, "second commit");
    assert_eq!(head.author, "Ada Tester");
    assert!(
        head.time > 1_600_000_000_000,
        "time is in milliseconds: {}",
        head.time
    );
    assert!(
        std::fs::read_dir(tmp.path().join("cache"))
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".git")),
        "a local repository is read through Stageline's own mirror"
    );
}

#[tokio::test]
async fn checkout_of_a_local_repository_is_a_git_working_tree_at_that_commit() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let repo = WorkRepo::init(&tmp.path().join("app"));
    let first = repo.head();
    repo.commit("second commit");
    let source = GitSource::without_credentials(tmp.path().join("cache"));
    let dir = tmp.path().join("work");

    source
        .checkout(
            &stack(1, repo.dir.to_str().unwrap(), "main"),
            &first,
            dir.clone(),
            WITH_EXTRAS,
        )
        .await
        .unwrap();

    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), first);
    assert!(dir.join("first-commit.txt").exists());
    assert!(!dir.join("second-commit.txt").exists());
    assert_eq!(
        git(&dir, &["status", "--porcelain"]),
        "",
        "the working tree is clean"
    );
}

#[tokio::test]
async fn each_checkout_of_a_commit_is_its_own_copy() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let repo = WorkRepo::init(&tmp.path().join("app"));
    let sha = repo.head();
    let source = GitSource::without_credentials(tmp.path().join("cache"));
    let stack = stack(1, repo.dir.to_str().unwrap(), "main");
    let first = tmp.path().join("work-1");
    let report = source
        .checkout(&stack, &sha, first.clone(), WITH_EXTRAS)
        .await
        .unwrap();
    assert_eq!(report.files, 1);
    std::fs::remove_file(first.join("first-commit.txt")).unwrap();

    let second = tmp.path().join("work-2");
    let report = source
        .checkout(&stack, &sha, second.clone(), WITH_EXTRAS)
        .await
        .unwrap();

    assert!(second.join("first-commit.txt").exists());
    assert_eq!(git(&second, &["rev-parse", "HEAD"]), sha);
    assert!(
        report
            .details
            .iter()
            .any(|d| d.contains("made by an earlier part")),
        "{:?}",
        report.details
    );
}

#[tokio::test]
async fn checkout_into_a_folder_with_other_content_is_refused() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let repo = WorkRepo::init(&tmp.path().join("app"));
    let source = GitSource::without_credentials(tmp.path().join("cache"));
    let dir = tmp.path().join("work");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keep-me.txt"), "mine").unwrap();

    let error = source
        .checkout(
            &stack(1, repo.dir.to_str().unwrap(), "main"),
            &repo.head(),
            dir.clone(),
            WITH_EXTRAS,
        )
        .await
        .unwrap_err();

    assert_eq!(error.system, System::Git);
    assert!(error.message.contains("is not empty"), "{}", error.message);
    assert!(
        dir.join("keep-me.txt").exists(),
        "nothing of the user's is deleted"
    );
}

#[tokio::test]
async fn checkout_of_an_unknown_commit_fails_with_a_git_error() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let repo = WorkRepo::init(&tmp.path().join("app"));
    let source = GitSource::without_credentials(tmp.path().join("cache"));
    let unknown = "0123456789abcdef0123456789abcdef01234567";

    let error = source
        .checkout(
            &stack(1, repo.dir.to_str().unwrap(), "main"),
            unknown,
            tmp.path().join("work"),
            WITH_EXTRAS,
        )
        .await
        .unwrap_err();

    assert_eq!(error.system, System::Git);
    assert!(
        error
            .message
            .starts_with("Could not check out commit 0123456"),
        "{}",
        error.message
    );
    assert!(
        !error.message.contains("class="),
        "no debug text: {}",
        error.message
    );
}

#[tokio::test]
async fn head_of_a_missing_branch_names_the_branch() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let repo = WorkRepo::init(&tmp.path().join("app"));
    let source = GitSource::without_credentials(tmp.path().join("cache"));

    let error = source
        .head(&stack(1, repo.dir.to_str().unwrap(), "nope"))
        .await
        .unwrap_err();

    assert_eq!(error.system, System::Git);
    assert!(
        error.message.contains("Branch \"nope\" does not exist"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_remote_repository_is_read_and_checked_out_through_a_mirror() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let remote = Remote::new();
    let cache = tmp.path().join("cache");
    let source = GitSource::without_credentials(cache.clone());
    let stack = stack(3, &remote.url, "main");
    assert_eq!(source.head(&stack).await.unwrap().sha, remote.pusher.head());

    let pushed = remote.pusher.commit("pushed later");
    remote.pusher.git(&["push", "-q", "origin", "main"]);
    let head = source.head(&stack).await.unwrap();
    let dir = tmp.path().join("work");
    source
        .checkout(&stack, &pushed, dir.clone(), WITH_EXTRAS)
        .await
        .unwrap();

    assert_eq!(
        head.sha, pushed,
        "the mirror is fetched before the head is read"
    );
    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), pushed);
    assert!(dir.join("pushed-later.txt").exists());
    let mirrors = std::fs::read_dir(&cache)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".git")
        })
        .count();
    assert_eq!(mirrors, 1, "one mirror per stack");
}

#[tokio::test]
async fn commits_between_lists_what_a_release_will_ship() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let remote = Remote::new();
    let base = remote.pusher.head();
    let second = remote.pusher.commit("second");
    let third = remote.pusher.commit("third");
    remote.pusher.git(&["push", "-q", "origin", "main"]);
    let source = GitSource::without_credentials(tmp.path().join("cache"));

    // The mirror has never been fetched: the commits are fetched on demand.
    let commits = source
        .commits_between(&stack(4, &remote.url, "main"), Some(&base), &third, 10)
        .await
        .unwrap();

    let shas: Vec<_> = commits.iter().map(|c| c.sha.clone()).collect();
    assert_eq!(shas, [third, second]);
}
