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
use crate::sandbox::SandboxLayout;

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
    /// The sandbox's private home and /tmp on this machine.
    private_dir: Option<PathBuf>,
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
        if let Some(dir) = &self.private_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// How bash is started: directly, or inside the sandbox.
pub(crate) enum Launch {
    /// bash on this machine, with the user's rights.
    Direct,
    /// bash inside bubblewrap: `program` is `bwrap`, `layout` what the part sees.
    Sandboxed {
        program: PathBuf,
        bash: PathBuf,
        layout: SandboxLayout,
        /// The part's private directories on this machine (home, /tmp).
        private_dir: PathBuf,
    },
}

/// Why the shell could not start.
#[derive(Debug)]
pub(crate) enum StartError {
    /// `bwrap` is not there.
    SandboxMissing(PathBuf),
    /// `bwrap` ran and refused, with what it said.
    SandboxRefused(String),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for StartError {
    fn from(error: anyhow::Error) -> Self {
        StartError::Other(error)
    }
}

/// What bwrap (or bash) wrote to stderr before the driver took it over.
const MAX_STARTUP_STDERR: usize = 4096;

impl ShellSession {
    /// Starts bash in `workdir` with exactly `env`, directly or in the
    /// sandbox, and waits until the driver is ready. `longest_secret` sizes
    /// the output splitter so a secret is never cut in two.
    pub(crate) async fn start(
        workdir: &Path,
        env: &BTreeMap<String, OsString>,
        longest_secret: usize,
        launch: Launch,
    ) -> Result<Self, StartError> {
        let token = format!("__stageline_end_{}", random_hex()?);
        // A dot name: a command's `rm -rf /tmp/*` leaves it.
        let state_name = format!(".stageline-build-{token}.state");
        // The state file holds the commands' variables (secrets included):
        // created private, removed by the guard. In the sandbox it is in the
        // part's private /tmp.
        let (state_file, state_inside, private_dir) = match &launch {
            Launch::Direct => {
                let path = std::env::temp_dir().join(&state_name);
                (path.clone(), path, None)
            }
            Launch::Sandboxed { private_dir, .. } => (
                private_dir.join("tmp").join(&state_name),
                Path::new("/tmp").join(&state_name),
                Some(private_dir.clone()),
            ),
        };
        let mut guard = GroupGuard {
            pgid: None,
            state_file: state_file.clone(),
            private_dir,
        };
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&state_file)
            .with_context(|| format!("creating {}", state_file.display()))?;

        let bash_args: Vec<OsString> = vec![
            "--noprofile".into(),
            "--norc".into(),
            "-c".into(),
            DRIVER.into(),
            "stageline-build".into(),
            state_inside.into(),
            token.clone().into(),
        ];
        let mut command = match &launch {
            Launch::Direct => {
                let mut command = Command::new("bash");
                command.args(&bash_args).current_dir(workdir);
                command
            }
            Launch::Sandboxed {
                program,
                bash,
                layout,
                ..
            } => {
                let mut inner = vec![bash.clone().into_os_string()];
                inner.extend(bash_args);
                let mut command = Command::new(program);
                command.args(layout.bwrap_args(&inner));
                command
            }
        };
        command
            .env_clear()
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(match launch {
                    Launch::Sandboxed { program, .. } => StartError::SandboxMissing(program),
                    Launch::Direct => StartError::Other(anyhow::anyhow!("bash was not found")),
                })
            }
            Err(error) => return Err(anyhow::Error::from(error).context("starting bash").into()),
        };
        let pid = child.id().context("bash ended at once")?;
        guard.pgid = Some(Pid::from_raw(i32::try_from(pid).context("process id")?));
        let stdin = child.stdin.take().context("bash's stdin")?;
        let stdout = child.stdout.take().context("bash's stdout")?;
        let stderr = child.stderr.take().context("bash's stderr")?;
        // Drained from the start, so nothing writing there can ever block.
        let startup_stderr = tokio::spawn(async move {
            let mut kept = Vec::new();
            let mut limited = stderr.take(MAX_STARTUP_STDERR as u64);
            let _ = limited.read_to_end(&mut kept).await;
            let mut rest = limited.into_inner();
            let _ = tokio::io::copy(&mut rest, &mut tokio::io::sink()).await;
            kept
        });
        let mut session = ShellSession {
            group: guard,
            child,
            stdin,
            stdout,
            splitter: OutputSplitter::new(&token, longest_secret),
            events: Vec::new(),
        };
        // The driver reports once it is ready; a sandbox that could not start
        // ends first, with its reason on stderr.
        let ready = session.run_ready().await;
        if ready {
            return Ok(session);
        }
        let _ = session.child.wait().await;
        let said = startup_stderr.await.unwrap_or_default();
        let said = String::from_utf8_lossy(&said).trim().to_string();
        Err(match launch {
            Launch::Sandboxed { .. } => StartError::SandboxRefused(said),
            Launch::Direct => StartError::Other(anyhow::anyhow!("bash ended at once: {said}")),
        })
    }

    /// Waits for the driver's first marker; `false` if the shell ended first.
    async fn run_ready(&mut self) -> bool {
        let mut chunk = vec![0u8; 4096];
        loop {
            if let Some(at) = self
                .events
                .iter()
                .position(|event| matches!(event, OutputEvent::CommandEnded(_)))
            {
                self.events.drain(..=at);
                return true;
            }
            match self.stdout.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => self.splitter.push(&chunk[..n], &mut self.events),
            }
        }
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
