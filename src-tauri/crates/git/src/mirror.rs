//! Stageline's own object store: a bare mirror per stack (and per submodule
//! repository) under the cache dir, for local repositories as for remote ones.
//! Every read of a commit goes through a mirror, so nothing the user does in
//! their repository (`gc`, `fetch`, a rebase, a branch switch) can pull objects
//! away from a checkout. Fetches write packs (never loose objects), merged
//! into one now and then, so a mirror is always packed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use git2::{AutotagOption, FetchOptions, Oid, Repository, RepositoryInitOptions};

use crate::credentials::{remote_callbacks, GitCredentials};
use crate::location::redact_userinfo;
use crate::locks;

/// A mirror's packs are merged into one when there are more than this many.
const MAX_PACKS: usize = 32;

/// A repository (a URL, or the path of a local one) and the mirror that follows it.
#[derive(Debug, Clone)]
pub(crate) struct Mirror {
    pub(crate) path: PathBuf,
    /// What libgit2 fetches from: a URL or a local path.
    pub(crate) url: String,
    /// The branch the mirror follows (empty for a submodule's mirror, which follows all).
    pub(crate) branch: String,
}

impl Mirror {
    /// Runs `work` while no other fetch of this mirror runs in the process.
    pub(crate) fn exclusive<T>(&self, work: impl FnOnce() -> T) -> T {
        locks::exclusive(&self.path, work)
    }

    /// Opens the mirror, creating an empty one on first use.
    pub(crate) fn open_or_create(&self) -> Result<Repository> {
        if self.path.join("HEAD").exists() {
            return Repository::open_bare(&self.path)
                .context("Could not open Stageline's copy of the repository");
        }
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent).context("Could not create the Git cache folder")?;
        }
        let mut options = RepositoryInitOptions::new();
        options.bare(true).external_template(false);
        if !self.branch.is_empty() {
            // HEAD names the stack's branch, so a clone of the mirror lands on it.
            options.initial_head(&self.branch);
        }
        Repository::init_opts(&self.path, &options)
            .context("Could not create Stageline's copy of the repository")
    }

    /// The mirror's object folder (what checkouts borrow objects from).
    pub(crate) fn objects(&self) -> PathBuf {
        self.path.join("objects")
    }

    /// Where the Git LFS content of this repository is kept.
    pub(crate) fn lfs_storage(&self) -> PathBuf {
        self.path.join("lfs")
    }

    /// The mirror's copy of the branch head, if it has one.
    pub(crate) fn branch_head(&self) -> Option<Oid> {
        let repo = Repository::open_bare(&self.path).ok()?;
        let reference = repo.find_reference(&branch_ref(&self.branch)).ok()?;
        reference.target()
    }

    /// Fetches the branch into the mirror. Returns the branch's head, or `None`
    /// when the repository has no such branch (then the mirror drops it too).
    pub(crate) fn fetch(&self, credentials: &GitCredentials) -> Result<(Repository, Option<Oid>)> {
        self.exclusive(|| self.fetch_branch(credentials))
    }

    /// Fetches every branch and tag (a submodule's recorded commit may be on any).
    pub(crate) fn fetch_everything(&self, credentials: &GitCredentials) -> Result<Repository> {
        self.exclusive(|| {
            let repo = self.open_or_create()?;
            self.download(
                &repo,
                &["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                credentials,
            )?;
            Ok(repo)
        })
    }

    /// Fetches one commit by its id (servers that allow it; local ones do).
    pub(crate) fn fetch_commit(&self, oid: Oid, credentials: &GitCredentials) -> Result<()> {
        self.exclusive(|| {
            let repo = self.open_or_create()?;
            let refspec = format!("+{oid}:refs/stageline/{oid}");
            self.download(&repo, &[refspec.as_str()], credentials)
                .map(|_| ())
        })
    }

    /// Starts the mirror again from nothing (after a read from it failed):
    /// the old one is set aside and removed in the background.
    pub(crate) fn rebuild(
        &self,
        credentials: &GitCredentials,
    ) -> Result<(Repository, Option<Oid>)> {
        self.exclusive(|| {
            set_aside(&self.path)?;
            self.fetch_branch(credentials)
        })
    }

    fn fetch_branch(&self, credentials: &GitCredentials) -> Result<(Repository, Option<Oid>)> {
        let fetched = self.fetch_branch_once(credentials)?;
        self.consolidate_packs();
        Ok(fetched)
    }

    /// Every fetch adds a pack; past [`MAX_PACKS`] they are merged into one
    /// (`git repack`, keeping every object: a commit rewritten away may still
    /// be waiting for approval somewhere). Without `git` the packs stay as
    /// they are, which only makes reads a little slower.
    fn consolidate_packs(&self) {
        let packs = std::fs::read_dir(self.objects().join("pack"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
                    .count()
            })
            .unwrap_or(0);
        if packs <= MAX_PACKS || !git_command_runs() {
            return;
        }
        let _ = Command::new("git")
            .arg("--git-dir")
            .arg(&self.path)
            .args([
                "-c",
                "gc.auto=0",
                "repack",
                "-a",
                "-d",
                "-q",
                "--keep-unreachable",
            ])
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .output();
    }

    fn fetch_branch_once(&self, credentials: &GitCredentials) -> Result<(Repository, Option<Oid>)> {
        let repo = self.open_or_create()?;
        let refname = branch_ref(&self.branch);
        if let Some(head) = self.fetch_local_with_git(&repo, &refname)? {
            return Ok((repo, Some(head)));
        }
        let refspec = format!("+{refname}:{refname}");
        let advertised = self
            .download(&repo, &[refspec.as_str()], credentials)?
            .into_iter()
            .find(|(name, _)| *name == refname)
            .map(|(_, oid)| oid);
        match advertised {
            Some(oid) => {
                repo.reference(&refname, oid, true, "stageline: fetch")
                    .context("Could not update Stageline's copy of the repository")?;
            }
            None => {
                if let Ok(mut stale) = repo.find_reference(&refname) {
                    stale
                        .delete()
                        .context("Could not update Stageline's copy of the repository")?;
                }
            }
        }
        Ok((repo, advertised))
    }

    /// A local repository is fetched with the `git` command when there is one:
    /// it sends the packs the repository already has as they are, where
    /// libgit2 compresses every object again (seconds against minutes for the
    /// first fetch of a large repository). `None`: not local, no `git`, or no
    /// such branch there — libgit2 fetches instead.
    fn fetch_local_with_git(&self, repo: &Repository, refname: &str) -> Result<Option<Oid>> {
        let local = Path::new(&self.url);
        if self.url.contains("://") || !local.is_absolute() || !git_command_runs() {
            return Ok(None);
        }
        let refspec = format!("+{refname}:{refname}");
        let fetched = Command::new("git")
            .arg("--git-dir")
            .arg(repo.path())
            // Kept packed: even a one-object fetch stays a pack, never loose objects.
            .args(["-c", "fetch.unpackLimit=1", "-c", "transfer.unpackLimit=1"])
            .args(["-c", "gc.auto=0", "-c", "fetch.writeCommitGraph=false"])
            .args(["-c", "core.hooksPath=/dev/null"])
            .args([
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                "--",
            ])
            .arg(local)
            .arg(&refspec)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .output()
            .context("Could not run git fetch")?;
        if !fetched.status.success() {
            return Ok(None);
        }
        let head = repo
            .find_reference(refname)
            .ok()
            .and_then(|reference| reference.target());
        Ok(head)
    }

    /// Fetches `refspecs` and returns the refs the repository advertised.
    fn download(
        &self,
        repo: &Repository,
        refspecs: &[&str],
        credentials: &GitCredentials,
    ) -> Result<Vec<(String, Oid)>> {
        let shown = redact_userinfo(&self.url);
        let mut remote = repo
            .remote_anonymous(&self.url)
            .with_context(|| format!("{shown} is not a valid repository URL"))?;
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(remote_callbacks(credentials))
            .download_tags(AutotagOption::None);
        remote
            .fetch(refspecs, Some(&mut options), None)
            .with_context(|| format!("Cannot fetch from {shown}"))?;
        // The advertised refs stay readable after the fetch has disconnected.
        let advertised = remote
            .list()
            .with_context(|| format!("Cannot list the branches of {shown}"))?
            .iter()
            .map(|head| (head.name().to_string(), head.oid()))
            .collect();
        Ok(advertised)
    }
}

/// Whether the `git` command runs here (asked once per process).
pub(crate) fn git_command_runs() -> bool {
    static RUNS: OnceLock<bool> = OnceLock::new();
    *RUNS.get_or_init(|| {
        Command::new("git")
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success())
    })
}

/// Moves `folder` out of the way at once and deletes it on another thread.
pub(crate) fn set_aside(folder: &Path) -> Result<()> {
    if !folder.exists() {
        return Ok(());
    }
    let name = folder
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = folder.with_file_name(format!(".trash-{name}-{}", unique_suffix()));
    std::fs::rename(folder, &aside)
        .with_context(|| format!("Could not move {} out of the way", folder.display()))?;
    std::thread::spawn(move || {
        let _ = std::fs::remove_dir_all(aside);
    });
    Ok(())
}

/// A suffix no other folder made by this process (or an earlier one) has.
pub(crate) fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The full ref name of a branch.
pub(crate) fn branch_ref(branch: &str) -> String {
    format!("refs/heads/{branch}")
}
