//! What a part starts from: which file, its errors, the environment by
//! precedence, and secrets masked everywhere.

mod support;

use stageline_build::BuildspecRunner;
use stageline_engine::domain::PartKind;
use support::{checkout_with_build, job, position, run_build, run_job, var};

#[tokio::test]
async fn missing_build_yml_names_the_file_and_what_it_is_for() {
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = run_job(
        &BuildspecRunner::default(),
        job(dir.path(), PartKind::Build),
    )
    .await;
    assert_eq!(
        result.unwrap_err().message,
        "build.yml was not found at the repository root; Stageline runs it once per commit to build the image (CodeBuild buildspec, version 0.2)"
    );
}

#[tokio::test]
async fn missing_release_yml_names_the_file_and_what_it_is_for() {
    // A build.yml is there: the release part must not run it.
    let dir = checkout_with_build("version: 0.2\nphases:\n  build:\n    commands: [echo]\n");
    let (result, _) = run_job(
        &BuildspecRunner::default(),
        job(dir.path(), PartKind::Release),
    )
    .await;
    assert_eq!(
        result.unwrap_err().message,
        "release.yml was not found at the repository root; Stageline runs it for every stage to promote the image to that stage (CodeBuild buildspec, version 0.2)"
    );
}

#[tokio::test]
async fn release_part_runs_release_yml() {
    let dir =
        checkout_with_build("version: 0.2\nphases:\n  build:\n    commands: [echo from build]\n");
    std::fs::write(
        dir.path().join("release.yml"),
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo from release\n",
    )
    .unwrap();
    let (result, lines) = run_job(
        &BuildspecRunner::default(),
        job(dir.path(), PartKind::Release),
    )
    .await;
    result.unwrap();
    position(&lines, "from release");
    assert!(!lines.iter().any(|line| line == "from build"));
}

#[tokio::test]
async fn malformed_yaml_gives_line_and_column() {
    let (result, lines) = run_build(
        "version: 0.2
phases:
  build:
    commands:
      - echo ok
     - echo misaligned
",
    )
    .await;
    let message = result.unwrap_err().message;
    assert!(
        message.starts_with("build.yml: not valid YAML at line 6, column "),
        "{message}"
    );
    assert!(lines.is_empty(), "nothing runs: {lines:#?}");
}

#[tokio::test]
async fn unknown_keys_are_errors_and_harmless_ones_are_logged() {
    let (result, _) =
        run_build("version: 0.2\nphases:\n  build:\n    commands: [echo]\nstages: {}\n").await;
    assert!(result
        .unwrap_err()
        .message
        .starts_with("build.yml: unknown top-level key `stages`"));

    let (result, lines) = run_build(
        "version: 0.2\nphases:\n  build:\n    commands: [echo]\nartifacts:\n  files: ['**/*']\n",
    )
    .await;
    result.unwrap();
    assert!(lines
        .iter()
        .any(|line| line.starts_with("[Container] `artifacts` is ignored")));
}

#[tokio::test]
async fn environment_layers_buildspec_then_user_then_injected() {
    let dir = checkout_with_build(
        "version: 0.2
env:
  variables:
    FROM_SPEC: spec
    SPEC_AND_USER: spec
    STAGE_NAME: spec
phases:
  build:
    commands:
      - echo \"$FROM_SPEC $SPEC_AND_USER $FROM_USER $STAGE_NAME\"
      - echo \"src=$CODEBUILD_SRC_DIR\"
      - echo \"home=${HOME:+set} path=${PATH:+set} cargo=${CARGO_MANIFEST_DIR:-unset}\"
",
    );
    let mut job = job(dir.path(), PartKind::Build);
    job.env = vec![
        var("SPEC_AND_USER", "user", false),
        var("FROM_USER", "user", false),
        var("STAGE_NAME", "user", false),
    ];
    job.injected = vec![stageline_engine::ports::ResolvedVar::plain(
        "STAGE_NAME",
        "beta",
    )];
    let (result, lines) = run_job(&BuildspecRunner::default(), job).await;
    result.unwrap();
    position(&lines, "spec user user beta");
    position(&lines, &format!("src={}", dir.path().display()));
    // Only PATH, HOME, LANG, TMPDIR and Docker's variables come from the
    // runner's environment (cargo sets CARGO_MANIFEST_DIR for this test process).
    position(&lines, "home=set path=set cargo=unset");
}

#[tokio::test]
async fn stagelines_secret_variables_are_masked_like_the_users() {
    let dir = checkout_with_build(
        "version: 0.2
phases:
  build:
    commands:
      - echo \"key=$AWS_SECRET_ACCESS_KEY id=$AWS_ACCESS_KEY_ID\"
      - test \"$AWS_SECRET_ACCESS_KEY\" = stage-session-secret
",
    );
    let mut job = job(dir.path(), PartKind::Build);
    job.injected = vec![
        stageline_engine::ports::ResolvedVar::plain("AWS_ACCESS_KEY_ID", "ASIASESSION"),
        stageline_engine::ports::ResolvedVar::secret(
            "AWS_SECRET_ACCESS_KEY",
            "stage-session-secret",
        ),
    ];
    let (result, lines) = run_job(&BuildspecRunner::default(), job).await;
    result.unwrap();
    position(&lines, "key=*** id=ASIASESSION");
    assert!(lines.iter().all(|l| !l.contains("stage-session-secret")));
}

#[tokio::test]
async fn secret_values_are_masked_in_output_echoes_and_errors() {
    let secret = "hunter2-very-secret";
    let dir = checkout_with_build(&format!(
        "version: 0.2
phases:
  build:
    commands:
      - echo \"token is $API_TOKEN\"
      - echo \"$API_TOKEN\" >&2
      - printf '%s' \"$API_TOKEN\"
      - echo literal {secret}
      - test {secret} = nothing
"
    ));
    let mut job = job(dir.path(), PartKind::Build);
    job.env = vec![
        var("API_TOKEN", secret, true),
        var("PLAIN", "not-secret", false),
    ];
    let (result, lines) = run_job(&BuildspecRunner::default(), job).await;
    let message = result.unwrap_err().message;
    assert_eq!(
        message,
        "build.yml: phase BUILD failed: command `test *** = nothing` exited with code 1"
    );
    assert!(
        lines.iter().all(|line| !line.contains(secret)),
        "{lines:#?}"
    );
    position(&lines, "token is ***");
    position(&lines, "[Container] Running command echo literal ***");
    position(&lines, "literal ***");
    assert!(lines.iter().filter(|line| *line == "***").count() >= 2);
}
