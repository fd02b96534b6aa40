//! Running an effect through the ports and turning its result into an input.

use std::sync::Arc;

use crate::domain::{Artifact, BuildAccess, EnvValue, EnvVar, PartKind, Run};
use crate::flow::{Effect, Input, PartContext, PartOutcome};
use crate::ids::RunId;
use crate::images::{choose_stage_image, short_digest, StageImage, TaggedImages};
use crate::pipeline::coordinated::{coordinated, shared_build, shared_part};
use crate::pipeline::workspace::checkout;
use crate::pipeline::{PipelineConfig, Ports};
use crate::ports::{
    BuildJob, DeployJob, DeployOutcome, DeployedState, Deployer, ImageRef, ImageScope, InputSink,
    LogSink, ResolvedVar, Secrets, StageFacts,
};

/// Runs one effect; the input it yields (if any) goes back to the pipeline.
pub(super) async fn perform(
    effect: Effect,
    ports: Ports,
    config: PipelineConfig,
    feedback: InputSink,
) -> Option<Input> {
    match effect {
        Effect::Build { run_id, context } => {
            let release_id = context.release.id;
            let part = shared_build(context.stack.id, &context.release.commit.sha);
            let log = ports.logs.open(run_id, PartKind::Build);
            let result = coordinated(&ports, part, (run_id, log, &feedback), |_, _| async {
                build(run_id, &context, &ports, &config).await.into()
            })
            .await
            .into_build();
            Some(Input::BuildFinished { release_id, result })
        }
        Effect::Release { run, context } => {
            let part = shared_part(&run, &context, PartKind::Release);
            let log = ports.logs.open(run.id, PartKind::Release);
            let result = coordinated(&ports, part, (run.id, log, &feedback), |_, _| async {
                release(run.id, &context, &ports, &config)
                    .await
                    .map(|(image, access)| PartOutcome::Released { image, access })
                    .into()
            })
            .await
            .into_part();
            Some(Input::PartFinished {
                run_id: run.id,
                part: PartKind::Release,
                result,
            })
        }
        Effect::Deploy { run, context } => {
            let part = shared_part(&run, &context, PartKind::Deploy);
            let log = ports.logs.open(run.id, PartKind::Deploy);
            let (here_log, job_run, job_context, job_ports) = (log.clone(), &run, &context, &ports);
            let run_log = (run.id, log, &feedback);
            let result = coordinated(&ports, part, run_log, |taken_over, fence| async move {
                deploy_here(job_run, job_context, job_ports, here_log, taken_over, fence)
                    .await
                    .into()
            })
            .await
            .into_part();
            Some(Input::PartFinished {
                run_id: run.id,
                part: PartKind::Deploy,
                result,
            })
        }
        Effect::ReconcileDeploy { run, context, .. } => {
            let log = ports.logs.open(run.id, PartKind::Deploy);
            log.line("Stageline restarted during this deploy; checking its real state in AWS…");
            let result = match deploy_job(&run, &context, &ports).await {
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
        Effect::ShareRunSummary { stack_id, summary } => {
            // A summary not shared is missed only in teammates' history
            // (this desktop keeps the run); the coordinator logs why.
            let _ = ports.coordinator.run_finished(stack_id, summary).await;
            None
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
            let result = ports
                .deployer
                .scale(account, stack, stage, count)
                .await
                .map_err(|e| e.message);
            Some(Input::ScaleFinished {
                stage_id,
                count,
                result,
            })
        }
        Effect::Verify { run, context } => {
            let part = shared_part(&run, &context, PartKind::Verify);
            let log = ports.logs.open(run.id, PartKind::Verify);
            let result = coordinated(&ports, part, (run.id, log, &feedback), |_, _| async {
                super::verify::verify(&run, &context, &ports, &config)
                    .await
                    .map(|()| PartOutcome::Verified)
                    .into()
            })
            .await
            .into_part();
            Some(Input::PartFinished {
                run_id: run.id,
                part: PartKind::Verify,
                result,
            })
        }
        Effect::ReadServiceUrl {
            account,
            stack,
            stage,
        } => {
            let stage_id = stage.id;
            let result = ports
                .deployer
                .service_url(account, stack, stage)
                .await
                .map_err(|e| e.message);
            Some(Input::ServiceUrlRead { stage_id, result })
        }
        // Cancelling and waking are done by the pipeline itself.
        Effect::CancelRun(_)
        | Effect::CancelBuild(_)
        | Effect::ApplyLater { .. }
        | Effect::ExpireApproval { .. }
        | Effect::WakeStage { .. } => None,
    }
}

/// Deploys the run here. A turn taken over from a desktop that stopped
/// mid-deploy first finds out what that deploy did (R17 across desktops):
/// a release already deployed is not deployed twice.
async fn deploy_here(
    run: &Run,
    context: &PartContext,
    ports: &Ports,
    log: Arc<dyn LogSink>,
    taken_over: bool,
    fence: Option<crate::team::Fence>,
) -> Result<PartOutcome, String> {
    let mut job = deploy_job(run, context, ports).await?;
    job.fence = fence;
    if taken_over {
        log.line("[Stageline] A teammate's desktop stopped during this deploy; checking its real state in AWS…");
        match ports.deployer.reconcile(job.clone(), log.clone()).await {
            Ok(DeployedState::Deployed) => {
                return Ok(PartOutcome::Deployed(DeployOutcome::Deployed))
            }
            Ok(DeployedState::Failed { message }) => return Err(message),
            Ok(DeployedState::NotDeployed) => {}
            Err(error) => return Err(error.message),
        }
    }
    ports
        .deployer
        .deploy(job, log)
        .await
        .map(PartOutcome::Deployed)
        .map_err(|e| e.message)
}

/// R3a: Stageline's variables for a part at a stage, as CodeBuild gives a
/// TinyStacks buildspec. `AWS_REGION` is the stack's home region (where its
/// image repository is, as CodeBuild ran in TinyStacks' home region); the
/// stage's own region is `STAGE_REGION`.
pub(super) fn injected(
    context: &PartContext,
    facts: &StageFacts,
    build_image: Option<&Artifact>,
) -> Vec<ResolvedVar> {
    let settings = &context.stage.settings;
    let mut vars = vec![
        ResolvedVar::plain("STAGE_NAME", &settings.name),
        ResolvedVar::plain("PREVIOUS_STAGE_NAME", &context.previous_stage_name),
        ResolvedVar::plain("STAGE_REGION", &settings.region),
        ResolvedVar::plain("ECR_ENDPOINT", &facts.ecr_endpoint),
        ResolvedVar::plain("ECR_IMAGE_URL", &facts.ecr_image_url),
        ResolvedVar::plain(
            "REGIONAL_ECR_ENDPOINT",
            facts.regional_ecr_endpoint.clone().unwrap_or_default(),
        ),
        ResolvedVar::plain(
            "REGIONAL_ECR_IMAGE_URL",
            facts.regional_ecr_image_url.clone().unwrap_or_default(),
        ),
        ResolvedVar::plain("CLUSTER_ARN", &facts.cluster_arn),
        // Stageline's deploy part rolls the service out, once per release, from
        // its CloudFormation stack: a buildspec that updates the service itself
        // when SERVICE_NAME is real (TinyStacks' release.yml does) would roll it
        // out twice and leave it off its stack's task definition.
        ResolvedVar::plain("SERVICE_NAME", SERVICE_NAME_PLACEHOLDER),
        ResolvedVar::plain("STAGELINE_SERVICE_NAME", &facts.service_name),
        ResolvedVar::plain("TASK_ROLE_ARN", &facts.task_role_arn),
        ResolvedVar::plain("S3_BUCKET", &facts.s3_bucket),
        ResolvedVar::plain("AWS_REGION", &facts.home_region),
        ResolvedVar::plain("AWS_DEFAULT_REGION", &facts.home_region),
        ResolvedVar::plain("AWS_ACCOUNT_ID", &facts.account_id),
        ResolvedVar::plain("AWS_ACCESS_KEY_ID", &facts.credentials.access_key_id),
        ResolvedVar::secret(
            "AWS_SECRET_ACCESS_KEY",
            &facts.credentials.secret_access_key,
        ),
        ResolvedVar::plain("COMMIT_SHA", &context.release.commit.sha),
    ];
    if let Some(token) = &facts.credentials.session_token {
        vars.push(ResolvedVar::secret("AWS_SESSION_TOKEN", token));
    }
    if let Some(url) = &facts.endpoint_url {
        vars.push(ResolvedVar::plain("AWS_ENDPOINT_URL", url));
    }
    if let Some(artifact) = build_image {
        vars.push(ResolvedVar::plain("BUILD_IMAGE", &artifact.image));
    }
    vars
}

/// What `SERVICE_NAME` holds for every part (TinyStacks' convention for a
/// service a buildspec must not update itself).
pub const SERVICE_NAME_PLACEHOLDER: &str = "placeholder";

/// Where a part's secret values are read: this desktop's keychain, and for
/// a team stack the account's Secrets Manager, with this desktop's own
/// credentials for the account (R22).
#[derive(Clone, Copy)]
pub struct SecretSources<'a> {
    pub keychain: &'a dyn Secrets,
    pub deployer: &'a dyn Deployer,
    pub account: &'a crate::domain::Account,
}

impl<'a> SecretSources<'a> {
    pub(super) fn of(ports: &'a Ports, context: &'a PartContext) -> Self {
        SecretSources {
            keychain: ports.secrets.as_ref(),
            deployer: ports.deployer.as_ref(),
            account: &context.account,
        }
    }
}

/// The variables with their values, secret ones read from where they live.
pub async fn resolve(
    vars: &[EnvVar],
    sources: SecretSources<'_>,
) -> Result<Vec<ResolvedVar>, String> {
    let mut resolved = Vec::with_capacity(vars.len());
    for var in vars {
        let (value, secret) = match &var.value {
            EnvValue::Plain { value } => (value.clone(), false),
            EnvValue::Secret { keychain_ref } => {
                let value = sources.keychain.read(keychain_ref).await.map_err(|e| {
                    format!(
                        "Could not read the secret value of {} from the keychain: {}",
                        var.name, e.message
                    )
                })?;
                (value, true)
            }
            EnvValue::TeamSecret { arn } => {
                let read = sources
                    .deployer
                    .read_team_secret(sources.account.clone(), arn.clone());
                let value = read.await.map_err(|e| {
                    format!(
                        "Could not read the secret value of {} from Secrets Manager: {}",
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

/// R3a/R3b: the stage's repositories and bucket exist and its AWS facts are
/// known (the account number, never a placeholder) before a part runs.
pub(super) async fn prepare(
    context: &PartContext,
    ports: &Ports,
    log: &Arc<dyn LogSink>,
) -> Result<StageFacts, String> {
    let prepared = ports
        .deployer
        .prepare_stage(
            context.account.clone(),
            context.stack.clone(),
            context.stage.clone(),
            context.release.clone(),
            log.clone(),
        )
        .await
        .map_err(|e| format!("Could not prepare the stage in AWS: {}", e.message));
    logged(log, prepared)
}

/// The part's own log says why Stageline failed it, not only its summary.
pub(super) fn logged<T>(log: &Arc<dyn LogSink>, result: Result<T, String>) -> Result<T, String> {
    if let Err(message) = &result {
        log.line(&format!("[Stageline] {message}"));
    }
    result
}

async fn find_image(
    context: &PartContext,
    ports: &Ports,
    scope: ImageScope,
    tag: &str,
) -> Result<Option<ImageRef>, String> {
    ports
        .deployer
        .find_image(
            context.account.clone(),
            context.stack.clone(),
            context.stage.clone(),
            scope,
            tag.to_string(),
        )
        .await
        .map_err(|e| e.message)
}

/// Checks out the commit and runs build.yml, which pushes
/// `$ECR_IMAGE_URL:<commit sha>` (R3b); the artifact is that image, pinned
/// to its digest.
async fn build(
    run_id: RunId,
    context: &PartContext,
    ports: &Ports,
    config: &PipelineConfig,
) -> Result<Artifact, String> {
    let log = ports.logs.open(run_id, PartKind::Build);
    let facts = prepare(context, ports, &log).await?;
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
        env: resolve(
            &context.stage.settings.build_env,
            SecretSources::of(ports, context),
        )
        .await?,
        injected: injected(context, &facts, None),
        sandboxed: !context.stage.settings.run_without_sandbox,
    };
    ports
        .builder
        .run(job, log.clone())
        .await
        .map_err(|e| e.message)?;
    let sha = &context.release.commit.sha;
    let found = find_image(context, ports, ImageScope::Stack, sha).await?;
    let image = logged(&log, found.ok_or_else(|| {
            format!(
                "build.yml pushed no image {}:{sha}. Every later stage starts from it: build.yml pushes \
                 $ECR_IMAGE_URL:latest and $ECR_IMAGE_URL:<commit sha> (TinyStacks' build.yml does)",
                facts.ecr_image_url
            )
        }))?;
    log.line(&format!(
        "[Stageline] Built image {} ({})",
        image.repository_url,
        short_digest(&image.digest)
    ));
    Ok(Artifact {
        image: image.reference(),
    })
}

/// Checks out the commit, runs release.yml for the run's stage and finds the
/// image the stage deploys (R3b), pinned to its digest.
async fn release(
    run_id: RunId,
    context: &PartContext,
    ports: &Ports,
    config: &PipelineConfig,
) -> Result<(String, BuildAccess), String> {
    let log = ports.logs.open(run_id, PartKind::Release);
    let facts = prepare(context, ports, &log).await?;
    let build = context
        .release
        .artifact
        .as_ref()
        .and_then(|a| ImageRef::parse(&a.image));
    let previous_tag = context.previous_stage_name.as_str();
    if let Some(build) = &build {
        hand_off_to_a_new_stage(context, ports, &log, build, previous_tag).await?;
    }
    let workspace = checkout(format!("release-{run_id}"), context, ports, config, &log).await?;
    let job = BuildJob {
        workdir: workspace.dir.clone(),
        part: PartKind::Release,
        env: resolve(
            &context.stage.settings.build_env,
            SecretSources::of(ports, context),
        )
        .await?,
        injected: injected(context, &facts, context.release.artifact.as_ref()),
        sandboxed: !context.stage.settings.run_without_sandbox,
    };
    ports
        .builder
        .run(job, log.clone())
        .await
        .map_err(|e| e.message)?;
    drop(workspace);

    let stage_tag = context.stage.settings.name.as_str();
    let found = TaggedImages {
        regional: match facts.regional_ecr_image_url {
            Some(_) => find_image(context, ports, ImageScope::Regional, stage_tag).await?,
            None => None,
        },
        stack: find_image(context, ports, ImageScope::Stack, stage_tag).await?,
        previous: find_image(context, ports, ImageScope::Stack, previous_tag).await?,
    };
    let image = match choose_stage_image(stage_tag, previous_tag, found, build) {
        StageImage::Missing(message) => return logged(&log, Err(message)),
        StageImage::Deploy { image, note } => {
            if let Some(note) = note {
                log.line(&format!("[Stageline] {note}"));
            }
            image
        }
        StageImage::DeployBuild { image, note } => {
            log.line(&format!("[Stageline] {note}"));
            ports
                .deployer
                .tag_image(
                    context.account.clone(),
                    context.stack.clone(),
                    image.clone(),
                    stage_tag.to_string(),
                )
                .await
                .map_err(|e| e.message)?;
            image
        }
    };
    log.line(&format!(
        "[Stageline] {} deploys {}@{}",
        context.stage.settings.name,
        image.repository_url,
        short_digest(&image.digest)
    ));
    Ok((image.reference(), facts.credentials.access))
}

/// R8 with R3b: a release approved while the stage before it is new and has
/// tagged nothing yet finds no `:$PREVIOUS_STAGE_NAME` to copy. Stageline
/// then creates that tag on this release's own image (it never moves a tag
/// that exists: a stage's own release.yml owns it).
async fn hand_off_to_a_new_stage(
    context: &PartContext,
    ports: &Ports,
    log: &Arc<dyn LogSink>,
    build: &ImageRef,
    previous_tag: &str,
) -> Result<(), String> {
    if find_image(context, ports, ImageScope::Stack, previous_tag)
        .await?
        .is_some()
    {
        return Ok(());
    }
    log.line(&format!(
        "[Stageline] :{previous_tag} does not exist yet (that stage has released nothing): \
         tagging this release's image ({}) :{previous_tag} for release.yml to copy",
        short_digest(&build.digest)
    ));
    ports
        .deployer
        .tag_image(
            context.account.clone(),
            context.stack.clone(),
            build.clone(),
            previous_tag.to_string(),
        )
        .await
        .map_err(|e| e.message)
}

async fn deploy_job(run: &Run, context: &PartContext, ports: &Ports) -> Result<DeployJob, String> {
    // Runs from before images were pinned deploy their release's artifact.
    let image = run
        .image
        .clone()
        .or_else(|| context.release.artifact.as_ref().map(|a| a.image.clone()))
        .ok_or_else(|| "This release has no image to deploy; run it again.".to_string())?;
    let mut job = prepare_deploy_job(context, image, SecretSources::of(ports, context)).await?;
    job.run_id = run.id;
    Ok(job)
}

/// What deploying `image` of `context`'s release to its stage means: the
/// image pinned to its digest and the stage's runtime variables with secrets
/// read. Also used to preview a deploy for an approval.
pub async fn prepare_deploy_job(
    context: &PartContext,
    image: String,
    secrets: SecretSources<'_>,
) -> Result<DeployJob, String> {
    Ok(DeployJob {
        run_id: RunId(0),
        account: context.account.clone(),
        stack: context.stack.clone(),
        stage: context.stage.clone(),
        release: context.release.clone(),
        artifact: Artifact { image },
        runtime_env: resolve(&context.stage.settings.runtime_env, secrets).await?,
        fence: None,
    })
}
