//! Running an effect through the ports and turning its result into an input.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::domain::{Artifact, EnvValue, EnvVar, PartKind};
use crate::flow::{Effect, Input, PartContext};
use crate::ids::RunId;
use crate::pipeline::{PipelineConfig, Ports};
use crate::ports::{
    BuildJob, CheckoutOptions, DeployJob, Deployer, LogSink, ResolvedVar, Secrets, StageFacts,
};

/// Runs one effect; the input it yields (if any) goes back to the pipeline.
pub(super) async fn perform(effect: Effect, ports: Ports, config: PipelineConfig) -> Option<Input> {
    match effect {
        Effect::Build { run_id, context } => {
            let release_id = context.release.id;
            let result = build(run_id, &context, &ports, &config).await;
            Some(Input::BuildFinished { release_id, result })
        }
        Effect::Release { run, context } => {
            let result = release(run.id, &context, &ports, &config)
                .await
                .map(|()| None);
            Some(Input::PartFinished {
                run_id: run.id,
                part: PartKind::Release,
                result,
            })
        }
        Effect::Deploy { run, context } => {
            let log = ports.logs.open(run.id, PartKind::Deploy);
            let result = match deploy_job(&context, &ports).await {
                Ok(job) => ports
                    .deployer
                    .deploy(job, log)
                    .await
                    .map(Some)
                    .map_err(|e| e.message),
                Err(message) => Err(message),
            };
            Some(Input::PartFinished {
                run_id: run.id,
                part: PartKind::Deploy,
                result,
            })
        }
        Effect::ReconcileDeploy { run, context } => {
            let log = ports.logs.open(run.id, PartKind::Deploy);
            log.line("Stageline restarted during this deploy; checking its real state in AWS…");
            let result = match deploy_job(&context, &ports).await {
                Ok(job) => ports
                    .deployer
                    .reconcile(job, log)
                    .await
                    .map_err(|e| e.message),
                Err(message) => Err(message),
            };
            Some(Input::DeployReconciled {
                run_id: run.id,
                result,
            })
        }
        Effect::FetchHead { stack, stage_id } => {
            let result = ports.source.head(&stack).await.map_err(|e| e.message);
            Some(Input::HeadFetched { stage_id, result })
        }
        Effect::DeleteStageStack {
            account,
            stack,
            stage,
        } => {
            let stage_id = stage.id;
            let result = ports
                .deployer
                .delete_stage(account, stack, stage)
                .await
                .map_err(|e| e.message);
            Some(Input::StageStackDeleted { stage_id, result })
        }
        Effect::Scale {
            account,
            stack,
            stage,
        } => {
            let stage_id = stage.id;
            let count = stage.settings.desired_count;
            match ports.deployer.scale(account, stack, stage, count).await {
                Ok(()) => None,
                Err(error) => Some(Input::ScaleFailed {
                    stage_id,
                    message: error.message,
                }),
            }
        }
        Effect::CancelRun(_) | Effect::CancelBuild(_) => None,
    }
}

/// A part's private checkout, removed when the part ends (also when it is
/// cancelled) unless checkouts are kept for debugging. Removing a large tree
/// takes seconds, so it happens on the blocking pool, never on the runtime's
/// threads.
struct Workspace {
    dir: PathBuf,
    keep: bool,
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if !self.keep {
            remove_in_background(std::mem::take(&mut self.dir));
        }
    }
}

/// Removes `dir` off the async runtime's threads (inline only when no runtime
/// runs, as at exit).
fn remove_in_background(dir: PathBuf) {
    let remove = move || {
        let _ = std::fs::remove_dir_all(&dir);
        live_workspaces()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&dir);
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn_blocking(remove);
        }
        Err(_) => remove(),
    }
}

/// The workspaces this process has made and not yet removed.
fn live_workspaces() -> &'static Mutex<HashSet<PathBuf>> {
    static LIVE: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

/// Leftovers of an earlier process (a part that was running when it stopped)
/// are removed once per workspaces folder, in the background; this process's
/// own workspaces are never touched.
fn sweep_once(workspaces: &Path) {
    static SWEPT: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    let mut swept = SWEPT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if !swept.insert(workspaces.to_path_buf()) {
        return;
    }
    let workspaces = workspaces.to_path_buf();
    let sweep = move || {
        let Ok(entries) = std::fs::read_dir(&workspaces) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let live = live_workspaces()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&path);
            if !live {
                let _ = std::fs::remove_dir_all(path);
            }
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn_blocking(sweep);
        }
        Err(_) => sweep(),
    }
}

async fn checkout(
    name: String,
    context: &PartContext,
    ports: &Ports,
    config: &PipelineConfig,
    log: &Arc<dyn LogSink>,
) -> Result<Workspace, String> {
    if !config.keep_workspaces {
        sweep_once(&config.workspaces);
    }
    // A fresh name per attempt: a cancelled attempt's folder may still be
    // being removed in the background when the part runs again.
    let dir = config
        .workspaces
        .join(format!("{name}-{}", ports.clock.new_id()));
    live_workspaces()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(dir.clone());
    let workspace = Workspace {
        dir: dir.clone(),
        keep: config.keep_workspaces,
    };
    let commit = &context.release.commit;
    log.line(&format!(
        "Checking out {} ({})",
        commit.short_sha(),
        commit.message
    ));
    let options = CheckoutOptions {
        submodules_and_lfs: context.stage.settings.submodules_and_lfs,
    };
    let report = ports
        .source
        .checkout(&context.stack, &commit.sha, dir, options)
        .await
        .map_err(|e| e.message)?;
    log.line(&format!(
        "Checked out {} in {:.2} s: {} written.",
        commit.short_sha(),
        report.elapsed.as_secs_f64(),
        count_of_files(report.files)
    ));
    for detail in &report.details {
        log.line(detail);
    }
    Ok(workspace)
}

/// "1 file", "20,000 files".
fn count_of_files(files: u64) -> String {
    let digits = files.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let noun = if files == 1 { "file" } else { "files" };
    format!("{grouped} {noun}")
}

/// R3: Stageline's variables for a part at a stage.
fn injected(
    context: &PartContext,
    facts: &StageFacts,
    build_image: Option<&Artifact>,
) -> Vec<(String, String)> {
    let mut vars = vec![
        (
            "STAGE_NAME".to_string(),
            context.stage.settings.name.clone(),
        ),
        (
            "PREVIOUS_STAGE_NAME".to_string(),
            context.previous_stage_name.clone(),
        ),
        (
            "STAGE_REGION".to_string(),
            context.stage.settings.region.clone(),
        ),
        ("ECR_ENDPOINT".to_string(), facts.ecr_endpoint.clone()),
        ("ECR_IMAGE_URL".to_string(), facts.ecr_image_url.clone()),
        ("CLUSTER_ARN".to_string(), facts.cluster_arn.clone()),
        ("SERVICE_NAME".to_string(), facts.service_name.clone()),
        ("S3_BUCKET".to_string(), facts.s3_bucket.clone()),
        ("COMMIT_SHA".to_string(), context.release.commit.sha.clone()),
    ];
    if let Some(artifact) = build_image {
        vars.push(("BUILD_IMAGE".to_string(), artifact.image.clone()));
    }
    vars
}

/// The image a stage deploys: its regional repository, tagged with the commit.
fn stage_image(facts: &StageFacts, context: &PartContext) -> Artifact {
    Artifact {
        image: format!("{}:{}", facts.ecr_image_url, context.release.commit.sha),
    }
}

async fn resolve(vars: &[EnvVar], secrets: &dyn Secrets) -> Result<Vec<ResolvedVar>, String> {
    let mut resolved = Vec::with_capacity(vars.len());
    for var in vars {
        let (value, secret) = match &var.value {
            EnvValue::Plain { value } => (value.clone(), false),
            EnvValue::Secret { keychain_ref } => {
                let value = secrets.read(keychain_ref).await.map_err(|e| {
                    format!(
                        "Could not read the secret value of {} from the keychain: {}",
                        var.name, e.message
                    )
                })?;
                (value, true)
            }
        };
        resolved.push(ResolvedVar {
            name: var.name.clone(),
            value,
            secret,
        });
    }
    Ok(resolved)
}

/// Checks out the commit and runs build.yml; the image is the stage's
/// repository URL tagged with the commit sha (the hand-off to every stage).
async fn build(
    run_id: RunId,
    context: &PartContext,
    ports: &Ports,
    config: &PipelineConfig,
) -> Result<Artifact, String> {
    let log = ports.logs.open(run_id, PartKind::Build);
    let facts = ports
        .deployer
        .stage_facts(&context.account, &context.stack, &context.stage);
    let workspace = checkout(
        format!("build-{}", context.release.id),
        context,
        ports,
        config,
        &log,
    )
    .await?;
    let job = BuildJob {
        workdir: workspace.dir.clone(),
        part: PartKind::Build,
        env: resolve(&context.stage.settings.build_env, ports.secrets.as_ref()).await?,
        injected: injected(context, &facts, None),
    };
    ports.builder.run(job, log).await.map_err(|e| e.message)?;
    Ok(stage_image(&facts, context))
}

/// Checks out the commit and runs release.yml for the run's stage.
async fn release(
    run_id: RunId,
    context: &PartContext,
    ports: &Ports,
    config: &PipelineConfig,
) -> Result<(), String> {
    let log = ports.logs.open(run_id, PartKind::Release);
    let facts = ports
        .deployer
        .stage_facts(&context.account, &context.stack, &context.stage);
    let workspace = checkout(format!("release-{run_id}"), context, ports, config, &log).await?;
    let job = BuildJob {
        workdir: workspace.dir.clone(),
        part: PartKind::Release,
        env: resolve(&context.stage.settings.build_env, ports.secrets.as_ref()).await?,
        injected: injected(context, &facts, context.release.artifact.as_ref()),
    };
    ports.builder.run(job, log).await.map_err(|e| e.message)
}

async fn deploy_job(context: &PartContext, ports: &Ports) -> Result<DeployJob, String> {
    prepare_deploy_job(context, ports.deployer.as_ref(), ports.secrets.as_ref()).await
}

/// What deploying `context`'s release to its stage means: the stage's own
/// image of the commit and its runtime variables with secrets read. Also
/// used to preview a deploy for an approval.
pub async fn prepare_deploy_job(
    context: &PartContext,
    deployer: &dyn Deployer,
    secrets: &dyn Secrets,
) -> Result<DeployJob, String> {
    let facts = deployer.stage_facts(&context.account, &context.stack, &context.stage);
    Ok(DeployJob {
        account: context.account.clone(),
        stack: context.stack.clone(),
        stage: context.stage.clone(),
        release: context.release.clone(),
        artifact: stage_image(&facts, context),
        runtime_env: resolve(&context.stage.settings.runtime_env, secrets).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::count_of_files;

    #[test]
    fn file_counts_read_as_a_person_writes_them() {
        assert_eq!(count_of_files(0), "0 files");
        assert_eq!(count_of_files(1), "1 file");
        assert_eq!(count_of_files(999), "999 files");
        assert_eq!(count_of_files(20_000), "20,000 files");
        assert_eq!(count_of_files(1_234_567), "1,234,567 files");
    }
}
