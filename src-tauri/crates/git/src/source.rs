//! The engine's `Source` port through git2, plus what the app asks of a
//! stack's repository besides (the commits a release ships, a watcher).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context};
use git2::Oid;
use stageline_engine::ports::{BoxFuture, CheckoutOptions, CheckoutReport, InputSink, Source};
use stageline_engine::{Commit, PortError, Stack, StackId, System};
use tokio::sync::mpsc;

use crate::checkout::prepare_workspace;
use crate::credentials::{CredentialLookup, GitCredentials};
use crate::history::{commits_between, read_commit};
use crate::messages::port_error;
use crate::mirror::set_aside;
use crate::repository::BranchSource;
use crate::watcher::{ReleaseWatcher, WatchEvent, WatchHandle, WatchTarget};

/// Reads stacks' branches and checks out their commits, always through a bare
/// mirror per stack in `cache_dir` (Stageline's own object store), which also
/// holds each stack's commit checkouts (`checkouts/`).
#[derive(Clone)]
pub struct GitSource {
    cache_dir: PathBuf,
    credentials: CredentialLookup,
    /// The branches the engine has this source watch ([`Source::watch`]).
    watches: Arc<Mutex<HashMap<StackId, WatchHandle>>>,
}

impl std::fmt::Debug for GitSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSource")
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

impl GitSource {
    /// A source keeping mirrors and checkouts under `cache_dir`, signing in with what
    /// `credentials` returns for a stack (looked up anew on every call).
    pub fn new(
        cache_dir: PathBuf,
        credentials: impl Fn(&Stack) -> GitCredentials + Send + Sync + 'static,
    ) -> GitSource {
        GitSource {
            cache_dir,
            credentials: Arc::new(credentials),
            watches: Arc::default(),
        }
    }

    /// A source for repositories that need no sign-in (local ones, tests).
    pub fn without_credentials(cache_dir: PathBuf) -> GitSource {
        GitSource::new(cache_dir, |_| GitCredentials::default())
    }

    /// The commits in `to` and not in `from`, newest first, at most `limit`
    /// (what an approval will ship). `from: None` lists `to`'s history.
    pub async fn commits_between(
        &self,
        stack: &Stack,
        from: Option<&str>,
        to: &str,
        limit: usize,
    ) -> Result<Vec<Commit>, PortError> {
        let source = self.branch_source(stack);
        let from = from.map(str::to_string);
        let to = to.to_string();
        self.blocking(source, move |source| {
            let to = Oid::from_str(&to).map_err(|_| anyhow!("\"{to}\" is not a commit id"))?;
            let from = from.as_deref().and_then(|from| Oid::from_str(from).ok());
            let mut repo = source.open()?;
            if repo.find_commit(to).is_err() {
                // A remote's newest commits may not be in the mirror yet.
                repo = source.refresh()?.0;
            }
            commits_between(&repo, from, to, limit)
                .context("Could not list the commits of the release")
        })
        .await
    }

    /// Starts watching `stack`'s branch (see [`ReleaseWatcher`]); remote
    /// repositories share this source's mirrors. `last_seen_head` is the sha of
    /// the stack's newest release.
    pub fn watch_events(
        &self,
        stack: &Stack,
        last_seen_head: Option<String>,
        events: mpsc::Sender<WatchEvent>,
    ) -> WatchHandle {
        ReleaseWatcher::spawn(self.watch_target(stack, last_seen_head), events)
    }

    /// What [`GitSource::watch`] watches, for callers that want to adjust it.
    pub fn watch_target(&self, stack: &Stack, last_seen_head: Option<String>) -> WatchTarget {
        WatchTarget {
            stack_id: stack.id,
            repository: stack.repository.clone(),
            branch: stack.branch.clone(),
            poll_interval: Duration::from_secs(u64::from(stack.poll_interval_secs.max(1))),
            last_seen_head,
            credentials: (self.credentials)(stack),
            cache_dir: self.cache_dir.clone(),
        }
    }

    /// Deletes a stack's mirrors and commit checkouts (after the stack is deleted).
    pub async fn forget(&self, stack: &Stack) -> Result<(), PortError> {
        let prefix = format!("stack-{}-", stack.id.0);
        self.blocking(self.branch_source(stack), move |source| {
            source
                .mirror
                .exclusive(|| set_aside(&source.checkouts_dir()))?;
            let entries = match std::fs::read_dir(&source.cache_dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e).context("Could not read the Git cache folder"),
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    crate::locks::exclusive(&path, || set_aside(&path))
                        .context("Could not delete Stageline's copy of the repository")?;
                }
            }
            Ok(())
        })
        .await
    }

    fn branch_source(&self, stack: &Stack) -> BranchSource {
        BranchSource::new(
            &self.cache_dir,
            stack.id,
            &stack.repository,
            &stack.branch,
            (self.credentials)(stack),
        )
    }

    /// Runs blocking git2 work off the async threads and turns its failure
    /// into the port's error.
    async fn blocking<T: Send + 'static>(
        &self,
        source: BranchSource,
        work: impl FnOnce(&BranchSource) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, PortError> {
        let joined = tokio::task::spawn_blocking(move || {
            work(&source).map_err(|error| port_error(&error, source.secret()))
        })
        .await;
        joined.unwrap_or_else(|_| {
            Err(PortError::new(
                System::Git,
                "A Git operation stopped unexpectedly.",
            ))
        })
    }
}

impl Source for GitSource {
    fn head(&self, stack: &Stack) -> BoxFuture<'_, Result<Commit, PortError>> {
        let source = self.branch_source(stack);
        Box::pin(self.blocking(source, |source| {
            let (repo, head) = source.refresh()?;
            read_commit(&repo, head)
        }))
    }

    fn checkout(
        &self,
        stack: &Stack,
        sha: &str,
        dir: PathBuf,
        options: CheckoutOptions,
    ) -> BoxFuture<'_, Result<CheckoutReport, PortError>> {
        let source = self.branch_source(stack);
        let sha = sha.to_string();
        Box::pin(self.blocking(source, move |source| {
            prepare_workspace(source, &sha, &dir, options)
        }))
    }

    fn watch(&self, stack: &Stack, last_seen_head: Option<String>, inputs: InputSink) {
        let (events, mut received) = mpsc::channel::<WatchEvent>(16);
        let handle = self.watch_events(stack, last_seen_head, events);
        // Ends when the watch does (its sender goes with it).
        tokio::spawn(async move {
            while let Some(event) = received.recv().await {
                inputs(event.into());
            }
        });
        let mut watches = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        watches.insert(stack.id, handle);
    }

    fn unwatch(&self, stack: StackId) {
        let mut watches = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        watches.remove(&stack);
    }
}
