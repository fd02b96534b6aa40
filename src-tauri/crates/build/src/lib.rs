//! Runs a repository's `build.yml` (part Build) and `release.yml` (part
//! Release) on this machine: the engine's `Builder` port, implemented by
//! [`BuildspecRunner`].
//!
//! # The buildspec subset (CodeBuild buildspec, version 0.2)
//! The file sits at the checkout's root. A missing file, malformed YAML (with
//! its line and column), an unknown key or an unsupported construct fails the
//! part with a message naming the file; nothing is silently ignored. A file
//! is at most 1 MB, with lists and mappings nested at most 128 deep (limits
//! that keep any input, generated ones included, from making the parser
//! slow: see `tests/generated_inputs.rs`).
//! - `version: 0.2` (required; 0.1 runs each command in its own shell and is
//!   refused).
//! - `env.variables`: a mapping of names to scalar values, set literally
//!   (`$PATH` in a value is not expanded, as in CodeBuild). `env.shell: bash`
//!   is accepted; `env.exported-variables` and `env.git-credential-helper`
//!   are ignored with a log line; `env.parameter-store` and
//!   `env.secrets-manager` are refused (use Stageline's secret variables).
//! - `phases.{install, pre_build, build, post_build}`, each with `commands`
//!   (required; a list, where a multi-line `|` block is one command),
//!   `finally` (a list) and `on-failure: ABORT | CONTINUE`.
//!   `install.runtime-versions` is ignored with a log line; `run-as` is refused.
//! - `artifacts`, `cache`, `reports` and `proxy` are ignored with a log line;
//!   `batch` and top-level `run-as` are refused.
//!
//! # Phase rules (as CodeBuild)
//! - Phases present in the file run in the order install → pre_build → build
//!   → post_build. A phase's commands run one at a time; the first command
//!   exiting non-zero skips the phase's remaining commands.
//! - `finally` runs after the phase's commands whatever happened to them
//!   (until one of its own commands fails). A phase fails if any of its
//!   `commands` or `finally` commands fails.
//! - After a failed phase: with `on-failure` unset, CodeBuild's phase
//!   transitions apply — a failed INSTALL or PRE_BUILD ends the part, a failed
//!   BUILD still runs POST_BUILD; `on-failure: ABORT` runs no later phase (not
//!   even POST_BUILD); `on-failure: CONTINUE` runs the next phase.
//! - A part with any failed phase fails, with the first failure as its
//!   message ("build.yml: phase BUILD failed: command `npm test` exited with
//!   code 1"). `CODEBUILD_BUILD_SUCCEEDING` is `1`, and `0` once a phase has
//!   failed, so post_build commands can check it as on CodeBuild.
//!
//! # The shell
//! One bash process per part, in the checkout directory, runs every command
//! in order (`driver.sh`), so state carries from one command to the next as
//! in CodeBuild's single shell: the working directory (`cd`), variables
//! (exported or not; read-only ones excepted), functions, and `set`/`shopt`
//! options. Each command runs
//! in a subshell of that bash whose state is carried back, so `exit 3`,
//! `exec` or `set -e` end that command only (with its exit code), never the
//! session. Commands read stdin from `/dev/null`. Nothing is added to the
//! commands: no `set -e`, no `pipefail` (as CodeBuild), unless the
//! buildspec sets them. Aliases and traps do not carry over.
//!
//! # The sandbox (issue 15)
//! A part runs inside bubblewrap (`bwrap`) unless its stage is set to run
//! without it (`BuildJob::sandboxed`): only the checkout and a private `/tmp`
//! are writable; the home is an empty, private folder (with a private copy
//! of `~/.docker/config.json` when the user has one); `/usr`, `/etc` (minus
//! its secret files) and the directories of the trusted `PATH` — with the
//! Python environments their tools run from — are read-only; the Docker
//! socket and a `DOCKER_CONFIG` the user named (writable) are there when the
//! user has Docker; the part has its own PID namespace, so it sees only its
//! own processes and all of them end with it; the network is the machine's.
//! What is mounted is decided from Stageline's and the user's variables
//! only, never from the buildspec's `env.variables`. The log says what is
//! visible. When bwrap is missing or the kernel refuses its namespaces, the
//! part fails with bwrap's reason and how to turn the sandbox off.
//!
//! # Environment, by precedence (later wins)
//! 1. From Stageline's own environment, only `PATH`, `HOME`, `LANG`, `TMPDIR`
//!    and Docker's variables (`TMPDIR` is `/tmp` in the sandbox);
//! 2. the buildspec's `env.variables`;
//! 3. the user's variables (`BuildJob::env`: stack and stage variables);
//! 4. `CODEBUILD_SRC_DIR` (the checkout) and `CODEBUILD_BUILD_SUCCEEDING`;
//! 5. Stageline's injected variables (`BuildJob::injected`, R3), which
//!    therefore nothing in the buildspec or the user's settings overrides.
//!
//! # Output
//! stdout and stderr, merged, reach the log sink line by line as they are
//! written, framed by CodeBuild-style lines (`[Container] Entering phase
//! BUILD`, `[Container] Running command …`, `[Container] Phase complete:
//! BUILD State: SUCCEEDED`). Every value of a variable marked secret is
//! replaced by `***` in every line (command output, command echoes, notes)
//! and in error messages.
//!
//! # Time limit and cancellation
//! A part still running after the runner's timeout (default 30 minutes) is
//! stopped and fails with a message saying so. bash (or bwrap) runs in its
//! own process group; on timeout, on the end of the part, and when the
//! returned future is dropped (the engine aborting the task), the whole group
//! is killed, and with bwrap the part's PID namespace with it, so no
//! command's process outlives its part — in the sandbox not even one that
//! leaves the group (`setsid`, daemons). Without the sandbox such a process
//! escapes.

mod buildspec;
mod environment;
mod masking;
mod output;
mod runner;
mod sandbox;
mod session;

pub use buildspec::{
    parse_buildspec, Buildspec, BuildspecError, OnFailure, Phase, PhaseName, MAX_BUILDSPEC_BYTES,
};
pub use runner::{buildspec_file, BuildspecRunner, DEFAULT_TIMEOUT};
