//! Real Git working trees of one commit, for builds (`build.yml` may run
//! `git rev-parse HEAD`, so a plain file export is not enough).

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use git2::build::{CheckoutBuilder, CloneLocal, RepoBuilder};
use git2::{Oid, Repository};

use crate::repository::{open_local, BranchSource, Place};

/// Makes `dir` a working tree whose HEAD is exactly `sha` (detached). The clone
/// is local (hard-linked objects where the file system allows), from the
/// repository itself or from its mirror. Calling it again for the same commit
/// restores the files and succeeds, so a resumed run can repeat it.
pub(crate) fn checkout_commit(source: &BranchSource, sha: &str, dir: &Path) -> Result<()> {
    let oid = Oid::from_str(sha).map_err(|_| anyhow!("\"{sha}\" is not a commit id"))?;
    let short = &sha[..sha.len().min(7)];
    if reuse_existing(dir, oid)? {
        return Ok(());
    }
    ensure_commit_available(source, oid)
        .with_context(|| format!("Could not check out commit {short}"))?;
    source
        .exclusive(|| clone_at(source, oid, dir))
        .with_context(|| format!("Could not check out commit {short} into {}", dir.display()))
}

/// A remote's commit may be newer than the mirror: fetch once before giving up.
fn ensure_commit_available(source: &BranchSource, oid: Oid) -> Result<()> {
    if source.open()?.find_commit(oid).is_ok() {
        return Ok(());
    }
    if let Place::Remote(_) = source.place {
        let (repo, _) = source.refresh()?;
        if repo.find_commit(oid).is_ok() {
            return Ok(());
        }
    }
    Err(anyhow!("the commit is not in {}", source.display))
}

/// An earlier checkout of the same commit in `dir` is reset to a clean tree
/// and kept; any other content of `dir` is refused, never deleted.
fn reuse_existing(dir: &Path, oid: Oid) -> Result<bool> {
    let empty = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(e).with_context(|| format!("Could not read the folder {}", dir.display()))
        }
    };
    if empty {
        return Ok(false);
    }
    let existing = dir
        .join(".git")
        .exists()
        .then(|| open_local(dir).ok())
        .flatten();
    let at_commit = existing.filter(|repo| head_is(repo, oid));
    match at_commit {
        Some(repo) => {
            let commit = repo.find_commit(oid)?;
            let mut options = CheckoutBuilder::new();
            options.force().remove_untracked(true);
            repo.checkout_tree(commit.as_object(), Some(&mut options))
                .with_context(|| format!("Could not restore the checkout in {}", dir.display()))?;
            Ok(true)
        }
        None => Err(anyhow!(
            "The checkout folder {} is not empty",
            dir.display()
        )),
    }
}

fn head_is(repo: &Repository, oid: Oid) -> bool {
    repo.head().ok().and_then(|head| head.target()) == Some(oid)
}

fn clone_at(source: &BranchSource, oid: Oid, dir: &Path) -> Result<()> {
    let from = source.clone_source();
    let from = from
        .to_str()
        .ok_or_else(|| anyhow!("the repository path {} is not valid UTF-8", from.display()))?;
    // The clone writes no files: the commit is checked out right after.
    let mut no_files = CheckoutBuilder::new();
    no_files.dry_run();
    let mut builder = RepoBuilder::new();
    builder
        .clone_local(CloneLocal::Local)
        .with_checkout(no_files);
    if branch_exists(source) {
        // Lands on the stack's branch even if the source's HEAD is elsewhere or unborn.
        builder.branch(&source.branch);
    }
    let repo = builder.clone(from, dir)?;
    let commit = repo.find_commit(oid)?;
    let mut options = CheckoutBuilder::new();
    options.force();
    repo.checkout_tree(commit.as_object(), Some(&mut options))?;
    repo.set_head_detached(oid)?;
    Ok(())
}

fn branch_exists(source: &BranchSource) -> bool {
    source.open().ok().is_some_and(|repo| {
        repo.find_branch(&source.branch, git2::BranchType::Local)
            .is_ok()
    })
}
