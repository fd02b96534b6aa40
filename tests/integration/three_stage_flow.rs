//! A full three-stage flow on the real parts: a real Git repository, the
//! buildspec runner, the CloudFormation deployer against moto over HTTP and
//! the SQLite store — commit → dev → staging → approval → prod in another region.

use std::sync::Arc;
use std::time::Duration;

use stageline_aws::{AwsCredentials, CloudFormationDeployer, CredentialsLookup, DeployerOptions};
use stageline_build::BuildspecRunner;
use stageline_engine::flow::Input;
use stageline_engine::order::first_stage_settings;
use stageline_engine::pipeline::{Pipeline, PipelineConfig};
use stageline_engine::ports::BoxFuture;
use stageline_engine::testing::*;
use stageline_engine::*;
use stageline_git::GitSource;
use stageline_integration::{deployed_sha, git, make_repo, stack_on, wait_for};
use stageline_store::SqliteStore;

/// Static keys for the emulator (the keychain is tested on its own).
struct EmulatorKeys;

impl CredentialsLookup for EmulatorKeys {
    fn credentials(
        &self,
        _account: &Account,
    ) -> BoxFuture<'static, Result<Option<AwsCredentials>, PortError>> {
        Box::pin(async {
            Ok(Some(AwsCredentials {
                access_key_id: "AKIDINTEGRATION".into(),
                secret_access_key: "integration-secret".into(),
                session_token: None,
            }))
        })
    }
}

fn moto_url() -> String {
    std::env::var("STAGELINE_MOTO_URL")
        .expect("STAGELINE_MOTO_URL: run through the README's test command, which starts moto")
}

fn stage(name: &str, region: &str, approval: bool) -> StageSettings {
    let mut settings = first_stage_settings(region);
    settings.name = name.into();
    settings.requires_approval = approval;
    // moto models load balancers; API Gateway's VPC link needs an NLB it does not emulate.
    settings.routing = Routing::LoadBalancer;
    settings.runtime_env = vec![EnvVar {
        name: "GREETING".into(),
        value: EnvValue::Plain {
            value: "hello".into(),
        },
    }];
    settings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_flows_to_dev_and_staging_then_prod_in_another_region_after_approval() {
    let dir = tempfile::tempdir().unwrap();
    let build = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo building $(git rev-parse --short HEAD)\n";
    let release = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo releasing $ECR_IMAGE_URL:$COMMIT_SHA to $CLUSTER_ARN\n";
    let repo = make_repo(
        dir.path(),
        &[("build.yml", build), ("release.yml", release)],
    );
    let sha = git(&repo, &["rev-parse", "HEAD"]);

    let fakes = Fakes::default();
    let options = DeployerOptions {
        retries: false,
        poll_interval: Duration::from_millis(200),
        ..DeployerOptions::default()
    };
    let deployer = CloudFormationDeployer::new(Arc::new(EmulatorKeys), options);
    let store = SqliteStore::open(&dir.path().join("stageline.db"))
        .await
        .unwrap();
    let mut ports = fakes.ports();
    ports.store = Arc::new(store.clone());
    ports.source = Arc::new(GitSource::without_credentials(dir.path().join("mirrors")));
    ports.builder = Arc::new(BuildspecRunner::new(Duration::from_secs(60)));
    ports.deployer = Arc::new(deployer.clone());
    let config = PipelineConfig {
        workspaces: dir.path().join("workspaces"),
        keep_workspaces: false,
    };
    let pipeline = Pipeline::start(ports, config).await.unwrap();

    // A stack name of its own keeps parallel runs on one moto apart.
    let name = format!("flow{}", std::process::id());
    let mut account = test_account(1);
    account.endpoint_url = Some(moto_url());
    let (stack, dev) = stack_on(&pipeline, account, &name, &repo).await;
    pipeline
        .send(Input::UpdateStage {
            stage_id: dev,
            settings: stage("dev", "us-east-1", false),
        })
        .await
        .unwrap();
    pipeline
        .send(Input::CreateStage {
            stack_id: stack.id,
            after: Some(dev),
            settings: stage("staging", "us-east-1", false),
        })
        .await
        .unwrap();
    let staging = pipeline
        .read(|s| s.flow_of(StackId(2))[1].id)
        .await
        .unwrap();
    pipeline
        .send(Input::CreateStage {
            stack_id: stack.id,
            after: Some(staging),
            settings: stage("prod", "us-west-2", true),
        })
        .await
        .unwrap();

    let head = ports_head(&repo, &sha);
    pipeline
        .send(Input::CommitDetected {
            stack_id: stack.id,
            head,
            included: vec![],
            forced: false,
        })
        .await
        .unwrap();
    let expect = sha.clone();
    wait_for(&pipeline, "staging runs the commit", 120, move |s| {
        deployed_sha(s, StackId(2), "staging") == Some(expect.clone())
    })
    .await;
    wait_for(&pipeline, "prod awaits approval", 30, |s| {
        s.pending_approvals().count() == 1
    })
    .await;
    assert_eq!(
        pipeline
            .read(|s| deployed_sha(s, StackId(2), "prod"))
            .await
            .unwrap(),
        None,
        "prod waits"
    );

    let approval = pipeline
        .read(|s| s.pending_approvals().next().cloned())
        .await
        .unwrap()
        .unwrap();
    let decision = Decision {
        by: "ada".into(),
        at: 1,
        comment: "canary looked fine".into(),
        via: DecisionSource::Dashboard,
    };
    pipeline.decide(approval.id, true, decision).await.unwrap();
    let expect = sha.clone();
    wait_for(&pipeline, "prod runs the commit", 120, move |s| {
        deployed_sha(s, StackId(2), "prod") == Some(expect.clone())
    })
    .await;

    // Each stage's stack lives in its own region, named <stack>-<stage>.
    let prod_stage = pipeline
        .read(|s| s.flow_of(StackId(2))[2].clone())
        .await
        .unwrap();
    let prod_run = pipeline
        .read(move |s| s.latest_run(prod_stage.id).cloned())
        .await
        .unwrap()
        .unwrap();
    let deploy_log = fakes.logs.lines(prod_run.id, PartKind::Deploy).join("\n");
    assert!(deploy_log.contains(&format!("{name}-prod")), "{deploy_log}");
    let release_log = fakes.logs.lines(prod_run.id, PartKind::Release).join("\n");
    assert!(
        release_log.contains("us-west-2"),
        "release.yml got prod's region: {release_log}"
    );
    let dev_names = deployer.stage_names(
        &test_account(1),
        &stack,
        &pipeline
            .read(move |s| s.stage(dev).cloned())
            .await
            .unwrap()
            .unwrap(),
    );
    assert_eq!(dev_names.region(), "us-east-1");

    // Clean up the emulator's stacks for other tests.
    for stage in pipeline
        .read(|s| {
            s.flow_of(StackId(2))
                .iter()
                .map(|st| st.id)
                .collect::<Vec<_>>()
        })
        .await
        .unwrap()
    {
        pipeline
            .send(Input::DeleteStage {
                stage_id: stage,
                confirmation: "delete".into(),
            })
            .await
            .unwrap();
    }
}

fn ports_head(repo: &std::path::Path, sha: &str) -> Commit {
    Commit {
        sha: sha.to_string(),
        message: git(repo, &["log", "-1", "--format=%s"]),
        author: "Ada".into(),
        time: 0,
    }
}
