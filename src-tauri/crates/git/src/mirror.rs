//! Bare mirrors of remote repositories: one per stack, under the cache dir,
//! holding the stack's branch. Every read of a remote goes through one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, Result};
use git2::{AutotagOption, FetchOptions, Oid, Repository, RepositoryInitOptions};

use crate::credentials::{remote_callbacks, GitCredentials};
use crate::location::redact_userinfo;

/// One remote repository and the mirror that follows one of its branches.
#[derive(Debug, Clone)]
pub(crate) struct Mirror {
    pub(crate) path: PathBuf,
    pub(crate) url: String,
    pub(crate) branch: String,
}

impl Mirror {
    /// Runs `work` while no other fetch or clone of this mirror runs in the
    /// process: the watcher and a checkout may use one mirror at the same
    /// moment, and two fetches into one repository would fight over its lock files.
    pub(crate) fn exclusive<T>(&self, work: impl FnOnce() -> T) -> T {
        static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
        let lock = {
            let mut locks = LOCKS
                .get_or_init(Default::default)
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            Arc::clone(locks.entry(self.path.clone()).or_default())
        };
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        work()
    }

    /// Opens the mirror, creating an empty one on first use.
    pub(crate) fn open_or_create(&self) -> Result<Repository> {
        if self.path.join("HEAD").exists() {
            return Repository::open_bare(&self.path)
                .context("Could not open the local mirror of the repository");
        }
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent).context("Could not create the Git cache folder")?;
        }
        let mut options = RepositoryInitOptions::new();
        // HEAD names the stack's branch, so a clone of the mirror lands on it.
        options.bare(true).initial_head(&self.branch);
        Repository::init_opts(&self.path, &options)
            .context("Could not create the local mirror of the repository")
    }

    /// Fetches the branch from the remote into the mirror. Returns the branch's
    /// head, or `None` when the remote has no such branch (then the mirror drops it too).
    pub(crate) fn fetch(&self, credentials: &GitCredentials) -> Result<(Repository, Option<Oid>)> {
        self.exclusive(|| self.fetch_unlocked(credentials))
    }

    fn fetch_unlocked(&self, credentials: &GitCredentials) -> Result<(Repository, Option<Oid>)> {
        let repo = self.open_or_create()?;
        let head = {
            let refname = branch_ref(&self.branch);
            let refspec = format!("+{refname}:{refname}");
            let mut remote = repo.remote_anonymous(&self.url).with_context(|| {
                format!(
                    "{} is not a valid repository URL",
                    redact_userinfo(&self.url)
                )
            })?;
            let mut options = FetchOptions::new();
            options
                .remote_callbacks(remote_callbacks(credentials))
                .download_tags(AutotagOption::None);
            remote
                .fetch(&[refspec.as_str()], Some(&mut options), None)
                .with_context(|| format!("Cannot fetch from {}", redact_userinfo(&self.url)))?;
            // The advertised refs stay readable after the fetch has disconnected.
            let advertised = remote
                .list()
                .with_context(|| {
                    format!("Cannot list the branches of {}", redact_userinfo(&self.url))
                })?
                .iter()
                .find(|head| head.name() == refname)
                .map(|head| head.oid());
            match advertised {
                Some(oid) => {
                    repo.reference(&refname, oid, true, "stageline: fetch")
                        .context("Could not update the local mirror of the repository")?;
                }
                None => {
                    if let Ok(mut stale) = repo.find_reference(&refname) {
                        stale
                            .delete()
                            .context("Could not update the local mirror of the repository")?;
                    }
                }
            }
            advertised
        };
        Ok((repo, head))
    }
}

/// The full ref name of a branch.
pub(crate) fn branch_ref(branch: &str) -> String {
    format!("refs/heads/{branch}")
}
