//! The demo a newcomer sees without an AWS account: a local Git repository
//! with a small web app and its buildspecs, a "Local AWS sandbox" account
//! pointing at an AWS emulator on loopback, and a stack dev → prod where
//! prod requires approval. Nothing of it touches real AWS.

use std::path::{Path, PathBuf};
use std::process::Command;

use stageline_engine::flow::Input;
use stageline_engine::order::first_stage_settings;
use stageline_engine::Database;

use crate::core::Core;
use crate::error::{AppError, AppResult};
use crate::inputs::{
    CredentialsInput, EnvValueInput, EnvVarInput, NewAccount, NewStack, StageSettingsInput,
};
use crate::services::{accounts, stacks, stages};

/// The environment variable naming the emulator the demo deploys into
/// (set by the run command after it starts one on loopback).
pub const DEMO_ENDPOINT_VARIABLE: &str = "STAGELINE_DEMO_ENDPOINT";

const APP_JS: &str = r#"// A tiny web app: Stageline builds and deploys it through dev and prod.
const http = require("http");
const port = process.env.PORT || 8080;
http
  .createServer((req, res) => res.end(`Hello from ${process.env.STAGE_NAME || "the demo"}!\n`))
  .listen(port, () => console.log(`listening on ${port}`));
"#;

const DOCKERFILE: &str = r#"FROM public.ecr.aws/docker/library/node:20-alpine
WORKDIR /app
COPY app.js .
EXPOSE 80
CMD ["node", "app.js"]
"#;

// The demo's buildspecs are shaped like TinyStacks' templates: Stageline runs
// such repositories unchanged. In the demo, `docker` is a stand-in that keeps
// images in the local AWS sandbox (no Docker daemon needed).
const BUILD_YML: &str = r#"version: 0.2
# Runs once per commit: build the image, push it as :latest and :<commit sha>.
phases:
  pre_build:
    commands:
      - echo "Building for AWS account $(aws sts get-caller-identity --query Account --output text)"
      - aws ecr get-login-password --region $AWS_REGION | docker login --username AWS --password-stdin $ECR_ENDPOINT
  build:
    commands:
      - docker build -t builtimage .
      - docker tag builtimage:latest $ECR_IMAGE_URL:latest
      - docker tag builtimage:latest $ECR_IMAGE_URL:$(git rev-parse HEAD)
      - docker push $ECR_IMAGE_URL:latest
      - docker push $ECR_IMAGE_URL:$(git rev-parse HEAD)
"#;

const RELEASE_YML: &str = r#"version: 0.2
# Runs for every stage: the image the previous stage ran becomes this stage's.
phases:
  build:
    commands:
      - aws ecr get-login-password --region $AWS_REGION | docker login --username AWS --password-stdin $ECR_ENDPOINT
      - docker pull $ECR_IMAGE_URL:$PREVIOUS_STAGE_NAME
      - docker tag $ECR_IMAGE_URL:$PREVIOUS_STAGE_NAME $ECR_IMAGE_URL:$STAGE_NAME
      - docker push $ECR_IMAGE_URL:$STAGE_NAME
      - |
        if [ -n "$REGIONAL_ECR_IMAGE_URL" ]; then
          aws ecr get-login-password --region $STAGE_REGION | docker login --username AWS --password-stdin $REGIONAL_ECR_ENDPOINT
          docker tag $ECR_IMAGE_URL:$PREVIOUS_STAGE_NAME $REGIONAL_ECR_IMAGE_URL:$STAGE_NAME
          docker push $REGIONAL_ECR_IMAGE_URL:$STAGE_NAME
        fi
"#;

/// The environment variable naming the folders of the demo's tools (the AWS
/// CLI and the docker stand-in), put first on the demo stages' `PATH`.
pub const DEMO_TOOLS_VARIABLE: &str = "STAGELINE_DEMO_TOOLS";

fn git(repo: &Path, args: &[&str]) -> AppResult<()> {
    let status = Command::new("git")
        .args(args)
        .current_dir(repo)
        .env("GIT_AUTHOR_NAME", "Stageline demo")
        .env("GIT_AUTHOR_EMAIL", "demo@stageline.local")
        .env("GIT_COMMITTER_NAME", "Stageline demo")
        .env("GIT_COMMITTER_EMAIL", "demo@stageline.local")
        .status()
        .map_err(|e| AppError::internal(format!("Could not run git for the demo: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(AppError::internal(format!(
            "git {} failed while making the demo repository",
            args.join(" ")
        )))
    }
}

/// Makes the demo's Git repository (once) and returns its path.
pub fn demo_repository(data_dir: &Path) -> AppResult<PathBuf> {
    let repo = data_dir.join("demo").join("hello-web");
    if repo.join(".git").exists() {
        return Ok(repo);
    }
    std::fs::create_dir_all(&repo)
        .map_err(|e| AppError::internal(format!("Could not create the demo folder: {e}")))?;
    for (name, text) in [
        ("app.js", APP_JS),
        ("Dockerfile", DOCKERFILE),
        ("build.yml", BUILD_YML),
        ("release.yml", RELEASE_YML),
    ] {
        std::fs::write(repo.join(name), text)
            .map_err(|e| AppError::internal(format!("Could not write {name}: {e}")))?;
    }
    git(&repo, &["init", "-q", "-b", "main"])?;
    git(&repo, &["add", "-A"])?;
    git(&repo, &["commit", "-q", "-m", "Hello web: first version"])?;
    Ok(repo)
}

/// A stage with the new-stage dialog's defaults; its builds find the demo's
/// tools first on `PATH` and keep the docker stand-in's images in the demo folder.
fn stage(data_dir: &Path, name: &str, region: &str, requires_approval: bool) -> StageSettingsInput {
    let defaults = first_stage_settings(region);
    let mut build_env = Vec::new();
    if let Ok(tools) = std::env::var(DEMO_TOOLS_VARIABLE) {
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_string());
        build_env.push(plain("PATH", &format!("{tools}:{path}")));
        let docker = data_dir.join("demo").join("docker");
        build_env.push(plain("DOCKER_CONFIG", &docker.display().to_string()));
    }
    StageSettingsInput {
        name: name.to_string(),
        region: region.to_string(),
        database: Database::None,
        requires_approval,
        routing: defaults.routing,
        caching: false,
        build_env,
        runtime_env: Vec::new(),
        desired_count: 1,
        submodules_and_lfs: true,
        container_port: defaults.container_port,
        health_path: defaults.health_path,
        cpu_architecture: defaults.cpu_architecture,
        run_without_sandbox: false,
        verification: None,
        approval_expiry_hours: None,
        deploy_window: None,
        approval_policy: None,
    }
}

fn plain(name: &str, value: &str) -> EnvVarInput {
    EnvVarInput {
        name: name.to_string(),
        value: EnvValueInput::Plain {
            value: value.to_string(),
        },
    }
}

/// Sets the demo up when the app has no account yet.
pub async fn seed_if_empty(core: &Core, endpoint: &str) -> AppResult<()> {
    if !accounts::list(core).await?.is_empty() {
        return Ok(());
    }
    let repo = demo_repository(&core.config.data_dir)?;
    let account = accounts::create(
        core,
        NewAccount {
            name: "Local AWS sandbox".to_string(),
            default_region: "us-east-1".to_string(),
            endpoint_url: Some(endpoint.to_string()),
            credentials: CredentialsInput::Keys {
                access_key_id: "SANDBOXDEMOKEY".to_string(),
                secret_access_key: "sandbox-demo-secret".to_string(),
                session_token: None,
            },
        },
    )
    .await?;
    // Its stages are set up before the branch head flows in.
    let stack = stacks::create(
        core,
        NewStack {
            name: "hello-web".to_string(),
            repository: repo.display().to_string(),
            branch: "main".to_string(),
            account_id: account.id,
            poll_interval_secs: 30,
            https_token: None,
        },
        false,
    )
    .await?;
    let dev = core
        .pipeline
        .read(move |s| s.flow_of(stack.id).first().map(|st| st.id))
        .await?;
    let data_dir = &core.config.data_dir;
    let dev_settings = stage(data_dir, "dev", "us-east-1", false);
    if let Some(dev) = dev {
        stages::update(core, dev, dev_settings).await?;
        let prod = stage(data_dir, "prod", "us-west-2", true);
        stages::create(core, stack.id, Some(dev), prod).await?;
    }
    let watch = Input::WatchBranch { stack_id: stack.id };
    core.pipeline.send(watch).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_buildspecs_are_valid() {
        stageline_build::parse_buildspec(BUILD_YML).unwrap();
        stageline_build::parse_buildspec(RELEASE_YML).unwrap();
    }
}
