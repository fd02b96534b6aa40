//! Repositories shaped like TinyStacks' Docker templates flow dev → prod
//! (us-west-2, with approval) on the real parts — a real Git repository, the
//! buildspec runner in bash, the real AWS CLI, the CloudFormation deployer
//! against moto over HTTP and the SQLite store — with a docker stand-in that
//! is stricter than moto (a push needs a login for the registry's region and
//! an existing repository; a pull needs an image that was pushed).
//!
//! The buildspecs are written here in TinyStacks' shape (their variables,
//! their commands): build.yml pushes `:latest` and `:<sha>`; release.yml pulls
//! `:$PREVIOUS_STAGE_NAME`, tags and pushes `:$STAGE_NAME` (the express
//! template also pushes to the stage's regional repository, the flask one
//! does not) and skips its own service update while `SERVICE_NAME` is
//! `placeholder`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use stageline_aws::{AwsCredentials, CloudFormationDeployer, CredentialsLookup, DeployerOptions};
use stageline_build::BuildspecRunner;
use stageline_engine::flow::Input;
use stageline_engine::order::first_stage_settings;
use stageline_engine::pipeline::{Pipeline, PipelineConfig};
use stageline_engine::ports::{BoxFuture, ImageRef};
use stageline_engine::testing::*;
use stageline_engine::*;
use stageline_git::GitSource;
use stageline_integration::{commit_files, deployed_sha, git, make_repo, stack_on, wait_for};
use stageline_store::SqliteStore;

/// The account's long-lived secret key: no build, log, event or row may hold it.
const LONG_LIVED_SECRET: &str = "integration-long-lived-secret-7f3a";

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
                secret_access_key: LONG_LIVED_SECRET.into(),
                session_token: None,
            }))
        })
    }
}

const DOCKERFILE: &str = "FROM public.ecr.aws/docker/library/python:3.12-slim\nCOPY app.py .\nCMD [\"python\", \"app.py\"]\n";

/// TinyStacks' build.yml shape, plus two checks a real account needs: the
/// parts call the stage's account, and its repository exists before the build.
const BUILD: &str = r#"version: 0.2
phases:
  pre_build:
    commands:
      - echo "account $(aws sts get-caller-identity --query Account --output text)"
      - echo "caller $(aws sts get-caller-identity --query Arn --output text)"
      - aws ecr describe-repositories --repository-names "${ECR_IMAGE_URL#*/}" --query 'repositories[0].repositoryName' --output text
  build:
    commands:
      - aws ecr get-login-password | docker login --username AWS --password-stdin $ECR_ENDPOINT
      - docker build -t builtimage .
      - docker tag builtimage:latest $ECR_IMAGE_URL:latest
      - docker tag builtimage:latest $ECR_IMAGE_URL:$(git rev-parse HEAD)
      - docker push $ECR_IMAGE_URL:latest
      - docker push $ECR_IMAGE_URL:$(git rev-parse HEAD)
"#;

/// The service update TinyStacks' release.yml makes itself once
/// SERVICE_NAME is real; Stageline's deploy part does it instead.
const SERVICE_UPDATE: &str = r#"  post_build:
    on-failure: CONTINUE
    commands:
      - |
        if [ -z "$SERVICE_NAME" ] || [ "$SERVICE_NAME" == "placeholder" ]; then
          echo 'Service is not ready yet. Repository tagged correctly, exiting now'
        else
          aws ecs update-service --service $SERVICE_NAME --cluster $CLUSTER_ARN --force-new-deployment
        fi
"#;

fn release_yml(regional: bool) -> String {
    let mut text = String::from(
        r#"version: 0.2
phases:
  build:
    commands:
      - docker login -u AWS -p $(aws ecr get-login-password --region $AWS_REGION) $ECR_ENDPOINT
      - docker pull $ECR_IMAGE_URL:$PREVIOUS_STAGE_NAME
      - docker tag $ECR_IMAGE_URL:$PREVIOUS_STAGE_NAME $ECR_IMAGE_URL:$STAGE_NAME
      - docker push $ECR_IMAGE_URL:$STAGE_NAME
"#,
    );
    if regional {
        text.push_str(
            r#"      - |
        if [ ! -z "$REGIONAL_ECR_ENDPOINT" -a ! -z "$REGIONAL_ECR_IMAGE_URL" ]; then
          docker login -u AWS -p $(aws ecr get-login-password --region $STAGE_REGION) $REGIONAL_ECR_ENDPOINT
          docker tag $ECR_IMAGE_URL:$PREVIOUS_STAGE_NAME $REGIONAL_ECR_IMAGE_URL:$STAGE_NAME
          docker push $REGIONAL_ECR_IMAGE_URL:$STAGE_NAME
        fi
"#,
        );
    }
    text.push_str(SERVICE_UPDATE);
    text
}

fn moto_url() -> String {
    std::env::var("STAGELINE_MOTO_URL")
        .expect("STAGELINE_MOTO_URL: run through the README's test command, which starts moto")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// The real AWS CLI (the emulator's venv) and the docker stand-in, first on PATH.
fn tools_path() -> String {
    let root = root();
    format!(
        "{}:{}:{}",
        root.join("tests/tools").display(),
        root.join(".venv-moto/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn plain(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: EnvValue::Plain {
            value: value.into(),
        },
    }
}

fn stage(name: &str, region: &str, approval: bool, docker: &Path) -> StageSettings {
    let mut settings = first_stage_settings(region);
    settings.name = name.into();
    settings.requires_approval = approval;
    settings.build_env = vec![
        plain("PATH", &tools_path()),
        plain("DOCKER_CONFIG", &docker.display().to_string()),
    ];
    settings.runtime_env = vec![plain("GREETING", "hello")];
    settings
}

/// The real AWS CLI against moto, in `region`; its JSON answer.
fn aws(region: &str, args: &[&str]) -> serde_json::Value {
    let output = Command::new(root().join(".venv-moto/bin/aws"))
        .args(args)
        .args(["--region", region, "--output", "json"])
        .env("AWS_ENDPOINT_URL", moto_url())
        .env("AWS_ACCESS_KEY_ID", "AKIDCHECK")
        .env("AWS_SECRET_ACCESS_KEY", "check")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The region of a registry host `<account>.dkr.ecr.<region>.amazonaws.com`.
fn registry_region(image: &ImageRef) -> String {
    image.repository_url.split('.').nth(3).unwrap().to_owned()
}

/// Whether ECR in the image's region holds the image's digest.
fn image_exists(image: &ImageRef) -> bool {
    let repository = image.repository_url.split_once('/').unwrap().1;
    let found = aws(
        &registry_region(image),
        &[
            "ecr",
            "describe-images",
            "--repository-name",
            repository,
            "--image-ids",
            &format!("imageDigest={}", image.digest),
        ],
    );
    found["imageDetails"]
        .as_array()
        .is_some_and(|d| !d.is_empty())
}

/// The image the stage's ECS service runs, read back from ECS.
fn service_image(region: &str, cluster: &str, service: &str) -> String {
    let services = aws(
        region,
        &[
            "ecs",
            "describe-services",
            "--cluster",
            cluster,
            "--services",
            service,
        ],
    );
    let task = services["services"][0]["taskDefinition"]
        .as_str()
        .unwrap()
        .to_owned();
    let definition = aws(
        region,
        &[
            "ecs",
            "describe-task-definition",
            "--task-definition",
            &task,
        ],
    );
    definition["taskDefinition"]["containerDefinitions"][0]["image"]
        .as_str()
        .unwrap()
        .to_owned()
}

struct World {
    _dir: tempfile::TempDir,
    db: PathBuf,
    repo: PathBuf,
    fakes: Fakes,
    pipeline: Pipeline,
    deployer: CloudFormationDeployer,
    stack: Stack,
}

async fn world(style: &str, regional_release: bool) -> World {
    let dir = tempfile::tempdir().unwrap();
    let docker = dir.path().join("docker");
    let repo = make_repo(
        dir.path(),
        &[
            ("app.py", "print('hello')\n"),
            ("Dockerfile", DOCKERFILE),
            ("build.yml", BUILD),
            ("release.yml", &release_yml(regional_release)),
        ],
    );
    let fakes = Fakes::default();
    let options = DeployerOptions {
        retries: false,
        poll_interval: Duration::from_millis(200),
        ..DeployerOptions::default()
    };
    let deployer = CloudFormationDeployer::new(Arc::new(EmulatorKeys), options);
    let db = dir.path().join("stageline.db");
    let mut ports = fakes.ports();
    ports.store = Arc::new(SqliteStore::open(&db).await.unwrap());
    ports.source = Arc::new(GitSource::without_credentials(dir.path().join("mirrors")));
    ports.builder = Arc::new(BuildspecRunner::new(Duration::from_secs(120)));
    ports.deployer = Arc::new(deployer.clone());
    let config = PipelineConfig {
        workspaces: dir.path().join("workspaces"),
        keep_workspaces: false,
        verify_poll: stageline_engine::pipeline::VERIFY_POLL,
    };
    let pipeline = Pipeline::start(ports, config).await.unwrap();

    // A stack name of its own keeps parallel runs on one moto apart.
    let name = format!("{style}{}", std::process::id());
    let mut account = test_account(1);
    account.endpoint_url = Some(moto_url());
    let (stack, dev) = stack_on(&pipeline, account, &name, &repo).await;
    pipeline
        .send(Input::UpdateStage {
            stage_id: dev,
            settings: stage("dev", "us-east-1", false, &docker),
        })
        .await
        .unwrap();
    pipeline
        .send(Input::CreateStage {
            stack_id: stack.id,
            after: Some(dev),
            settings: stage("prod", "us-west-2", true, &docker),
        })
        .await
        .unwrap();
    let stack = pipeline
        .read(|s| s.stack(StackId(2)).cloned())
        .await
        .unwrap()
        .unwrap();
    World {
        _dir: dir,
        db,
        repo,
        fakes,
        pipeline,
        deployer,
        stack,
    }
}

impl World {
    async fn commit(&self, sha: &str) {
        let head = Commit {
            sha: sha.to_string(),
            message: git(&self.repo, &["log", "-1", "--format=%s"]),
            author: "Ada".into(),
            author_email: String::new(),
            time: 0,
        };
        self.pipeline
            .send(Input::CommitDetected {
                stack_id: self.stack.id,
                head,
                included: vec![],
                forced: false,
            })
            .await
            .unwrap();
    }

    async fn wait_deployed(&self, stage: &'static str, sha: &str) {
        let expect = sha.to_string();
        wait_for(
            &self.pipeline,
            &format!("{stage} runs {sha}"),
            240,
            move |s| deployed_sha(s, StackId(2), stage) == Some(expect.clone()),
        )
        .await;
    }

    async fn approve_prod(&self) {
        wait_for(&self.pipeline, "prod awaits approval", 240, |s| {
            s.pending_approvals().count() == 1
        })
        .await;
        let approval = self
            .pipeline
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
        self.pipeline
            .decide(approval.id, true, decision)
            .await
            .unwrap();
    }

    async fn stage(&self, name: &'static str) -> Stage {
        self.pipeline
            .read(move |s| {
                s.stages_of(StackId(2))
                    .into_iter()
                    .find(|st| st.settings.name == name)
                    .cloned()
            })
            .await
            .unwrap()
            .unwrap()
    }

    async fn latest_run(&self, name: &'static str) -> Run {
        let stage = self.stage(name).await.id;
        self.pipeline
            .read(move |s| s.latest_run(stage).cloned())
            .await
            .unwrap()
            .unwrap()
    }

    /// The stage's deployed image: recorded on its run, run by its ECS
    /// service, and held by ECR in the region it names.
    async fn check_deployed_image(&self, name: &'static str, expected_region: &str) -> ImageRef {
        let run = self.latest_run(name).await;
        assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
        let recorded = run.image.clone().expect("the run records its image");
        let image = ImageRef::parse(&recorded).expect("pinned to a digest");
        let stage = self.stage(name).await;
        let names = self
            .deployer
            .stage_names(&test_account(1), &self.stack, &stage);
        assert_eq!(
            service_image(
                stage.settings.region.as_str(),
                &names.cluster_arn(),
                &names.service()
            ),
            recorded,
            "{name}'s service runs the recorded image"
        );
        assert_eq!(registry_region(&image), expected_region, "{recorded}");
        assert!(image_exists(&image), "{recorded} was pushed to ECR");
        image
    }

    /// Deletes the stages (and their AWS stacks) for the other tests.
    async fn clean_up(&self) {
        for stage in ["prod", "dev"] {
            let id = self.stage(stage).await.id;
            let _ = self
                .pipeline
                .send(Input::DeleteStage {
                    stage_id: id,
                    confirmation: "delete".into(),
                })
                .await;
        }
    }

    /// Nothing the pipeline wrote holds the account's long-lived secret key.
    fn assert_no_long_lived_secret(&self) {
        let logs = self.fakes.logs.all_text();
        assert!(
            !logs.contains(LONG_LIVED_SECRET),
            "a log holds the secret key"
        );
        assert!(
            logs.contains("AWS calls use the stage's build role"),
            "parts got the build role's credentials: {logs}"
        );
        assert!(
            !logs.contains("session credentials from AWS STS"),
            "no part fell back to the account's session: {logs}"
        );
        let events = format!("{:?}", self.fakes.events.all());
        assert!(
            !events.contains(LONG_LIVED_SECRET),
            "an event holds the secret key"
        );
        for suffix in ["", "-wal", "-shm"] {
            let path = PathBuf::from(format!("{}{suffix}", self.db.display()));
            if let Ok(bytes) = std::fs::read(&path) {
                let text = String::from_utf8_lossy(&bytes);
                assert!(
                    !text.contains(LONG_LIVED_SECRET),
                    "{} holds the secret key",
                    path.display()
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flask_shaped_buildspecs_flow_to_prod_in_another_region_and_roll_back_by_digest() {
    let world = world("flask", false).await;
    let first = git(&world.repo, &["rev-parse", "HEAD"]);
    world.commit(&first).await;
    world.wait_deployed("dev", &first).await;
    world.approve_prod().await;
    world.wait_deployed("prod", &first).await;

    let build_log = world
        .fakes
        .logs
        .lines(world.latest_run("dev").await.id, PartKind::Build)
        .join("\n");
    assert!(build_log.contains("account 123456789012"), "{build_log}");
    // The parts act as the stage's build role, not as the account's user.
    assert!(
        build_log.contains(&format!(
            "caller arn:aws:sts::123456789012:assumed-role/{}-dev-us-east-1-build/{}.dev.r",
            world.stack.name, world.stack.name
        )),
        "{build_log}"
    );
    assert!(
        build_log.contains("[Container] Sandbox: only the checkout"),
        "the build ran in the sandbox: {build_log}"
    );
    assert!(
        build_log.contains(&format!("stageline/{}", world.stack.name)),
        "the repository existed before the first build: {build_log}"
    );
    let release_log = world
        .fakes
        .logs
        .lines(world.latest_run("prod").await.id, PartKind::Release)
        .join("\n");
    assert!(
        release_log.contains("Service is not ready yet"),
        "{release_log}"
    );

    let dev_image = world.check_deployed_image("dev", "us-east-1").await;
    // The flask shape pushes nothing to us-west-2: prod pulls the stack's
    // repository across regions, by digest.
    let prod_image = world.check_deployed_image("prod", "us-east-1").await;
    assert_eq!(dev_image.digest, prod_image.digest);

    // A second release, then a redeploy of the first: exactly its digest again.
    let second = commit_files(&world.repo, &[("app.py", "print('v2')\n")], "Second");
    world.commit(&second).await;
    world.wait_deployed("dev", &second).await;
    let dev = world.stage("dev").await;
    let second_digest = ImageRef::parse(world.latest_run("dev").await.image.as_deref().unwrap())
        .unwrap()
        .digest;
    assert_ne!(second_digest, dev_image.digest, "a new build, a new image");
    let first_release = world
        .pipeline
        .read(|s| s.flow(s.stages_of(StackId(2))[1].id).deployed)
        .await
        .unwrap()
        .unwrap();
    world
        .pipeline
        .redeploy(
            dev.id,
            first_release,
            Decision {
                by: "ada".into(),
                at: 2,
                comment: "roll back".into(),
                via: DecisionSource::Dashboard,
            },
        )
        .await
        .unwrap();
    world.wait_deployed("dev", &first).await;
    let rolled_back = world.latest_run("dev").await;
    assert_eq!(
        rolled_back.image.as_deref(),
        Some(dev_image.reference().as_str())
    );
    let names = world
        .deployer
        .stage_names(&test_account(1), &world.stack, &dev);
    let parameter = aws(
        "us-east-1",
        &[
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            &names.cloudformation_stack(),
        ],
    );
    let image_parameter = parameter["Stacks"][0]["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["ParameterKey"] == "ImageUri")
        .unwrap()["ParameterValue"]
        .clone();
    let deploy_log = world
        .fakes
        .logs
        .lines(rolled_back.id, PartKind::Deploy)
        .join("\n");
    assert_eq!(
        image_parameter,
        dev_image.reference(),
        "the stack runs the earlier digest: {deploy_log}"
    );

    world.assert_no_long_lived_secret();
    world.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn express_shaped_buildspecs_push_prods_image_to_its_own_region() {
    let world = world("express", true).await;
    let first = git(&world.repo, &["rev-parse", "HEAD"]);
    world.commit(&first).await;
    world.wait_deployed("dev", &first).await;
    world.approve_prod().await;
    world.wait_deployed("prod", &first).await;

    let dev_image = world.check_deployed_image("dev", "us-east-1").await;
    let prod_image = world.check_deployed_image("prod", "us-west-2").await;
    assert_eq!(
        dev_image.digest, prod_image.digest,
        "the same image in both regions"
    );
    world.assert_no_long_lived_secret();
    world.clean_up().await;
}
