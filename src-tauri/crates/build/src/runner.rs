//! The Builder port: runs a part's buildspec phase by phase, as CodeBuild does.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use stageline_engine::domain::PartKind;
use stageline_engine::error::{PortError, System};
use stageline_engine::ports::{BoxFuture, BuildJob, Builder, LogSink};

use crate::buildspec::{parse_buildspec, Buildspec, OnFailure, Phase, PhaseName};
use crate::environment;
use crate::masking::SecretMask;
use crate::sandbox::{PrivateDirs, SandboxLayout};
use crate::session::{CommandOutcome, Launch, ShellSession, StartError};

/// How long a part may run when nothing else is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Runs `build.yml` / `release.yml` with bash on this machine (the Builder port).
#[derive(Debug, Clone)]
pub struct BuildspecRunner {
    timeout: Duration,
    /// `bwrap`; found on Stageline's own PATH when not set.
    sandbox_program: Option<PathBuf>,
    /// Stageline's environment as parts inherit it; `None`: the process's own.
    host_env: Option<Arc<BTreeMap<String, OsString>>>,
}

impl BuildspecRunner {
    /// A runner that stops any part still running after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        BuildspecRunner {
            timeout,
            sandbox_program: None,
            host_env: None,
        }
    }

    /// The per-part time limit.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Starts sandboxes with `program` instead of the `bwrap` on PATH.
    pub fn with_sandbox_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.sandbox_program = Some(program.into());
        self
    }

    /// Takes what parts inherit (`PATH`, `HOME`, Docker's variables…) from
    /// `vars` instead of Stageline's own environment.
    pub fn with_host_env(mut self, vars: impl IntoIterator<Item = (String, OsString)>) -> Self {
        self.host_env = Some(Arc::new(vars.into_iter().collect()));
        self
    }
}

impl Default for BuildspecRunner {
    /// A runner with [`DEFAULT_TIMEOUT`].
    fn default() -> Self {
        BuildspecRunner::new(DEFAULT_TIMEOUT)
    }
}

impl Builder for BuildspecRunner {
    fn run(
        &self,
        job: BuildJob,
        log: Arc<dyn LogSink>,
    ) -> BoxFuture<'static, Result<(), PortError>> {
        Box::pin(run_part(job, log, self.clone()))
    }
}

/// The buildspec file of a part, at the repository root (`None` for Deploy).
pub fn buildspec_file(part: PartKind) -> Option<&'static str> {
    match part {
        PartKind::Build => Some("build.yml"),
        PartKind::Release => Some("release.yml"),
        PartKind::Deploy => None,
        // R18: a stage's smoke tests, with STAGE_URL.
        PartKind::Verify => Some("verify.yml"),
    }
}

/// The log, with every secret masked on the way in.
struct MaskedLog {
    sink: Arc<dyn LogSink>,
    mask: SecretMask,
}

impl MaskedLog {
    fn line(&self, text: &str) {
        self.sink.line(&self.mask.apply_line(text));
    }
}

async fn run_part(
    job: BuildJob,
    sink: Arc<dyn LogSink>,
    runner: BuildspecRunner,
) -> Result<(), PortError> {
    let timeout = runner.timeout;
    // The user's secrets and Stageline's (the stage's AWS credentials).
    let mask = SecretMask::new(
        job.env
            .iter()
            .chain(&job.injected)
            .filter(|var| var.secret)
            .map(|var| var.value.as_str()),
    );
    let fail = |message: String| PortError::new(System::Build, mask.apply(&message));
    let file = buildspec_file(job.part)
        .ok_or_else(|| fail("the deploy part has no buildspec to run".into()))?;
    let spec = load(&job.workdir, job.part, file).map_err(fail)?;
    let log = MaskedLog {
        sink,
        mask: mask.clone(),
    };

    log.line(&format!("[Container] Processing {file}"));
    for note in &spec.ignored {
        log.line(&format!("[Container] {note}"));
    }
    let inherited = |name: &str| match &runner.host_env {
        Some(vars) => vars.get(name).cloned(),
        None => std::env::var_os(name),
    };
    let mut env = environment::compose(
        inherited,
        &spec.variables,
        &job.env,
        &job.workdir,
        &job.injected,
    );
    let launch = if job.sandboxed {
        // What is mounted follows Stageline's and the user's variables only:
        // a buildspec's own `env.variables` cannot widen the sandbox.
        let trusted = environment::compose(inherited, &[], &job.env, &job.workdir, &job.injected);
        let launch = sandbox_launch(&runner, &trusted, &job.workdir)
            .map_err(|e| fail(format!("{file}: the sandbox could not be prepared: {e:#}")))?;
        if let Launch::Sandboxed { layout, .. } = &launch {
            log.line(&format!("[Container] {}", layout.describe()));
        }
        // The part's own /tmp, whatever TMPDIR Stageline runs with.
        env.insert("TMPDIR".into(), "/tmp".into());
        launch
    } else {
        log.line(
            "[Container] Running without the sandbox (the stage's setting): commands have all of \
             your rights on this machine",
        );
        Launch::Direct
    };
    let mut session = ShellSession::start(&job.workdir, &env, mask.longest(), launch)
        .await
        .map_err(|error| fail(start_failure(file, error)))?;

    let outcome = tokio::time::timeout(timeout, run_phases(&spec, &mut session, &log)).await;
    // Whatever happened, nothing the commands started outlives the part.
    session.close().await;
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(failure)) => Err(fail(format!("{file}: {failure}"))),
        Err(_elapsed) => {
            let limit = describe_duration(timeout);
            log.line(&format!(
                "[Container] Timed out after {limit}: stopped every process of {file}"
            ));
            Err(fail(format!(
                "{file}: timed out after {limit}; Stageline stopped it and every process it started"
            )))
        }
    }
}

/// What turning the sandbox off means, for every message that offers it.
const SANDBOX_OFF_HINT: &str =
    "To build without it, turn on \"Run without sandbox\" in the stage's \
     settings (its builds then run with all of your rights on this machine).";

/// The part's private directories and the sandbox it runs in.
fn sandbox_launch(
    runner: &BuildspecRunner,
    trusted: &BTreeMap<String, OsString>,
    workdir: &Path,
) -> anyhow::Result<Launch> {
    let search_path = trusted.get("PATH").cloned().unwrap_or_default();
    let program = match &runner.sandbox_program {
        Some(program) => program.clone(),
        None => find_program("bwrap", &search_path).unwrap_or_else(|| PathBuf::from("bwrap")),
    };
    let bash = find_program("bash", &OsString::from("/usr/bin:/bin"))
        .or_else(|| find_program("bash", &search_path))
        .unwrap_or_else(|| PathBuf::from("/bin/bash"));
    let private_dir = std::env::temp_dir().join(format!(
        "stageline-part-{}-{}",
        std::process::id(),
        next_part_number()
    ));
    let home = private_dir.join("home");
    let tmp = private_dir.join("tmp");
    {
        use std::os::unix::fs::DirBuilderExt;
        let mut builder = std::fs::DirBuilder::new();
        builder.mode(0o700);
        builder
            .create(&private_dir)
            .map_err(anyhow::Error::from)
            .and_then(|()| builder.create(&home).map_err(anyhow::Error::from))
            .and_then(|()| builder.create(&tmp).map_err(anyhow::Error::from))
            .map_err(|e| {
                let _ = std::fs::remove_dir_all(&private_dir);
                e.context(format!("creating {}", private_dir.display()))
            })?;
    }
    let layout = SandboxLayout::new(
        trusted,
        workdir,
        PrivateDirs {
            home: &home,
            tmp: &tmp,
        },
    );
    Ok(Launch::Sandboxed {
        program,
        bash,
        layout,
        private_dir,
    })
}

fn next_part_number() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The first executable `name` in `path`.
fn find_program(name: &str, path: &OsString) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// Why the part could not start, with what to do about it.
fn start_failure(file: &str, error: StartError) -> String {
    match error {
        StartError::SandboxMissing(program) => format!(
            "{file}: the sandbox could not start: bubblewrap ({}) is not installed. Install it \
             (Debian and Ubuntu: `sudo apt install bubblewrap`; `.ci/setup` does). {SANDBOX_OFF_HINT}",
            program.display()
        ),
        StartError::SandboxRefused(said) => {
            let said = if said.is_empty() {
                "bubblewrap ended without saying why".to_string()
            } else {
                said
            };
            format!(
                "{file}: the sandbox could not start: {said}. This machine may not allow user \
                 namespaces (the kernel settings kernel.unprivileged_userns_clone or \
                 user.max_user_namespaces, or AppArmor's restriction of unprivileged user \
                 namespaces). {SANDBOX_OFF_HINT}"
            )
        }
        StartError::Other(error) => format!("{file}: could not start bash: {error:#}"),
    }
}

/// Reads and parses the part's buildspec, with messages a user can act on.
fn load(workdir: &Path, part: PartKind, file: &str) -> Result<Buildspec, String> {
    if !workdir.is_dir() {
        return Err(format!(
            "the checkout directory {} does not exist",
            workdir.display()
        ));
    }
    let path = workdir.join(file);
    if let Ok(meta) = std::fs::metadata(&path) {
        let size = usize::try_from(meta.len()).unwrap_or(usize::MAX);
        if size > crate::buildspec::MAX_BUILDSPEC_BYTES {
            return Err(format!(
                "{file} is {} KB; a buildspec may be at most {} KB",
                size.div_ceil(1024),
                crate::buildspec::MAX_BUILDSPEC_BYTES / 1024
            ));
        }
    }
    let text = match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| format!("{file} is not UTF-8 text"))?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let purpose = match part {
                PartKind::Release => "for every stage to promote the image to that stage",
                PartKind::Verify => {
                    "after each deploy of a stage whose smoke tests are on, with STAGE_URL"
                }
                _ => "once per commit to build the image",
            };
            return Err(format!(
                "{file} was not found at the repository root; Stageline runs it {purpose} (CodeBuild buildspec, version 0.2)"
            ));
        }
        Err(error) => return Err(format!("{file} could not be read: {error}")),
    };
    parse_buildspec(&text).map_err(|error| format!("{file}: {error}"))
}

/// Why a phase failed.
struct PhaseFailure {
    phase: PhaseName,
    command: String,
    cause: FailureCause,
}

enum FailureCause {
    Exited(i32),
    ShellLost(String),
}

impl fmt::Display for PhaseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = self.phase.label();
        let command = &self.command;
        match &self.cause {
            FailureCause::Exited(code) => write!(
                f,
                "phase {phase} failed: command `{command}` exited with code {code}"
            ),
            FailureCause::ShellLost(reason) => write!(
                f,
                "phase {phase} failed: {reason} while running `{command}`"
            ),
        }
    }
}

/// Runs the phases in order; the first failure is the part's failure.
async fn run_phases(
    spec: &Buildspec,
    session: &mut ShellSession,
    log: &MaskedLog,
) -> Result<(), PhaseFailure> {
    let mut first_failure: Option<PhaseFailure> = None;
    let mut stopped_by: Option<PhaseName> = None;
    for phase in &spec.phases {
        if let Some(failed) = stopped_by {
            log.line(&format!(
                "[Container] Skipping phase {}: phase {} failed",
                phase.name.label(),
                failed.label()
            ));
            continue;
        }
        let Some(failure) = run_phase(phase, session, log).await else {
            continue;
        };
        let shell_lost = matches!(failure.cause, FailureCause::ShellLost(_));
        first_failure.get_or_insert(failure);
        if shell_lost {
            stopped_by = Some(phase.name);
            continue;
        }
        // As CodeBuild: later phases (POST_BUILD) can tell the build is failing.
        session
            .run("builtin export CODEBUILD_BUILD_SUCCEEDING=0", |line| {
                log.line(line)
            })
            .await;
        let goes_on = match phase.on_failure {
            Some(OnFailure::Continue) => true,
            Some(OnFailure::Abort) => false,
            // CodeBuild's transitions: a failed BUILD still runs POST_BUILD;
            // a failed INSTALL or PRE_BUILD ends the build.
            None => phase.name == PhaseName::Build,
        };
        if !goes_on {
            stopped_by = Some(phase.name);
        }
    }
    match first_failure {
        None => Ok(()),
        Some(failure) => Err(failure),
    }
}

/// Runs a phase's commands, then its `finally` commands; `None` if all succeeded.
async fn run_phase(
    phase: &Phase,
    session: &mut ShellSession,
    log: &MaskedLog,
) -> Option<PhaseFailure> {
    let label = phase.name.label();
    log.line(&format!("[Container] Entering phase {label}"));
    let mut failure = run_commands(phase.name, &phase.commands, session, log).await;
    let shell_lost = matches!(
        failure,
        Some(PhaseFailure {
            cause: FailureCause::ShellLost(_),
            ..
        })
    );
    if !phase.finally.is_empty() && !shell_lost {
        let finally_failure = run_commands(phase.name, &phase.finally, session, log).await;
        failure = failure.or(finally_failure);
    }
    match &failure {
        None => log.line(&format!(
            "[Container] Phase complete: {label} State: SUCCEEDED"
        )),
        Some(failed) => {
            log.line(&format!(
                "[Container] Phase complete: {label} State: FAILED"
            ));
            let reason = match &failed.cause {
                FailureCause::Exited(code) => format!("exit status {code}"),
                FailureCause::ShellLost(reason) => reason.clone(),
            };
            log.line(&format!(
                "[Container] Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: {}. Reason: {reason}",
                failed.command
            ));
        }
    }
    failure
}

/// Runs commands in order until one fails.
async fn run_commands(
    phase: PhaseName,
    commands: &[String],
    session: &mut ShellSession,
    log: &MaskedLog,
) -> Option<PhaseFailure> {
    for command in commands {
        for (index, line) in command.lines().enumerate() {
            if index == 0 {
                log.line(&format!("[Container] Running command {line}"));
            } else {
                log.line(line);
            }
        }
        let cause = match session.run(command, |line| log.line(line)).await {
            CommandOutcome::Exited(0) => continue,
            CommandOutcome::Exited(code) => FailureCause::Exited(code),
            CommandOutcome::ShellLost(reason) => FailureCause::ShellLost(reason),
        };
        return Some(PhaseFailure {
            phase,
            command: short_command(command),
            cause,
        });
    }
    None
}

/// A command as errors quote it: its first line, shortened.
fn short_command(command: &str) -> String {
    const MAX_CHARS: usize = 80;
    let mut lines = command
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty());
    let first = lines.next().unwrap_or_default();
    let mut short: String = first.chars().take(MAX_CHARS).collect();
    if first.chars().count() > MAX_CHARS || lines.next().is_some() {
        short.push_str(" …");
    }
    short
}

fn describe_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    let plural = |count: u128, unit: &str| {
        if count == 1 {
            format!("1 {unit}")
        } else {
            format!("{count} {unit}s")
        }
    };
    if millis > 0 && millis % 60_000 == 0 {
        plural(millis / 60_000, "minute")
    } else if millis > 0 && millis % 1000 == 0 {
        plural(millis / 1000, "second")
    } else {
        format!("{millis} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_quote_the_first_line_of_a_command() {
        assert_eq!(short_command("npm test"), "npm test");
        assert_eq!(
            short_command("\nif true; then\n  echo\nfi\n"),
            "if true; then …"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(describe_duration(DEFAULT_TIMEOUT), "30 minutes");
        assert_eq!(describe_duration(Duration::from_secs(1)), "1 second");
        assert_eq!(describe_duration(Duration::from_millis(500)), "500 ms");
    }
}
