//! Shared pieces of the cross-crate tests: real Git repositories, a store
//! that can "crash" mid-flow, and waiting on the engine's state.

mod flow;

pub use flow::{deployed_sha, latest_status, stack_on, wait_for};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use stageline_engine::ports::{BoxFuture, Change, Snapshot, Store};
use stageline_engine::{Approval, ApprovalId, PortError, ReleaseId, StackId, StageId};

/// A Git command in `repo` with a fixed identity and no user configuration.
pub fn git(repo: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(repo)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", repo)
        .env("GIT_AUTHOR_NAME", "Ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A repository on `main` with the given files, committed.
pub fn make_repo(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let repo = dir.join("app");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    commit_files(&repo, files, "First version");
    repo
}

/// Writes files and commits them; returns the new sha.
pub fn commit_files(repo: &Path, files: &[(&str, &str)], message: &str) -> String {
    for (name, text) in files {
        std::fs::write(repo.join(name), text).unwrap();
    }
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "--allow-empty", "-m", message]);
    git(repo, &["rev-parse", "HEAD"])
}

/// A store that works normally for `limit` transitions, then never answers
/// again: the engine is frozen mid-write, as if the process died there.
pub struct CrashingStore<S> {
    pub inner: S,
    pub limit: usize,
    pub applied: Arc<AtomicUsize>,
}

impl<S: Store> Store for CrashingStore<S> {
    fn load(&self) -> BoxFuture<'_, Result<Snapshot, PortError>> {
        self.inner.load()
    }

    fn apply(&self, changes: Vec<Change>) -> BoxFuture<'_, Result<(), PortError>> {
        if self.applied.load(Ordering::SeqCst) >= self.limit {
            return Box::pin(std::future::pending());
        }
        self.applied.fetch_add(1, Ordering::SeqCst);
        self.inner.apply(changes)
    }

    fn approval(&self, id: ApprovalId) -> BoxFuture<'_, Result<Option<Approval>, PortError>> {
        self.inner.approval(id)
    }

    fn deployed_release(
        &self,
        stage: StageId,
        release: ReleaseId,
    ) -> BoxFuture<'_, Result<Option<stageline_engine::ports::DeployedRelease>, PortError>> {
        self.inner.deployed_release(stage, release)
    }

    fn release_of_commit(
        &self,
        stack: StackId,
        sha: &str,
    ) -> BoxFuture<'_, Result<Option<stageline_engine::Release>, PortError>> {
        self.inner.release_of_commit(stack, sha)
    }
}
