//! The engine's flow end to end with the real Source (git2 on a real
//! repository, the branch watcher) and the real Builder (build.yml and
//! release.yml in bash), a fake Deployer, and the real SQLite store.

use std::sync::Arc;
use std::time::Duration;

use stageline_build::BuildspecRunner;
use stageline_engine::flow::Input;
use stageline_engine::order::first_stage_settings;
use stageline_engine::pipeline::{Pipeline, PipelineConfig};
use stageline_engine::testing::*;
use stageline_engine::*;
use stageline_git::GitSource;
use stageline_integration::{
    commit_files, deployed_sha, git, latest_status, make_repo, stack_on, wait_for,
};
use stageline_store::SqliteStore;
use tokio::sync::mpsc;

// The buildspecs "push" by writing a tag's digest into $REGISTRY (the fake
// registry's folder), as build.yml pushes :<sha> and release.yml copies
// :$PREVIOUS_STAGE_NAME to :$STAGE_NAME. That folder is a place of this
// machine outside the checkout, which the sandbox (rightly) hides: these
// stages are set to run without it (tinystacks_flow runs sandboxed).
const BUILD: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo built $(git rev-parse HEAD)\n      - test -f app.txt\n      - echo sha256:$(git rev-parse HEAD) > $REGISTRY/$(git rev-parse HEAD)\n      - cp $REGISTRY/$(git rev-parse HEAD) $REGISTRY/latest\n";
const RELEASE: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo release $STAGE_NAME after $PREVIOUS_STAGE_NAME in $STAGE_REGION\n      - echo token is $API_TOKEN\n      - cp $REGISTRY/$PREVIOUS_STAGE_NAME $REGISTRY/$STAGE_NAME\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_flow_through_real_git_and_real_buildspecs() {
    let dir = tempfile::tempdir().unwrap();
    let repo = make_repo(
        dir.path(),
        &[
            ("app.txt", "v1"),
            ("build.yml", BUILD),
            ("release.yml", RELEASE),
        ],
    );
    let registry = dir.path().join("registry");
    std::fs::create_dir_all(&registry).unwrap();
    let fakes = Fakes::with_registry(FakeRegistry::in_folder(registry.clone()));
    let registry_var = EnvVar {
        name: "REGISTRY".into(),
        value: EnvValue::Plain {
            value: registry.display().to_string(),
        },
    };
    let source = GitSource::without_credentials(dir.path().join("mirrors"));
    let mut ports = fakes.ports();
    ports.store = Arc::new(
        SqliteStore::open(&dir.path().join("stageline.db"))
            .await
            .unwrap(),
    );
    ports.source = Arc::new(source.clone());
    ports.builder = Arc::new(BuildspecRunner::new(Duration::from_secs(60)));
    let config = PipelineConfig {
        workspaces: dir.path().join("workspaces"),
        keep_workspaces: false,
    };
    let pipeline = Pipeline::start(ports, config).await.unwrap();

    let (stack, dev) = stack_on(&pipeline, test_account(1), "shop", &repo).await;
    let mut dev_settings = first_stage_settings("us-east-1");
    dev_settings.build_env = vec![registry_var.clone()];
    dev_settings.run_without_sandbox = true;
    pipeline
        .send(Input::UpdateStage {
            stage_id: dev,
            settings: dev_settings,
        })
        .await
        .unwrap();
    let mut prod = first_stage_settings("us-west-2");
    prod.name = "prod".into();
    prod.run_without_sandbox = true;
    fakes.secrets.put("env/token", "hunter2-secret");
    prod.build_env = vec![
        EnvVar {
            name: "API_TOKEN".into(),
            value: EnvValue::Secret {
                keychain_ref: "env/token".into(),
            },
        },
        registry_var.clone(),
    ];
    pipeline
        .send(Input::CreateStage {
            stack_id: stack.id,
            after: Some(dev),
            settings: prod,
        })
        .await
        .unwrap();

    // The real watcher turns the branch head into the first release.
    let (events, mut received) = mpsc::channel(16);
    let _watch = source.watch(&stack, None, events);
    let forward = Input::from;
    pipeline.notify(forward(received.recv().await.unwrap()));
    let first = git(&repo, &["rev-parse", "HEAD"]);
    let sha = first.clone();
    wait_for(&pipeline, "prod runs the first commit", 60, move |s| {
        deployed_sha(s, StackId(2), "prod") == Some(sha.clone())
    })
    .await;

    // The release part ran release.yml with the stage's variables; the secret is masked.
    let prod_run = pipeline
        .read(|s| s.latest_run(s.flow_of(StackId(2))[1].id).cloned())
        .await
        .unwrap()
        .unwrap();
    let release_log = fakes.logs.lines(prod_run.id, PartKind::Release).join("\n");
    assert!(
        release_log.contains("release prod after dev in us-west-2"),
        "{release_log}"
    );
    assert!(release_log.contains("token is ***"), "{release_log}");
    assert!(!release_log.contains("hunter2-secret"));
    assert_eq!(
        prod_run.part(PartKind::Build).status,
        PartStatus::Reused,
        "built once, for dev"
    );
    let dev_run = pipeline
        .read(move |s| s.latest_run(dev).cloned())
        .await
        .unwrap()
        .unwrap();
    let build_log = fakes.logs.lines(dev_run.id, PartKind::Build).join("\n");
    assert!(
        build_log.contains(&format!("built {first}")),
        "the checkout is the exact commit: {build_log}"
    );

    // A commit that breaks the build stops at dev (R4); prod keeps the first.
    git(&repo, &["rm", "-q", "app.txt"]);
    git(&repo, &["commit", "-q", "-m", "Remove app.txt"]);
    pipeline.notify(forward(received.recv().await.unwrap()));
    wait_for(&pipeline, "dev's build failed", 60, |s| {
        latest_status(s, StackId(2), "dev") == Some(RunStatus::Failed)
    })
    .await;
    let failed = pipeline
        .read(move |s| s.latest_run(dev).cloned())
        .await
        .unwrap()
        .unwrap();
    let message = failed.part(PartKind::Build).message.clone().unwrap();
    assert!(
        message.contains("build.yml: phase BUILD failed"),
        "{message}"
    );
    assert_eq!(
        pipeline
            .read(|s| deployed_sha(s, StackId(2), "prod"))
            .await
            .unwrap(),
        Some(first)
    );

    // The fix flows all the way.
    let fixed = commit_files(&repo, &[("app.txt", "v3")], "Fix the build");
    pipeline.notify(forward(received.recv().await.unwrap()));
    wait_for(&pipeline, "prod runs the fix", 60, move |s| {
        deployed_sha(s, StackId(2), "prod") == Some(fixed.clone())
    })
    .await;
    assert!(
        !dir.path()
            .join("workspaces")
            .read_dir()
            .unwrap()
            .any(|_| true),
        "checkouts are removed after each part"
    );
}
