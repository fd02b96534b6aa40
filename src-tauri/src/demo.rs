//! The demo a newcomer sees without an AWS account: a local Git repository
//! with a small web app and its buildspecs, a "Local AWS sandbox" account
//! pointing at an AWS emulator on loopback, and a stack dev → prod where
//! prod requires approval. Nothing of it touches real AWS.

use std::path::{Path, PathBuf};
use std::process::Command;

use stageline_engine::{Database, Routing};

use crate::core::Core;
use crate::error::{AppError, AppResult};
use crate::inputs::{CredentialsInput, NewAccount, NewStack, StageSettingsInput};
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

const BUILD_YML: &str = r#"version: 0.2
# Runs once per commit. A real project builds and pushes its image here:
#   docker build -t $ECR_IMAGE_URL:$COMMIT_SHA . && docker push $ECR_IMAGE_URL:$COMMIT_SHA
phases:
  install:
    commands:
      - echo "Node app, commit $(git rev-parse --short HEAD)"
  build:
    commands:
      - test -f app.js
      - echo "Would build and push $ECR_IMAGE_URL:$COMMIT_SHA"
      - sleep 2
  post_build:
    commands:
      - echo "Build finished"
"#;

const RELEASE_YML: &str = r#"version: 0.2
# Runs for every stage with Stageline's variables (STAGE_NAME, STAGE_REGION,
# ECR_IMAGE_URL, CLUSTER_ARN, SERVICE_NAME…).
phases:
  build:
    commands:
      - echo "Releasing to $STAGE_NAME in $STAGE_REGION (after $PREVIOUS_STAGE_NAME)"
      - echo "Image for this stage is $ECR_IMAGE_URL:$COMMIT_SHA"
      - sleep 1
"#;

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

fn stage(name: &str, region: &str, requires_approval: bool) -> StageSettingsInput {
    StageSettingsInput {
        name: name.to_string(),
        region: region.to_string(),
        database: Database::None,
        requires_approval,
        // The emulator models load balancers, not API Gateway's VPC link.
        routing: Routing::LoadBalancer,
        caching: false,
        build_env: Vec::new(),
        runtime_env: Vec::new(),
        desired_count: 1,
        submodules_and_lfs: true,
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
    )
    .await?;
    let dev = core
        .pipeline
        .read(move |s| s.flow_of(stack.id).first().map(|st| st.id))
        .await?;
    let dev_settings = stage("dev", "us-east-1", false);
    if let Some(dev) = dev {
        stages::update(core, dev, dev_settings).await?;
        stages::create(core, stack.id, Some(dev), stage("prod", "us-west-2", true)).await?;
    }
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
