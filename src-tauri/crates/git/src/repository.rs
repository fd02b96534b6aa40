//! One stack's branch, wherever its repository lives, read through the
//! stack's mirror (Stageline's own object store): a local repository is
//! fetched into it when its branch moves, a remote one on every refresh.
//! All calls block: run them inside `spawn_blocking`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use git2::{Oid, Repository, RepositoryOpenFlags};
use stageline_engine::StackId;

use crate::credentials::GitCredentials;
use crate::location::{mirror_path, RepoLocation};
use crate::mirror::{branch_ref, Mirror};

/// Where a stack's repository is.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    /// A local repository (a working tree or a bare one), watched in place.
    Local(PathBuf),
    /// A remote repository, polled.
    Remote(String),
}

/// A stack's repository and branch, with what it takes to reach them.
#[derive(Debug, Clone)]
pub(crate) struct BranchSource {
    pub(crate) origin: Origin,
    /// Every commit is read from here, never from the origin's own objects.
    pub(crate) mirror: Mirror,
    pub(crate) branch: String,
    pub(crate) credentials: GitCredentials,
    /// The repository as a user may see it named (no credentials).
    pub(crate) display: String,
    pub(crate) stack_id: StackId,
    /// The folder of mirrors and commit checkouts.
    pub(crate) cache_dir: PathBuf,
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
        let (origin, url) = match location {
            RepoLocation::Local(path) => {
                let url = path.to_string_lossy().into_owned();
                (Origin::Local(path), url)
            }
            RepoLocation::Remote(url) => (Origin::Remote(url.clone()), url),
        };
        BranchSource {
            origin,
            mirror: Mirror {
                path: mirror_path(cache_dir, stack_id, &url),
                url,
                branch: branch.to_string(),
            },
            branch: branch.to_string(),
            credentials,
            display,
            stack_id,
            cache_dir: cache_dir.to_path_buf(),
        }
    }

    /// The token, to keep it out of messages.
    pub(crate) fn secret(&self) -> Option<&str> {
        self.credentials.https_token.as_deref()
    }

    /// Brings the mirror's branch up to date and returns the mirror with the
    /// branch head. A local repository is read only for its branch ref, and
    /// fetched from only when that moved. A missing branch is an error.
    pub(crate) fn refresh(&self) -> Result<(Repository, Oid)> {
        let head = match &self.origin {
            Origin::Remote(_) => self.mirror.fetch(&self.credentials)?,
            Origin::Local(path) => {
                let local = local_branch_head(&open_local(path)?, &self.branch)?;
                match local {
                    Some(head) if self.mirror.branch_head() == Some(head) => {
                        (self.mirror.open_or_create()?, Some(head))
                    }
                    Some(_) => self.mirror.fetch(&self.credentials)?,
                    None => (self.mirror.open_or_create()?, None),
                }
            }
        };
        self.found(head)
    }

    /// Starts the mirror again from the origin (after a read from it failed).
    pub(crate) fn rebuild(&self) -> Result<(Repository, Oid)> {
        let head = self.mirror.rebuild(&self.credentials)?;
        self.found(head)
    }

    fn found(&self, (repo, head): (Repository, Option<Oid>)) -> Result<(Repository, Oid)> {
        let head = head.ok_or_else(|| {
            anyhow!(
                "Branch \"{}\" does not exist in {}",
                self.branch,
                self.display
            )
        })?;
        Ok((repo, head))
    }

    /// Opens the mirror as it is, without fetching.
    pub(crate) fn open(&self) -> Result<Repository> {
        self.mirror.open_or_create()
    }

    /// Where this stack's commit checkouts are kept.
    pub(crate) fn checkouts_dir(&self) -> PathBuf {
        self.cache_dir
            .join("checkouts")
            .join(format!("stack-{}", self.stack_id.0))
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
