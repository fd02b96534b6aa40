//! Noticing new commits on a stack's branch (R2): local repositories through
//! file-system notifications, remote ones by fetching on an interval.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use git2::Oid;
use stageline_engine::{Commit, StackId};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::credentials::GitCredentials;
use crate::history::{head_move, HeadMove};
use crate::messages::user_message;
use crate::ref_watch::RefWatch;
use crate::repository::{BranchSource, Origin};

/// A local repository is re-read this often even without notifications, in
/// case one was missed (a network file system, a full inotify queue).
pub const LOCAL_SAFETY_RECHECK: Duration = Duration::from_secs(10);
/// How often a local repository is read when it cannot be watched at all.
pub const LOCAL_FALLBACK_POLL: Duration = Duration::from_secs(1);
/// The first retry of a failing local repository; later ones double.
const LOCAL_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between retries of a failing local repository.
const LOCAL_RETRY_CAP: Duration = Duration::from_secs(30);
/// The longest wait between retries of an unreachable remote (unless its poll interval is longer).
const REMOTE_RETRY_CAP: Duration = Duration::from_secs(300);

/// What to watch: one stack's branch.
#[derive(Debug, Clone)]
pub struct WatchTarget {
    pub stack_id: StackId,
    /// A local path, or a `file://`, `https://` or `ssh://` URL.
    pub repository: String,
    pub branch: String,
    /// How often a remote repository is fetched (local ones are watched).
    pub poll_interval: Duration,
    /// The sha of the stack's newest release; `None` for a new stack, whose
    /// current head is then reported once so it gets its first release.
    pub last_seen_head: Option<String>,
    pub credentials: GitCredentials,
    /// Where remote mirrors live (the same folder as the `GitSource`'s, so they share them).
    pub cache_dir: PathBuf,
}

/// What the watcher tells the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// The branch has a new head: one release. Commits pushed together with it
    /// are in `included` (newest first, without the head, at most 50). After a
    /// force-push (the head does not descend from the previous one) `forced`
    /// is true and `included` is empty.
    NewHead {
        stack_id: StackId,
        head: Commit,
        included: Vec<Commit>,
        forced: bool,
    },
    /// `Some`: the branch cannot be read (unreachable remote, deleted branch…),
    /// retried with backoff. `None`: it can again; the warning is over.
    Warning {
        stack_id: StackId,
        message: Option<String>,
    },
}

impl From<WatchEvent> for stageline_engine::flow::Input {
    /// What the engine makes of a watch event: a commit detected (R2) or a stack warning.
    fn from(event: WatchEvent) -> Self {
        use stageline_engine::flow::Input;
        match event {
            WatchEvent::NewHead {
                stack_id,
                head,
                included,
                forced,
            } => Input::CommitDetected {
                stack_id,
                head,
                included,
                forced,
            },
            WatchEvent::Warning { stack_id, message } => Input::StackWarning { stack_id, message },
        }
    }
}

/// A running watch. Dropping it (or [`WatchHandle::stop`]) stops the watch.
#[derive(Debug)]
pub struct WatchHandle {
    task: JoinHandle<()>,
}

impl WatchHandle {
    /// Stops the watch.
    pub fn stop(self) {}

    /// Whether the watch has ended (only when the events receiver was dropped).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches stacks' branches for new commits.
#[derive(Debug)]
pub struct ReleaseWatcher;

impl ReleaseWatcher {
    /// Starts watching `target` on the current tokio runtime; events go to
    /// `events`. At start the head is compared with `last_seen_head`, so commits
    /// made while the app was closed are reported. The watch ends when the
    /// handle is dropped or the receiver of `events` is.
    pub fn spawn(target: WatchTarget, events: mpsc::Sender<WatchEvent>) -> WatchHandle {
        WatchHandle {
            task: tokio::spawn(watch(target, events)),
        }
    }
}

/// What one look at the branch found.
type Observation = Result<Option<HeadMove>, String>;

async fn watch(target: WatchTarget, events: mpsc::Sender<WatchEvent>) {
    let source = Arc::new(BranchSource::new(
        &target.cache_dir,
        target.stack_id,
        &target.repository,
        &target.branch,
        target.credentials.clone(),
    ));
    let local_path = match &source.origin {
        Origin::Local(path) => Some(path.clone()),
        Origin::Remote(_) => None,
    };
    let retry = Retry::new(local_path.is_some(), target.poll_interval);
    let mut reporter = Reporter {
        stack_id: target.stack_id,
        events,
        last_seen: target.last_seen_head.clone(),
        warning: None,
        failures: 0,
    };
    let (wake, mut woken) = mpsc::channel::<()>(1);
    let mut ref_watch: Option<RefWatch> = None;

    loop {
        // Watch before reading, so a commit between the two is not missed. After
        // a failure the repository may have been moved away and back: watch it anew.
        if let (Some(path), true) = (&local_path, ref_watch.is_none() || reporter.failures > 0) {
            let (path, wake) = (path.clone(), wake.clone());
            ref_watch = tokio::task::spawn_blocking(move || RefWatch::start(&path, wake).ok())
                .await
                .ok()
                .flatten();
        }

        let observed = observe(Arc::clone(&source), reporter.last_seen.clone()).await;
        if !reporter.report(observed).await {
            return; // nobody listens any more
        }

        let delay = match (reporter.failures, &local_path, &ref_watch) {
            (0, Some(_), Some(_)) => LOCAL_SAFETY_RECHECK,
            (0, Some(_), None) => LOCAL_FALLBACK_POLL,
            (0, None, _) => target.poll_interval,
            (failures, _, _) => retry.after(failures),
        };
        tokio::select! {
            _ = woken.recv() => {}
            () = tokio::time::sleep(delay) => {}
        }
        // Several notifications for one update need one look.
        while woken.try_recv().is_ok() {}
    }
}

/// Turns what each look found into events: a new head once, a warning once
/// per distinct problem, and its clearing once the branch reads again.
struct Reporter {
    stack_id: StackId,
    events: mpsc::Sender<WatchEvent>,
    last_seen: Option<String>,
    /// The warning shown now, if any.
    warning: Option<String>,
    /// Failed looks in a row.
    failures: u32,
}

impl Reporter {
    /// Sends what `observed` calls for; false when nobody receives events any more.
    async fn report(&mut self, observed: Observation) -> bool {
        let stack_id = self.stack_id;
        match observed {
            Ok(moved) => {
                self.failures = 0;
                if self.warning.take().is_some() {
                    let cleared = WatchEvent::Warning {
                        stack_id,
                        message: None,
                    };
                    if self.events.send(cleared).await.is_err() {
                        return false;
                    }
                }
                let Some(HeadMove {
                    head,
                    included,
                    forced,
                }) = moved
                else {
                    return true;
                };
                self.last_seen = Some(head.sha.clone());
                let event = WatchEvent::NewHead {
                    stack_id,
                    head,
                    included,
                    forced,
                };
                self.events.send(event).await.is_ok()
            }
            Err(message) => {
                self.failures = self.failures.saturating_add(1);
                if self.warning.as_deref() == Some(message.as_str()) {
                    return true;
                }
                self.warning = Some(message.clone());
                let event = WatchEvent::Warning {
                    stack_id,
                    message: Some(message),
                };
                self.events.send(event).await.is_ok()
            }
        }
    }
}

/// Reads the branch (fetching a remote) and describes how its head moved since `last_seen`.
async fn observe(source: Arc<BranchSource>, last_seen: Option<String>) -> Observation {
    let looked = tokio::task::spawn_blocking(move || {
        let (repo, head) = source
            .refresh()
            .map_err(|e| user_message(&e, source.secret()))?;
        let unchanged = last_seen.as_deref().and_then(|sha| Oid::from_str(sha).ok()) == Some(head);
        if unchanged {
            return Ok(None);
        }
        head_move(&repo, last_seen.as_deref(), head)
            .map(Some)
            .map_err(|e| user_message(&e, source.secret()))
    })
    .await;
    looked.unwrap_or_else(|_| Err("Reading the repository stopped unexpectedly.".to_string()))
}

/// Exponential backoff for a branch that cannot be read.
struct Retry {
    first: Duration,
    cap: Duration,
}

impl Retry {
    fn new(local: bool, poll_interval: Duration) -> Retry {
        if local {
            Retry {
                first: LOCAL_RETRY,
                cap: LOCAL_RETRY_CAP,
            }
        } else {
            Retry {
                first: poll_interval,
                cap: REMOTE_RETRY_CAP.max(poll_interval),
            }
        }
    }

    /// The wait after `failures` failures in a row (at least 1).
    fn after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(16);
        self.first.saturating_mul(1 << doublings).min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_the_cap() {
        let retry = Retry::new(false, Duration::from_secs(30));
        let waits: Vec<u64> = (1..=6).map(|n| retry.after(n).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 300, 300]);
        assert_eq!(
            Retry::new(true, Duration::from_secs(30)).after(100),
            LOCAL_RETRY_CAP
        );
    }
}
