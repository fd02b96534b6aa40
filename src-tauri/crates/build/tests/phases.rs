//! How phases and commands run: order, shared shell state, failures,
//! on-failure, finally, and POST_BUILD after a failed BUILD.

mod support;

use support::{position, run_build};

#[tokio::test]
async fn phases_run_in_codebuild_order_whatever_the_file_order() {
    let (result, lines) = run_build(
        "version: 0.2
phases:
  post_build:
    commands:
      - echo post
  build:
    commands:
      - echo build
  pre_build:
    commands:
      - echo pre
  install:
    commands:
      - echo install
",
    )
    .await;
    result.unwrap();
    let order = ["install", "pre", "build", "post"].map(|word| position(&lines, word));
    assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "{lines:#?}");
    let headers = [
        "[Container] Entering phase INSTALL",
        "[Container] Entering phase PRE_BUILD",
        "[Container] Entering phase BUILD",
        "[Container] Entering phase POST_BUILD",
    ]
    .map(|header| position(&lines, header));
    assert!(headers.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(position(&lines, "[Container] Running command echo build") < position(&lines, "build"));
    assert!(
        position(&lines, "build")
            < position(&lines, "[Container] Phase complete: BUILD State: SUCCEEDED")
    );
}

#[tokio::test]
async fn directory_variables_and_functions_persist_across_commands_and_phases() {
    let (result, lines) = run_build(
        "version: 0.2
phases:
  install:
    commands:
      - mkdir -p sub/dir && cd sub/dir
      - export EXPORTED=yes; PLAIN=also; greet() { echo \"hello $1\"; }
  build:
    commands:
      - echo \"$(basename \"$PWD\") $EXPORTED $PLAIN\"
      - greet phase
      - bash -c 'echo \"child sees ${EXPORTED:-nothing} ${PLAIN:-nothing}\"'
      - unset EXPORTED
      - echo \"after unset ${EXPORTED:-gone}\"
",
    )
    .await;
    result.unwrap();
    position(&lines, "dir yes also");
    position(&lines, "hello phase");
    position(&lines, "child sees yes nothing");
    position(&lines, "after unset gone");
}

#[tokio::test]
async fn multi_line_block_command_runs_as_one_command() {
    let (result, lines) = run_build(
        "version: 0.2
phases:
  build:
    commands:
      - |
        for word in one two; do
          echo \"word $word\"
        done
      - echo done
",
    )
    .await;
    result.unwrap();
    assert!(position(&lines, "word one") < position(&lines, "word two"));
    position(
        &lines,
        "[Container] Running command for word in one two; do",
    );
}

#[tokio::test]
async fn failing_command_fails_the_run_and_skips_the_rest() {
    let (result, lines) = run_build(
        "version: 0.2
phases:
  install:
    commands:
      - echo installed
  pre_build:
    commands:
      - echo before
      - npm_test() { return 1; }; npm_test
      - echo never
  build:
    commands:
      - echo build never
",
    )
    .await;
    let error = result.unwrap_err();
    assert_eq!(
        error.message,
        "build.yml: phase PRE_BUILD failed: command `npm_test() { return 1; }; npm_test` exited with code 1"
    );
    position(
        &lines,
        "[Container] Phase complete: PRE_BUILD State: FAILED",
    );
    assert!(!lines
        .iter()
        .any(|line| line == "never" || line == "build never"));
    assert!(!lines.contains(&"[Container] Entering phase BUILD".to_string()));
}

#[tokio::test]
async fn exit_in_a_command_ends_only_that_command_with_its_code() {
    let (result, lines) = run_build(
        "version: 0.2
phases:
  build:
    on-failure: CONTINUE
    commands:
      - cd /tmp; exit 7
  post_build:
    commands:
      - echo \"still here in $PWD\"
",
    )
    .await;
    assert_eq!(
        result.unwrap_err().message,
        "build.yml: phase BUILD failed: command `cd /tmp; exit 7` exited with code 7"
    );
    position(&lines, "still here in /tmp");
}

#[tokio::test]
async fn on_failure_continue_runs_the_next_phases_but_the_run_still_fails() {
    let (result, lines) = run_build(
        "version: 0.2
phases:
  install:
    on-failure: CONTINUE
    commands:
      - exit 2
  pre_build:
    commands:
      - echo pre ran
  build:
    commands:
      - echo \"build ran, succeeding=$CODEBUILD_BUILD_SUCCEEDING\"
",
    )
    .await;
    assert_eq!(
        result.unwrap_err().message,
        "build.yml: phase INSTALL failed: command `exit 2` exited with code 2"
    );
    position(&lines, "pre ran");
    position(&lines, "build ran, succeeding=0");
}

#[tokio::test]
async fn finally_runs_after_a_failed_command_and_after_success() {
    let (result, lines) = run_build(
        "version: 0.2
phases:
  install:
    commands:
      - echo install ok
    finally:
      - echo install cleanup
  build:
    commands:
      - \"false\"
      - echo never
    finally:
      - echo build cleanup
      - echo second cleanup
",
    )
    .await;
    assert_eq!(
        result.unwrap_err().message,
        "build.yml: phase BUILD failed: command `false` exited with code 1"
    );
    assert!(position(&lines, "install ok") < position(&lines, "install cleanup"));
    assert!(
        position(&lines, "[Container] Running command false") < position(&lines, "build cleanup")
    );
    assert!(position(&lines, "build cleanup") < position(&lines, "second cleanup"));
    assert!(
        position(&lines, "second cleanup")
            < position(&lines, "[Container] Phase complete: BUILD State: FAILED")
    );
    assert!(!lines.iter().any(|line| line == "never"));
}

#[tokio::test]
async fn failing_finally_fails_an_otherwise_successful_phase() {
    let (result, _lines) = run_build(
        "version: 0.2
phases:
  build:
    commands:
      - echo fine
    finally:
      - exit 5
",
    )
    .await;
    assert_eq!(
        result.unwrap_err().message,
        "build.yml: phase BUILD failed: command `exit 5` exited with code 5"
    );
}

#[tokio::test]
async fn post_build_runs_after_a_failed_build_and_sees_it_failing() {
    let (result, lines) = run_build(
        "version: 0.2
phases:
  build:
    commands:
      - echo \"building, succeeding=$CODEBUILD_BUILD_SUCCEEDING\"
      - exit 3
  post_build:
    commands:
      - echo \"post_build ran, succeeding=$CODEBUILD_BUILD_SUCCEEDING\"
",
    )
    .await;
    assert_eq!(
        result.unwrap_err().message,
        "build.yml: phase BUILD failed: command `exit 3` exited with code 3"
    );
    position(&lines, "building, succeeding=1");
    assert!(
        position(&lines, "[Container] Phase complete: BUILD State: FAILED")
            < position(&lines, "post_build ran, succeeding=0")
    );
}

#[tokio::test]
async fn explicit_abort_on_build_skips_post_build() {
    let (result, lines) = run_build(
        "version: 0.2
phases:
  build:
    on-failure: ABORT
    commands:
      - exit 3
  post_build:
    commands:
      - echo post_build ran
",
    )
    .await;
    assert!(result.is_err());
    assert!(!lines.iter().any(|line| line == "post_build ran"));
    position(
        &lines,
        "[Container] Skipping phase POST_BUILD: phase BUILD failed",
    );
}

#[tokio::test]
async fn failed_install_ends_the_run_without_post_build() {
    let (result, lines) = run_build(
        "version: 0.2
phases:
  install:
    commands:
      - exit 1
  build:
    commands:
      - echo build ran
  post_build:
    commands:
      - echo post_build ran
",
    )
    .await;
    assert!(result.is_err());
    assert!(!lines
        .iter()
        .any(|line| line == "build ran" || line == "post_build ran"));
}

#[tokio::test]
async fn commands_cannot_read_the_runners_input() {
    let (result, lines) = run_build(
        "version: 0.2
phases:
  build:
    commands:
      - cat; echo \"read done\"
      - echo next command ran
",
    )
    .await;
    result.unwrap();
    position(&lines, "read done");
    position(&lines, "next command ran");
}

#[tokio::test]
async fn command_killed_by_a_signal_fails_with_its_code_and_the_session_goes_on() {
    let (result, lines) = run_build(
        "version: 0.2
phases:
  build:
    commands:
      - cd /tmp
      - kill -9 $BASHPID
    finally:
      - echo \"finally in $PWD\"
",
    )
    .await;
    assert_eq!(
        result.unwrap_err().message,
        "build.yml: phase BUILD failed: command `kill -9 $BASHPID` exited with code 137"
    );
    position(&lines, "finally in /tmp");
    assert!(
        !lines.iter().any(|line| line.contains("Killed")),
        "driver internals leaked: {lines:#?}"
    );
}
