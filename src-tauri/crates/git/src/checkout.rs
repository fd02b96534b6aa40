//! A part's workspace: a private, writable copy of its commit's checkout.
//! Builds may run `git rev-parse HEAD` or `git log`, so each workspace is a
//! real Git working tree (its objects borrowed from the stack's mirror).

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use git2::Oid;
use stageline_engine::ports::{CheckoutOptions, CheckoutReport};

use crate::commit_checkout::{commit_checkout, CommitCheckout, Failure, Materialized};
use crate::messages::user_message;
use crate::repository::BranchSource;
use crate::workspace::{copy_tree, CopyMethod};

/// Makes `dir` (absent or empty) a workspace of exactly `sha`. A failed read
/// from the mirror is retried once against a new mirror fetched from the
/// repository, and the report says so.
pub(crate) fn prepare_workspace(
    source: &BranchSource,
    sha: &str,
    dir: &Path,
    options: CheckoutOptions,
) -> Result<CheckoutReport> {
    let started = Instant::now();
    let oid = Oid::from_str(sha).map_err(|_| anyhow!("\"{sha}\" is not a commit id"))?;
    let short = &sha[..sha.len().min(7)];
    refuse_content(dir)?;
    let mut details = Vec::new();
    let extras = options.submodules_and_lfs;
    let (checkout, made) = match attempt(source, oid, extras) {
        Ok(found) => found,
        Err(Failure::Other(error)) => {
            return Err(error.context(format!("Could not check out commit {short}")))
        }
        Err(failure) => {
            let reason = user_message(&failure.into_error(), source.secret());
            let reason = reason.trim_end_matches('.');
            source.rebuild().with_context(|| {
                format!("Could not check out commit {short} ({reason}), and fetching the repository again failed")
            })?;
            let found = attempt(source, oid, extras)
                .map_err(Failure::into_error)
                .with_context(|| {
                    format!(
                        "Could not check out commit {short}, even after Stageline fetched the repository again (first attempt: {reason})"
                    )
                })?;
            details.push(format!(
                "The first read of commit {short} failed ({reason}); Stageline fetched the repository again and the second read succeeded."
            ));
            found
        }
    };
    details.push(describe_checkout(made.as_ref(), extras));
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("Could not create the folder {}", parent.display()))?;
    }
    let copied = copy_tree(&checkout.path, dir)
        .with_context(|| format!("Could not make the workspace {}", dir.display()))?;
    details.push(format!(
        "This part's workspace was {} from it in {:.2} s.",
        match copied.method {
            CopyMethod::Reflink => "cloned (copy-on-write reflinks)",
            CopyMethod::Copy => "copied (the file system offers no reflinks)",
        },
        copied.elapsed.as_secs_f64()
    ));
    Ok(CheckoutReport {
        files: copied.files,
        elapsed: started.elapsed(),
        details,
    })
}

/// The commit's checkout, with the commit fetched into the mirror first if
/// it is not there yet (a head seen by no watcher so far).
fn attempt(
    source: &BranchSource,
    oid: Oid,
    extras: bool,
) -> Result<(CommitCheckout, Option<Materialized>), Failure> {
    let in_mirror = |repo: &git2::Repository| repo.find_commit(oid).is_ok();
    if !in_mirror(&source.open()?) {
        let (repo, _) = source.refresh().map_err(Failure::Missing)?;
        if !in_mirror(&repo) {
            source
                .mirror
                .fetch_commit(oid, &source.credentials)
                .context("the commit is not in the repository")
                .map_err(Failure::Missing)?;
        }
    }
    commit_checkout(source, oid, extras)
}

fn describe_checkout(made: Option<&Materialized>, extras: bool) -> String {
    let Some(made) = made else {
        return "The commit's checkout was made by an earlier part.".to_string();
    };
    let mut sentence = format!(
        "The commit's checkout was made from Stageline's copy of the repository in {:.2} s",
        made.elapsed.as_secs_f64()
    );
    if extras {
        sentence.push_str(&format!(
            ", with {} and {}",
            counted(made.submodules as u64, "submodule"),
            counted(made.lfs_files, "Git LFS file")
        ));
    } else {
        sentence.push_str(", without submodules or Git LFS content (turned off for this stage)");
    }
    sentence.push('.');
    sentence
}

fn counted(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A workspace folder with something in it is refused, never deleted.
fn refuse_content(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(anyhow!(
                    "The workspace folder {} is not empty",
                    dir.display()
                ));
            }
            std::fs::remove_dir(dir)
                .with_context(|| format!("Could not use the workspace folder {}", dir.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("Could not read the folder {}", dir.display())),
    }
}
