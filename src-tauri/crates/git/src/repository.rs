//! One stack's branch, wherever its repository lives: a local repository is
//! read in place, a remote one through its mirror. All calls block: run them
//! inside `spawn_blocking`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use git2::{Oid, Repository, RepositoryOpenFlags};
use stageline_engine::StackId;

use crate::credentials::GitCredentials;
use crate::location::{mirror_path, RepoLocation};
use crate::mirror::{branch_ref, Mirror};

/// Where a branch is read from.
#[derive(Debug, Clone)]
pub(crate) enum Place {
    /// A local repository, read in place.
    Local(PathBuf),
    /// A remote repository, read through its mirror.
    Remote(Mirror),
}

/// A stack's repository and branch, with what it takes to reach them.
#[derive(Debug, Clone)]
pub(crate) struct BranchSource {
    pub(crate) place: Place,
    pub(crate) branch: String,
    pub(crate) credentials: GitCredentials,
    /// The repository as a user may see it named (no credentials).
    pub(crate) display: String,
}

impl BranchSource {
    /// The branch `branch` of `repository` (a stack's settings).
    pub(crate) fn new(
        cache_dir: &Path,
        stack_id: StackId,
        repository: &str,
        branch: &str,
        credentials: GitCredentials,
    ) -> BranchSource {
        let location = RepoLocation::parse(repository);
        let display = location.display();
        let place = match location {
            RepoLocation::Local(path) => Place::Local(path),
            RepoLocation::Remote(url) => Place::Remote(Mirror {
                path: mirror_path(cache_dir, stack_id, &url),
                url,
                branch: branch.to_string(),
            }),
        };
        BranchSource {
            place,
            branch: branch.to_string(),
            credentials,
            display,
        }
    }

    /// The token, to keep it out of messages.
    pub(crate) fn secret(&self) -> Option<&str> {
        self.credentials.https_token.as_deref()
    }

    /// Brings the branch up to date (a remote is fetched) and returns the
    /// repository with the branch head. A missing branch is an error.
    pub(crate) fn refresh(&self) -> Result<(Repository, Oid)> {
        let (repo, head) = match &self.place {
            Place::Remote(mirror) => mirror.fetch(&self.credentials)?,
            Place::Local(path) => {
                let repo = open_local(path)?;
                let head = local_branch_head(&repo, &self.branch)?;
                (repo, head)
            }
        };
        let head = head.ok_or_else(|| {
            anyhow!(
                "Branch \"{}\" does not exist in {}",
                self.branch,
                self.display
            )
        })?;
        Ok((repo, head))
    }

    /// Opens the repository (or the mirror) as it is, without fetching.
    pub(crate) fn open(&self) -> Result<Repository> {
        match &self.place {
            Place::Remote(mirror) => mirror.open_or_create(),
            Place::Local(path) => open_local(path),
        }
    }

    /// Where checkouts are cloned from: the repository itself, or its mirror.
    pub(crate) fn clone_source(&self) -> &Path {
        match &self.place {
            Place::Remote(mirror) => &mirror.path,
            Place::Local(path) => path,
        }
    }

    /// Runs `work` with the mirror (if any) held against concurrent fetches.
    pub(crate) fn exclusive<T>(&self, work: impl FnOnce() -> T) -> T {
        match &self.place {
            Place::Remote(mirror) => mirror.exclusive(work),
            Place::Local(_) => work(),
        }
    }
}

/// Opens exactly the repository at `path` (a working tree or a bare
/// repository), not one found in a parent folder.
pub(crate) fn open_local(path: &Path) -> Result<Repository> {
    if !path.exists() {
        return Err(anyhow!("There is no folder at {}", path.display()));
    }
    Repository::open_ext(
        path,
        RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&OsStr>(),
    )
    .with_context(|| format!("{} is not a Git repository", path.display()))
}

/// The commit the local branch points at, `None` when there is no such branch
/// (or it has no commit yet).
pub(crate) fn local_branch_head(repo: &Repository, branch: &str) -> Result<Option<Oid>> {
    match repo.find_reference(&branch_ref(branch)) {
        Ok(reference) => {
            let commit = reference
                .peel_to_commit()
                .with_context(|| format!("Branch \"{branch}\" does not point at a commit"))?;
            Ok(Some(commit.id()))
        }
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("Could not read branch \"{branch}\"")),
    }
}
