//! One bash process per part, running the part's commands one at a time
//! (see `driver.sh`), in its own process group so that the whole tree can be
//! killed at once.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::output::{OutputEvent, OutputSplitter};

const DRIVER: &str = include_str!("driver.sh");

/// How one command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CommandOutcome {
    /// The command ran to its end with this exit code.
    Exited(i32),
    /// The shell itself is gone (a command killed it); nothing more can run.
    ShellLost(String),
}

/// A running bash driver. Dropping it kills its whole process group.
pub(crate) struct ShellSession {
    // Declared first so it drops first: the group is killed while bash, its
    // leader, is still unreaped, so the group id cannot have been reused.
    group: GroupGuard,
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    splitter: OutputSplitter,
    events: Vec<OutputEvent>,
}

/// Kills the process group and removes the driver's files when dropped.
struct GroupGuard {
    /// `None` once the group has been killed and bash reaped.
    pgid: Option<Pid>,
    state_file: PathBuf,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // ESRCH (already gone) is fine.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        let _ = std::fs::remove_file(&self.state_file);
        let mut names_file = self.state_file.clone().into_os_string();
        names_file.push(".names");
        let _ = std::fs::remove_file(names_file);
    }
}

impl ShellSession {
    /// Starts bash in `workdir` with exactly `env`. `longest_secret` sizes the
    /// output splitter so a secret is never cut in two.
    pub(crate) fn start(
        workdir: &Path,
        env: &BTreeMap<String, OsString>,
        longest_secret: usize,
    ) -> anyhow::Result<Self> {
        let token = format!("__stageline_end_{}", random_hex()?);
        // The state file holds the commands' variables (secrets included):
        // created private, removed by the guard.
        let state_file = std::env::temp_dir().join(format!("stageline-build-{token}.state"));
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&state_file)
            .with_context(|| format!("creating {}", state_file.display()))?;
        let mut guard = GroupGuard {
            pgid: None,
            state_file,
        };

        let mut command = Command::new("bash");
        command
            .arg("--noprofile")
            .arg("--norc")
            .arg("-c")
            .arg(DRIVER)
            .arg("stageline-build")
            .arg(&guard.state_file)
            .arg(&token)
            .current_dir(workdir)
            .env_clear()
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().context("starting bash")?;
        let pid = child.id().context("bash ended at once")?;
        guard.pgid = Some(Pid::from_raw(i32::try_from(pid).context("process id")?));
        let stdin = child.stdin.take().context("bash's stdin")?;
        let stdout = child.stdout.take().context("bash's stdout")?;
        Ok(ShellSession {
            group: guard,
            child,
            stdin,
            stdout,
            splitter: OutputSplitter::new(&token, longest_secret),
            events: Vec::new(),
        })
    }

    /// Runs one command, giving each output line to `on_line` as it comes.
    pub(crate) async fn run(
        &mut self,
        command: &str,
        mut on_line: impl FnMut(&str),
    ) -> CommandOutcome {
        let mut input = Vec::with_capacity(command.len() + 1);
        input.extend_from_slice(command.as_bytes());
        input.push(0);
        if self.stdin.write_all(&input).await.is_err() || self.stdin.flush().await.is_err() {
            return self.lost(&mut on_line).await;
        }

        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let mut ended = None;
            // Lines after the marker come from background processes: shown too.
            for event in self.events.drain(..) {
                match event {
                    OutputEvent::Line(line) => on_line(&line),
                    OutputEvent::CommandEnded(code) => ended = ended.or(Some(code)),
                }
            }
            if let Some(code) = ended {
                return CommandOutcome::Exited(code);
            }
            tokio::select! {
                biased;
                read = self.stdout.read(&mut chunk) => match read {
                    Ok(0) | Err(_) => return self.lost(&mut on_line).await,
                    Ok(n) => self.splitter.push(&chunk[..n], &mut self.events),
                },
                _ = self.child.wait() => return self.lost(&mut on_line).await,
            }
        }
    }

    /// Kills whatever the commands left running and reaps bash.
    pub(crate) async fn close(mut self) {
        if let Some(pgid) = self.group.pgid {
            let _ = killpg(pgid, Signal::SIGKILL);
            let _ = self.child.wait().await;
            self.group.pgid = None;
        }
    }

    async fn lost(&mut self, on_line: &mut impl FnMut(&str)) -> CommandOutcome {
        self.splitter.finish(&mut self.events);
        for event in self.events.drain(..) {
            if let OutputEvent::Line(line) = event {
                on_line(&line);
            }
        }
        // Whatever is left of the group goes; bash itself is (being) gone.
        if let Some(pgid) = self.group.pgid {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        let status = self.child.wait().await;
        self.group.pgid = None;
        let how = match status {
            Ok(status) => match status.code() {
                Some(code) => format!("with code {code}"),
                None => "on a signal".to_string(),
            },
            Err(_) => "for an unknown reason".to_string(),
        };
        CommandOutcome::ShellLost(format!("the shell running the buildspec ended {how}"))
    }
}

fn random_hex() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut source| source.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
