//! The engine's flow end to end with the real Source (git2 on a real
//! repository, the branch watcher, Stageline's own mirror and workspaces) and
//! the real Builder (build.yml and release.yml in bash), a fake Deployer, and
//! the real SQLite store — also while the user's own Git works on the
//! repository (`gc`, `fetch`, a branch switch).

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
    let (fakes, registry_var) = fakes_with_a_registry_folder(dir.path());
    let source = GitSource::without_credentials(dir.path().join("mirrors"));
    let mut ports = fakes.ports();
    ports.store = Arc::new(
        SqliteStore::open(&dir.path().join("stageline.db"))
            .await
            .unwrap(),
    );
    ports.source = Arc::new(source);
    ports.builder = Arc::new(BuildspecRunner::new(Duration::from_secs(60)));
    let config = PipelineConfig {
        workspaces: dir.path().join("workspaces"),
        keep_workspaces: false,
        verify_poll: stageline_engine::pipeline::VERIFY_POLL,
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

    // The engine has the real watcher turn the branch head into the first release.
    let watch = Input::WatchBranch { stack_id: stack.id };
    pipeline.send(watch).await.unwrap();
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
    wait_for(&pipeline, "prod runs the fix", 60, move |s| {
        deployed_sha(s, StackId(2), "prod") == Some(fixed.clone())
    })
    .await;
    // Workspaces are removed in the background once their part ends.
    let workspaces = dir.path().join("workspaces");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while workspaces.read_dir().unwrap().any(|_| true) {
        assert!(
            std::time::Instant::now() < deadline,
            "checkouts are removed after each part"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Each part's log says how long its checkout took and how much it wrote.
    let fixed_run = pipeline
        .read(move |s| s.latest_run(dev).cloned())
        .await
        .unwrap()
        .unwrap();
    let build_log = fakes.logs.lines(fixed_run.id, PartKind::Build).join("\n");
    assert!(build_log.contains(" s: 3 files written."), "{build_log}");
}

/// A build.yml that checks its workspace is exactly the release's commit
/// (`count.txt` says how many files `files/` holds), then writes into it.
const CHECKING_BUILD: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - test \"$(git rev-parse HEAD)\" = \"$COMMIT_SHA\"\n      - test \"$(ls files 2>/dev/null | wc -l)\" = \"$(cat count.txt)\"\n      - test -z \"$(git status --porcelain)\"\n      - echo written by the build > app.txt\n      - echo sha256:$(git rev-parse HEAD) > $REGISTRY/$(git rev-parse HEAD)\n      - cp $REGISTRY/$(git rev-parse HEAD) $REGISTRY/latest\n";
/// A release.yml that checks it sees none of the build's (or an earlier stage's) writes.
const CHECKING_RELEASE: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - test \"$(cat app.txt)\" = \"$(git show HEAD:app.txt)\"\n      - test -z \"$(git status --porcelain)\"\n      - echo written by release at $STAGE_NAME > app.txt\n      - cp $REGISTRY/$PREVIOUS_STAGE_NAME $REGISTRY/$STAGE_NAME\n";

/// Fakes whose registry is a folder real buildspecs write tags into, and
/// the `REGISTRY` variable that names it.
fn fakes_with_a_registry_folder(dir: &std::path::Path) -> (Fakes, EnvVar) {
    let registry = dir.join("registry");
    std::fs::create_dir_all(&registry).unwrap();
    let fakes = Fakes::with_registry(FakeRegistry::in_folder(registry.clone()));
    let var = EnvVar {
        name: "REGISTRY".into(),
        value: EnvValue::Plain {
            value: registry.display().to_string(),
        },
    };
    (fakes, var)
}

/// Commits 1,500 new files (loose objects, as right after a large commit) and
/// lets the commit flow dev → prod while `user` works in the repository over
/// and over; the release must reach prod untouched.
async fn flows_while_the_user_works(user: fn(&std::path::Path, usize)) {
    let dir = tempfile::tempdir().unwrap();
    let repo = make_repo(
        dir.path(),
        &[
            ("app.txt", "first"),
            ("count.txt", "0"),
            ("build.yml", CHECKING_BUILD),
            ("release.yml", CHECKING_RELEASE),
        ],
    );
    git(&repo, &["config", "gc.auto", "0"]);
    let (fakes, registry_var) = fakes_with_a_registry_folder(dir.path());
    let source = GitSource::without_credentials(dir.path().join("mirrors"));
    let mut ports = fakes.ports();
    ports.store = Arc::new(
        SqliteStore::open(&dir.path().join("stageline.db"))
            .await
            .unwrap(),
    );
    ports.source = Arc::new(source);
    ports.builder = Arc::new(BuildspecRunner::new(Duration::from_secs(60)));
    let config = PipelineConfig {
        workspaces: dir.path().join("workspaces"),
        keep_workspaces: false,
        verify_poll: stageline_engine::pipeline::VERIFY_POLL,
    };
    let pipeline = Pipeline::start(ports, config).await.unwrap();
    let (stack, dev) = stack_on(&pipeline, test_account(1), "shop", &repo).await;
    let mut dev_settings = first_stage_settings("us-east-1");
    dev_settings.build_env = vec![registry_var.clone()];
    // The registry folder lies outside the checkout (see BUILD above).
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
    prod.build_env = vec![registry_var];
    prod.run_without_sandbox = true;
    pipeline
        .send(Input::CreateStage {
            stack_id: stack.id,
            after: Some(dev),
            settings: prod,
        })
        .await
        .unwrap();
    let watch = Input::WatchBranch { stack_id: stack.id };
    pipeline.send(watch).await.unwrap();
    let first = git(&repo, &["rev-parse", "HEAD"]);
    wait_for(&pipeline, "prod runs the first commit", 60, move |s| {
        deployed_sha(s, StackId(2), "prod") == Some(first.clone())
    })
    .await;

    std::fs::create_dir_all(repo.join("files")).unwrap();
    for i in 0..1500 {
        std::fs::write(repo.join(format!("files/{i}.txt")), format!("file {i}\n")).unwrap();
    }
    let release = commit_files(
        &repo,
        &[("app.txt", "release"), ("count.txt", "1500")],
        "Add 1,500 files",
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let worker = {
        let (repo, stop) = (repo.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut round = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                user(&repo, round);
                round += 1;
            }
            round
        })
    };
    // The watcher may meet the user's Git mid-operation; it looks again.
    let sha = release.clone();
    wait_for(&pipeline, "prod runs the release", 120, move |s| {
        deployed_sha(s, StackId(2), "prod") == Some(sha.clone())
            || latest_status(s, StackId(2), "dev") == Some(RunStatus::Failed)
            || latest_status(s, StackId(2), "prod") == Some(RunStatus::Failed)
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = worker.join().unwrap();
    assert!(rounds > 0, "the user worked during the flow");
    for stage in ["dev", "prod"] {
        let (run, sha) = pipeline
            .read(move |s| {
                let stage = s
                    .stages_of(StackId(2))
                    .into_iter()
                    .find(|st| st.settings.name == stage)
                    .unwrap();
                let run = s.latest_run(stage.id).cloned().unwrap();
                let sha = s.release(run.release_id).map(|r| r.commit.sha.clone());
                (run, sha)
            })
            .await
            .unwrap();
        let logs: Vec<String> = [PartKind::Build, PartKind::Release]
            .into_iter()
            .flat_map(|part| fakes.logs.lines(run.id, part))
            .collect();
        assert_eq!(run.status, RunStatus::Succeeded, "{stage}: {logs:#?}");
        assert_eq!(
            sha.as_deref(),
            Some(release.as_str()),
            "{stage} ran the release"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_gc_during_a_checkout_breaks_no_run() {
    flows_while_the_user_works(|repo, _| {
        git(repo, &["gc", "-q", "--prune=now"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_fetch_during_a_checkout_breaks_no_run() {
    flows_while_the_user_works(|repo, round| {
        if round == 0 {
            // A server with another branch that moves while the user fetches.
            let server = repo.with_file_name("server.git");
            git(
                repo,
                &["clone", "-q", "--bare", ".", server.to_str().unwrap()],
            );
            git(repo, &["remote", "add", "origin", server.to_str().unwrap()]);
        }
        let server = repo.with_file_name("server.git");
        let tree = git(&server, &["rev-parse", "main^{tree}"]);
        let parent = git(&server, &["rev-parse", "main"]);
        let message = format!("teammate {round}");
        let commit = git(
            &server,
            &["commit-tree", &tree, "-p", &parent, "-m", &message],
        );
        git(&server, &["update-ref", "refs/heads/teammate", &commit]);
        git(repo, &["fetch", "-q", "--prune", "origin"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_branch_switch_during_a_checkout_breaks_no_run() {
    flows_while_the_user_works(|repo, round| {
        if round == 0 {
            git(repo, &["branch", "elsewhere", "HEAD~1"]);
        }
        let target = if round % 2 == 0 { "elsewhere" } else { "main" };
        git(repo, &["switch", "-q", target]);
    })
    .await;
}
