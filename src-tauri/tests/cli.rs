//! The command line, as a user in a terminal runs it: the real `stageline`
//! binary against a running core (the app's engine and adapters on a real
//! SQLite file, a private keychain, real Git) through its control socket,
//! and against the same files when no app answers.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use stageline_app::core::{Core, CoreConfig};
use stageline_app::inputs::*;
use stageline_app::services::{accounts, stacks, stages};
use stageline_engine::flow::Input;
use stageline_engine::ports::{Events, Source};
use stageline_engine::{DecisionSource, PipelineEvent};

struct NoEvents;

impl Events for NoEvents {
    fn emit(&self, _event: PipelineEvent) {}
}

/// `stageline ARGS` with the app's data under `xdg`.
fn stageline(xdg: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stageline"))
        .args(args)
        .env("XDG_DATA_HOME", xdg)
        .output()
        .unwrap()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn git(repo: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(repo)
        .env("GIT_AUTHOR_NAME", "Ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_sees_the_pipeline_approves_and_reads_logs_with_and_without_the_app() {
    assert!(
        std::env::var("DBUS_SESSION_BUS_ADDRESS").is_ok(),
        "this test needs the private keyring the test command starts"
    );
    let dir = tempfile::tempdir().unwrap();
    let xdg = dir.path().join("xdg");
    let data = xdg.join("dev.stageline.app");

    // Nothing yet: status says so, and a bad command is refused with code 2.
    let none = stageline(&xdg, &["status"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        text(&none).1.contains("start the app once"),
        "{:?}",
        text(&none)
    );
    let bad = stageline(&xdg, &["deploy", "shop"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).1.contains("is not a command"));
    let help = stageline(&xdg, &["approve", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help)
        .0
        .contains("Usage: stageline approve STACK STAGE"));

    let mut config = CoreConfig::new(&data);
    config.keychain_service = format!("stageline-cli-test-{}", std::process::id());
    let core = Core::start(config, Arc::new(NoEvents)).await.unwrap();
    stageline_app::cli::server::serve(core.clone(), &data).unwrap();

    let repo = dir.path().join("shop");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(
        repo.join("build.yml"),
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo hello from the build\n",
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "First version"]);
    let account = accounts::create(
        &core,
        NewAccount {
            name: "Sandbox".into(),
            default_region: "us-east-1".into(),
            endpoint_url: Some(
                std::env::var("STAGELINE_MOTO_URL").unwrap_or("http://127.0.0.1:5055".into()),
            ),
            credentials: CredentialsInput::Keys {
                access_key_id: "AKIDCLI".into(),
                secret_access_key: "cli-secret".into(),
                session_token: None,
            },
        },
    )
    .await
    .unwrap();
    let stack = stacks::create(
        &core,
        NewStack {
            name: "shop".into(),
            repository: repo.display().to_string(),
            branch: "main".into(),
            account_id: account.id,
            poll_interval_secs: 30,
            https_token: None,
        },
        false,
    )
    .await
    .unwrap();
    // dev requires approval: the branch head waits there.
    let dev = stacks::dashboard(&core).await.unwrap()[0].stages[0].clone();
    let mut settings = dev.stage.settings.clone();
    settings.requires_approval = true;
    let input = StageSettingsInput {
        name: settings.name,
        region: settings.region,
        database: settings.database,
        requires_approval: true,
        routing: settings.routing,
        caching: settings.caching,
        build_env: vec![],
        runtime_env: vec![],
        desired_count: settings.desired_count,
        container_port: settings.container_port,
        health_path: settings.health_path,
        cpu_architecture: settings.cpu_architecture,
        submodules_and_lfs: settings.submodules_and_lfs,
        run_without_sandbox: settings.run_without_sandbox,
        verification: Some(stageline_engine::Verification::legacy()),
        approval_expiry_hours: None,
        deploy_window: None,
        approval_policy: None,
    };
    stages::update(&core, dev.stage.id, input).await.unwrap();
    let head = core.git.head(&stack).await.unwrap();
    core.pipeline
        .send(Input::CommitDetected {
            stack_id: stack.id,
            head: head.clone(),
            included: vec![],
            forced: false,
        })
        .await
        .unwrap();

    let status = stageline(&xdg, &["status"]);
    let (out, err) = text(&status);
    assert_eq!(status.status.code(), Some(0), "{err}");
    assert!(out.contains("shop  (main · Sandbox)"), "{out}");
    assert!(out.contains("awaiting approval:"), "{out}");
    let json = stageline(&xdg, &["status", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        report["stacks"][0]["stages"][0]["pendingApproval"]["release"]["sha"],
        head.short_sha()
    );

    let missing = stageline(&xdg, &["approve", "shop", "prod"]);
    assert_eq!(missing.status.code(), Some(4));
    assert!(text(&missing).1.contains("has no stage \"prod\""));
    let approved = stageline(
        &xdg,
        &["approve", "shop", "dev", "--comment", "from a terminal"],
    );
    assert_eq!(approved.status.code(), Some(0), "{:?}", text(&approved));
    assert!(text(&approved).0.contains("Approved"));
    let history = core.store.approval_history(dev.stage.id, 5).await.unwrap();
    let decision = history[0].decision.clone().unwrap();
    assert_eq!(decision.via, DecisionSource::Cli);
    assert_eq!(decision.comment, "from a terminal");
    let again = stageline(&xdg, &["approve", "shop", "dev"]);
    assert_eq!(again.status.code(), Some(4), "nothing waits any more");

    // The run's build log (the build pushes no image: the run then fails).
    let mut log = String::new();
    for _ in 0..200 {
        log = text(&stageline(
            &xdg,
            &["logs", "shop", "dev", "--part", "build"],
        ))
        .0;
        if log.contains("hello from the build") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(log.contains("hello from the build"), "{log}");

    // Without the app: status and logs still read its files; decisions need it.
    std::fs::remove_file(data.join("control.sock")).unwrap();
    let offline = stageline(&xdg, &["status"]);
    assert_eq!(offline.status.code(), Some(0), "{:?}", text(&offline));
    assert!(text(&offline).0.contains("shop  (main · Sandbox)"));
    let offline_log = stageline(&xdg, &["logs", "shop", "dev", "--part", "build", "--json"]);
    assert!(
        text(&offline_log).0.contains("{\"line\":"),
        "{:?}",
        text(&offline_log)
    );
    let refused = stageline(&xdg, &["reject", "shop", "dev"]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(text(&refused).1.contains("Stageline is not running"));
}
