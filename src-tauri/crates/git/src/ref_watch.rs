//! File-system notifications for a local repository's branch refs, so a
//! commit is noticed at once without polling. Git updates a ref by writing
//! `<ref>.lock` and renaming it over the ref (likewise `packed-refs`), so the
//! folders are watched, not the files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::repository::open_local;

/// Watches a repository's refs while it lives; each relevant change wakes
/// the watcher through `wake` (coalesced: a full channel already means "look").
pub(crate) struct RefWatch {
    _watcher: RecommendedWatcher,
}

impl RefWatch {
    /// Starts watching the refs of the repository at `repo_path`. Blocks briefly.
    pub(crate) fn start(repo_path: &Path, wake: mpsc::Sender<()>) -> Result<RefWatch> {
        let repo = open_local(repo_path)?;
        // Linked worktrees keep their branch refs in the common Git folder.
        let common = repo.commondir().to_path_buf();
        let heads = common.join("refs").join("heads");
        let packed_refs = common.join("packed-refs");
        let relevant = RelevantPaths {
            heads: heads.clone(),
            packed_refs,
        };
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            let wake_up = match event {
                Ok(event) => relevant.matches(&event),
                // Lost or failed notifications: look, to be sure.
                Err(_) => true,
            };
            if wake_up {
                let _ = wake.try_send(());
            }
        })
        .context("Could not watch the repository for new commits")?;
        watcher
            .watch(&common, RecursiveMode::NonRecursive)
            .and_then(|()| watcher.watch(&heads, RecursiveMode::Recursive))
            .context("Could not watch the repository for new commits")?;
        Ok(RefWatch { _watcher: watcher })
    }
}

/// The paths whose changes can move a branch head.
struct RelevantPaths {
    heads: PathBuf,
    packed_refs: PathBuf,
}

impl RelevantPaths {
    fn matches(&self, event: &Event) -> bool {
        if event.need_rescan() {
            return true;
        }
        // Reads (ours included) open ref files; only writes matter.
        if matches!(event.kind, EventKind::Access(kind) if kind != AccessKind::Close(AccessMode::Write))
        {
            return false;
        }
        event
            .paths
            .iter()
            .any(|path| path.starts_with(&self.heads) || *path == self.packed_refs)
    }
}
