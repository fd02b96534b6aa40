//! Reading commits: as the user sees them, between two points of a branch,
//! and what a move of the branch head brought.

use anyhow::{Context, Result};
use git2::{Oid, Repository, Sort};
use stageline_engine::Commit;

/// At most this many older commits are listed with a new head.
pub const INCLUDED_LIMIT: usize = 50;

/// A commit as the user sees it: the first line of its message, its author,
/// and when it was committed (committer time: when it reached the branch's
/// history, which is what a release list orders by).
pub(crate) fn to_commit(commit: &git2::Commit<'_>) -> Commit {
    let message = String::from_utf8_lossy(commit.message_bytes());
    let author = commit.author();
    Commit {
        sha: commit.id().to_string(),
        message: message
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        author: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        author_email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
        time: commit.time().seconds() * 1000,
    }
}

/// The commit `oid`, as the user sees it.
pub(crate) fn read_commit(repo: &Repository, oid: Oid) -> Result<Commit> {
    let commit = repo
        .find_commit(oid)
        .with_context(|| format!("Commit {oid} is not in the repository"))?;
    Ok(to_commit(&commit))
}

/// The commits reachable from `to` and not from `from`, newest first, at most
/// `limit`. A `from` the repository does not know hides nothing.
pub(crate) fn commits_between(
    repo: &Repository,
    from: Option<Oid>,
    to: Oid,
    limit: usize,
) -> Result<Vec<Commit>> {
    let mut walk = repo
        .revwalk()
        .context("Could not read the branch history")?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)
        .context("Could not read the branch history")?;
    walk.push(to)
        .with_context(|| format!("Commit {to} is not in the repository"))?;
    if let Some(from) = from.filter(|from| repo.find_commit(*from).is_ok()) {
        walk.hide(from)
            .context("Could not read the branch history")?;
    }
    let mut commits = Vec::new();
    for oid in walk.take(limit) {
        let oid = oid.context("Could not read the branch history")?;
        commits.push(read_commit(repo, oid)?);
    }
    Ok(commits)
}

/// How the branch head moved since the last release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeadMove {
    pub(crate) head: Commit,
    /// Older commits that came with the head, newest first (at most [`INCLUDED_LIMIT`]).
    pub(crate) included: Vec<Commit>,
    /// The new head does not descend from the previous one (a force-push or a reset).
    pub(crate) forced: bool,
}

/// What moving from `previous` (a sha) to `head` brought. A `previous` that is
/// not in the repository any more was rewritten away: that counts as forced.
pub(crate) fn head_move(repo: &Repository, previous: Option<&str>, head: Oid) -> Result<HeadMove> {
    let head_commit = read_commit(repo, head)?;
    let Some(previous) = previous else {
        return Ok(HeadMove {
            head: head_commit,
            included: Vec::new(),
            forced: false,
        });
    };
    let previous = Oid::from_str(previous)
        .ok()
        .filter(|oid| repo.find_commit(*oid).is_ok());
    let descends = match previous {
        Some(previous) => repo
            .graph_descendant_of(head, previous)
            .context("Could not compare the new head with the previous one")?,
        None => false,
    };
    if !descends {
        return Ok(HeadMove {
            head: head_commit,
            included: Vec::new(),
            forced: true,
        });
    }
    let mut included = commits_between(repo, previous, head, INCLUDED_LIMIT + 1)?;
    included.retain(|commit| commit.sha != head_commit.sha);
    included.truncate(INCLUDED_LIMIT);
    Ok(HeadMove {
        head: head_commit,
        included,
        forced: false,
    })
}
