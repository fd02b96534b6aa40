//! What a part's commands cannot reach (issue 15): a build from the
//! repository tries to read a file planted in the user's home, to write
//! outside its checkout, to leave a process running and to see other
//! processes; each attempt fails, its log shows it, and the part itself —
//! which also builds — succeeds. A machine where the sandbox cannot start
//! fails the part with the reason and the way to turn the sandbox off.
//!
//! These run the real `bwrap` (Debian's `bubblewrap`, installed by
//! `.ci/setup`); they fail, never skip, where it is missing.

mod support;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use stageline_build::BuildspecRunner;
use stageline_engine::domain::PartKind;
use stageline_engine::ports::Builder;
use support::{
    all_gone, checkout_with_build, job, job_without_sandbox, run_job, unique_sleep, RecordingSink,
};

/// A folder of this machine outside every checkout (not under /tmp, which
/// the sandbox replaces anyway).
fn outside_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}

/// A runner whose user has `home` as their home.
fn runner_with_home(home: &Path) -> BuildspecRunner {
    BuildspecRunner::default().with_host_env([
        ("HOME".to_string(), home.as_os_str().to_owned()),
        (
            "PATH".to_string(),
            std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin")),
        ),
    ])
}

/// A process of the machine the part should not see; killed when dropped.
struct OutsideProcess(Child);

impl Drop for OutsideProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_build_cannot_read_the_home_write_outside_keep_processes_or_see_others() {
    let home = outside_dir("home-");
    let planted = home.path().join("planted-secret.txt");
    std::fs::write(&planted, "the-planted-secret-content").unwrap();
    let outside = outside_dir("outside-");
    let escaped = outside.path().join("escaped.txt");
    let lingering = unique_sleep(300);
    let watched = unique_sleep(300);
    let _other = OutsideProcess(Command::new("sleep").arg(&watched).spawn().unwrap());

    let dir = checkout_with_build(&format!(
        r#"version: 0.2
phases:
  build:
    commands:
      - cat "{planted}" || echo "BLOCKED read of the planted file"
      - ls -A "$HOME"; echo "home holds $(ls -A "$HOME" | wc -l) entries"
      - echo escaped > "{escaped}" || echo "BLOCKED write outside the checkout"
      - touch /usr/escaped || echo "BLOCKED write into /usr"
      - setsid sleep {lingering} > /dev/null 2>&1 < /dev/null &
      - |
        seen=no
        for p in /proc/[0-9]*; do
          [ "$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)" = "sleep {watched} " ] && seen=yes
        done
        echo "outside process seen: $seen; processes visible: $(ls -d /proc/[0-9]* | wc -l)"
      - echo built > artifact.txt
      - echo "wrote $(cat artifact.txt) in the checkout"
"#,
        planted = planted.display(),
        escaped = escaped.display(),
    ));
    let (result, lines) = run_job(
        &runner_with_home(home.path()),
        job(dir.path(), PartKind::Build),
    )
    .await;
    let text = lines.join("\n");
    result.unwrap_or_else(|e| panic!("{}\n{text}", e.message));

    assert!(!text.contains("the-planted-secret-content"), "{text}");
    assert!(text.contains("No such file or directory"), "{text}");
    assert!(text.contains("BLOCKED read of the planted file"), "{text}");
    assert!(text.contains("home holds 0 entries"), "{text}");
    assert!(
        text.contains("BLOCKED write outside the checkout"),
        "{text}"
    );
    assert!(!escaped.exists(), "the build wrote {}", escaped.display());
    assert!(text.contains("Read-only file system"), "{text}");
    assert!(text.contains("BLOCKED write into /usr"), "{text}");
    assert!(text.contains("outside process seen: no"), "{text}");
    assert!(
        all_gone(&lingering).await,
        "a process started with setsid outlived the part"
    );
    // The build itself did its work, in the checkout.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("artifact.txt")).unwrap(),
        "built\n"
    );
    assert!(text.contains("wrote built in the checkout"), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[Container] Sandbox: only the checkout")),
        "the log says what the part can reach: {text}"
    );
}

#[tokio::test]
async fn without_the_sandbox_a_build_has_the_users_rights_and_the_log_says_so() {
    let home = outside_dir("home-");
    std::fs::write(home.path().join("planted.txt"), "visible-without-sandbox").unwrap();
    let dir = checkout_with_build(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - cat \"$HOME/planted.txt\"\n",
    );
    let (result, lines) = run_job(
        &runner_with_home(home.path()),
        job_without_sandbox(dir.path(), PartKind::Build),
    )
    .await;
    result.unwrap();
    assert!(lines.contains(&"visible-without-sandbox".to_string()));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("[Container] Running without the sandbox")));
}

#[tokio::test]
async fn tools_on_the_users_path_and_a_python_environment_stay_usable_read_only() {
    // A tool folder and a virtual environment outside /usr, named by the
    // stage's PATH variable, as the tests' AWS CLI is.
    let tools = outside_dir("tools-");
    let script = tools.path().join("hello-tool");
    std::fs::write(&script, "#!/bin/sh\necho \"tool ran\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let venv = outside_dir("venv-");
    let made = Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(venv.path())
        .status()
        .unwrap();
    assert!(made.success());
    let dir = checkout_with_build(
        "version: 0.2
phases:
  build:
    commands:
      - hello-tool
      - python3 -c 'import sys; print(\"python from\", sys.prefix)'
      - touch \"$(dirname \"$(command -v hello-tool)\")/new\" || echo BLOCKED write into a tool folder
",
    );
    let mut job = job(dir.path(), PartKind::Build);
    job.env = vec![support::var(
        "PATH",
        &format!(
            "{}:{}:/usr/bin:/bin",
            tools.path().display(),
            venv.path().join("bin").display()
        ),
        false,
    )];
    let (result, lines) = run_job(&BuildspecRunner::default(), job).await;
    let text = lines.join("\n");
    result.unwrap_or_else(|e| panic!("{}\n{text}", e.message));
    assert!(text.contains("tool ran"), "{text}");
    assert!(
        text.contains(&format!("python from {}", venv.path().display())),
        "{text}"
    );
    assert!(text.contains("BLOCKED write into a tool folder"), "{text}");
}

#[tokio::test]
async fn a_buildspec_cannot_widen_the_sandbox_through_its_own_variables() {
    let home = outside_dir("home-");
    let secret_dir = outside_dir("secret-");
    std::fs::write(secret_dir.path().join("key"), "private-key-material").unwrap();
    let dir = checkout_with_build(&format!(
        "version: 0.2
env:
  variables:
    PATH: {secret}:/usr/bin:/bin
    DOCKER_CONFIG: {secret}
phases:
  build:
    commands:
      - cat {secret}/key || echo BLOCKED
",
        secret = secret_dir.path().display()
    ));
    let (result, lines) = run_job(
        &runner_with_home(home.path()),
        job(dir.path(), PartKind::Build),
    )
    .await;
    result.unwrap();
    let text = lines.join("\n");
    assert!(!text.contains("private-key-material"), "{text}");
    assert!(text.contains("BLOCKED"), "{text}");
}

#[tokio::test]
async fn a_missing_bubblewrap_fails_the_part_saying_how_to_turn_the_sandbox_off() {
    let dir = checkout_with_build("version: 0.2\nphases:\n  build:\n    commands: [echo never]\n");
    let runner = BuildspecRunner::default().with_sandbox_program("/nonexistent/bwrap");
    let sink = RecordingSink::new();
    let error = runner
        .run(job(dir.path(), PartKind::Build), sink.clone())
        .await
        .unwrap_err()
        .message;
    assert!(
        error.starts_with(
            "build.yml: the sandbox could not start: bubblewrap (/nonexistent/bwrap) is not installed."
        ),
        "{error}"
    );
    assert!(
        error.contains("turn on \"Run without sandbox\" in the stage's settings"),
        "{error}"
    );
    assert!(!sink.lines().contains(&"never".to_string()));
}

/// `bwrap` as on a machine whose user namespaces are off: the real bwrap,
/// run by an unprivileged user inside a user namespace that allows no more
/// of them (`--disable-userns`), so the kernel refuses the sandbox's own.
fn bwrap_without_user_namespaces(dir: &Path) -> PathBuf {
    let script = dir.join("bwrap");
    std::fs::write(
        &script,
        "#!/bin/sh\nexec bwrap --unshare-user --disable-userns --uid 1000 --gid 1000 \
         --ro-bind / / --dev /dev --proc /proc -- bwrap \"$@\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[tokio::test]
async fn user_namespaces_off_fail_the_part_with_bubblewraps_reason() {
    let tools = tempfile::tempdir().unwrap();
    let dir = checkout_with_build("version: 0.2\nphases:\n  build:\n    commands: [echo never]\n");
    let runner = BuildspecRunner::default()
        .with_sandbox_program(bwrap_without_user_namespaces(tools.path()));
    let sink = RecordingSink::new();
    let error = runner
        .run(job(dir.path(), PartKind::Build), sink.clone())
        .await
        .unwrap_err()
        .message;
    assert!(
        error.starts_with(
            "build.yml: the sandbox could not start: bwrap: Creating new namespace failed"
        ),
        "{error}"
    );
    assert!(error.contains("may not allow user namespaces"), "{error}");
    assert!(error.contains("turn on \"Run without sandbox\""), "{error}");
    assert!(!sink.lines().contains(&"never".to_string()));

    // The same stage set to run without the sandbox builds.
    let (result, lines) = run_job(&runner, job_without_sandbox(dir.path(), PartKind::Build)).await;
    result.unwrap();
    assert!(lines.contains(&"never".to_string()));
}
