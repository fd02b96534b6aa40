//! Real repositories in temp dirs, made with the `git` CLI in an isolated
//! HOME (no user or system config is read), and the stacks that point at them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;
use std::time::Duration;

use stageline_engine::{AccountId, Stack, StackId};
use stageline_git::{WatchEvent, WatchTarget};
use tempfile::TempDir;
use tokio::sync::mpsc;

/// Points HOME (read by the `git` CLI and libgit2 alike) at a temp dir before
/// any Git code runs in this process, so tests never touch the real one.
pub fn isolate() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let home = TempDir::new().unwrap().keep();
        std::env::set_var("HOME", &home);
        std::env::set_var("XDG_CONFIG_HOME", home.join(".config"));
        std::env::set_var("GIT_CONFIG_NOSYSTEM", "1");
        for (name, value) in [
            ("GIT_AUTHOR_NAME", "Ada Tester"),
            ("GIT_AUTHOR_EMAIL", "ada@example.com"),
            ("GIT_COMMITTER_NAME", "Ada Tester"),
            ("GIT_COMMITTER_EMAIL", "ada@example.com"),
        ] {
            std::env::set_var(name, value);
        }
    });
}

/// Runs `git args…` in `dir` and returns its trimmed output; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    isolate();
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A working repository with branch `main`.
pub struct WorkRepo {
    pub dir: PathBuf,
}

impl WorkRepo {
    /// A new repository in `dir` (created) with one commit.
    pub fn init(dir: &Path) -> WorkRepo {
        std::fs::create_dir_all(dir).unwrap();
        git(dir, &["init", "-q", "-b", "main"]);
        let repo = WorkRepo {
            dir: dir.to_path_buf(),
        };
        repo.commit("first commit");
        repo
    }

    /// A clone of `url` in `dir`.
    pub fn clone_from(url: &str, dir: &Path) -> WorkRepo {
        git(
            dir.parent().unwrap(),
            &["clone", "-q", url, dir.to_str().unwrap()],
        );
        WorkRepo {
            dir: dir.to_path_buf(),
        }
    }

    /// Commits a change to a file named after `message`; returns the sha.
    pub fn commit(&self, message: &str) -> String {
        let file = format!("{}.txt", message.replace(' ', "-"));
        std::fs::write(self.dir.join(&file), format!("{message}\n")).unwrap();
        git(&self.dir, &["add", "-A"]);
        git(
            &self.dir,
            &[
                "commit",
                "-q",
                "-m",
                message,
                "-m",
                "More details in the body.",
            ],
        );
        self.head()
    }

    pub fn head(&self) -> String {
        git(&self.dir, &["rev-parse", "HEAD"])
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(&self.dir, args)
    }
}

/// A bare repository playing the server, reached over `file://`, with a
/// working clone that pushes to it.
pub struct Remote {
    pub _tmp: TempDir,
    pub bare: PathBuf,
    pub url: String,
    pub pusher: WorkRepo,
}

impl Remote {
    pub fn new() -> Remote {
        let tmp = TempDir::new().unwrap();
        let seed = WorkRepo::init(&tmp.path().join("seed"));
        let bare = tmp.path().join("server.git");
        git(
            tmp.path(),
            &[
                "clone",
                "-q",
                "--bare",
                seed.dir.to_str().unwrap(),
                bare.to_str().unwrap(),
            ],
        );
        let url = format!("file://{}", bare.display());
        let pusher = WorkRepo::clone_from(&url, &tmp.path().join("pusher"));
        Remote {
            _tmp: tmp,
            bare,
            url,
            pusher,
        }
    }
}

/// A stack following `branch` of `repository`.
pub fn stack(id: i64, repository: &str, branch: &str) -> Stack {
    Stack {
        id: StackId(id),
        name: format!("stack-{id}"),
        repository: repository.to_string(),
        branch: branch.to_string(),
        account_id: AccountId(1),
        poll_interval_secs: 1,
        created_at: 0,
        deleting: false,
        home_region: "us-east-1".into(),
        team: None,
    }
}

/// A watch of `branch` of `repository` with a 1 s poll interval.
pub fn target(
    repository: &str,
    branch: &str,
    last_seen_head: Option<String>,
    cache_dir: &Path,
) -> WatchTarget {
    WatchTarget {
        stack_id: StackId(7),
        repository: repository.to_string(),
        branch: branch.to_string(),
        poll_interval: Duration::from_secs(1),
        last_seen_head,
        credentials: Default::default(),
        cache_dir: cache_dir.to_path_buf(),
    }
}

/// The next event, within a generous limit.
pub async fn next_event(events: &mut mpsc::Receiver<WatchEvent>) -> WatchEvent {
    tokio::time::timeout(Duration::from_secs(30), events.recv())
        .await
        .expect("an event within 30 s")
        .expect("the watcher is running")
}

/// Whether no event arrives within `wait`.
pub async fn stays_quiet(events: &mut mpsc::Receiver<WatchEvent>, wait: Duration) -> bool {
    tokio::time::timeout(wait, events.recv()).await.is_err()
}

/// The sha, message and `included` shas of a `NewHead` event.
pub fn new_head(event: WatchEvent) -> (String, String, Vec<String>, bool) {
    match event {
        WatchEvent::NewHead {
            head,
            included,
            forced,
            ..
        } => (
            head.sha,
            head.message,
            included.into_iter().map(|c| c.sha).collect(),
            forced,
        ),
        other => panic!("expected a new head, got {other:?}"),
    }
}
