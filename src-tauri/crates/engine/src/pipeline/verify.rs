//! The verify part (R18): the deploy's health check, the repository's
//! `verify.yml` smoke tests, and the soak time while alarms are watched.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::{PartKind, Run};
use crate::flow::PartContext;
use crate::pipeline::{PipelineConfig, Ports};
use crate::ports::{AlarmState, BuildJob, LogSink, ResolvedVar};

/// Runs every check the stage's settings ask for, in order; the first that
/// fails fails the part with a message a user can act on.
pub(super) async fn verify(
    run: &Run,
    context: &PartContext,
    ports: &Ports,
    config: &PipelineConfig,
) -> Result<(), String> {
    let log = ports.logs.open(run.id, PartKind::Verify);
    let result = checks(run, context, ports, config, &log).await;
    super::effects::logged(&log, result)
}

async fn checks(
    run: &Run,
    context: &PartContext,
    ports: &Ports,
    config: &PipelineConfig,
    log: &Arc<dyn LogSink>,
) -> Result<(), String> {
    let verification = &context.stage.settings.verification;
    // A stopped service (0 instances) answers nothing on AWS: only its alarms are watched.
    let stopped = context.stage.settings.desired_count == 0;
    if stopped && (verification.health_check || verification.smoke_tests) {
        log.line(
            "[Stageline] The service is stopped (0 instances): its health check and smoke tests are skipped.",
        );
    }
    let needs_url = !stopped && (verification.health_check || verification.smoke_tests);
    let url = if needs_url {
        Some(service_url(context, ports, log).await?)
    } else {
        None
    };
    if let (true, Some(url)) = (verification.health_check, &url) {
        health_check(context, ports, config, log, url).await?;
    }
    if let (true, Some(url)) = (verification.smoke_tests, &url) {
        smoke_tests(run, context, ports, config, log, url).await?;
    }
    if verification.soak_minutes > 0 || !verification.alarms.is_empty() {
        soak(context, ports, config, log).await?;
    }
    log.line("[Stageline] Verified: the release may flow on.");
    Ok(())
}

async fn service_url(
    context: &PartContext,
    ports: &Ports,
    log: &Arc<dyn LogSink>,
) -> Result<String, String> {
    let url = ports
        .deployer
        .service_url(
            context.account.clone(),
            context.stack.clone(),
            context.stage.clone(),
        )
        .await
        .map_err(|e| format!("Could not read the stage's service URL: {}", e.message))?
        .ok_or_else(|| {
            "The stage's stack has no service URL (its ServiceUrl output is missing)".to_string()
        })?;
    log.line(&format!("[Stageline] The stage's service URL is {url}"));
    Ok(url)
}

/// `GET <url><health path>` until it answers 2xx, within the stage's time
/// limit. Each new kind of answer is logged once, not every poll.
async fn health_check(
    context: &PartContext,
    ports: &Ports,
    config: &PipelineConfig,
    log: &Arc<dyn LogSink>,
    url: &str,
) -> Result<(), String> {
    let settings = &context.stage.settings;
    let limit = Duration::from_secs(u64::from(settings.verification.health_timeout_secs));
    let path = settings.health_path.clone();
    let started = Instant::now();
    log.line(&format!(
        "[Stageline] Health check: GET {path} until it answers 2xx (at most {} s)",
        limit.as_secs()
    ));
    let mut last = String::new();
    loop {
        let answer = ports
            .deployer
            .probe(context.account.clone(), url.to_string(), path.clone())
            .await;
        let seen = match answer {
            Ok(status) if (200..300).contains(&status) => {
                log.line(&format!(
                    "[Stageline] {path} answered {status} after {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            Ok(status) => format!("it answered {status}"),
            Err(error) => error.message,
        };
        if seen != last {
            log.line(&format!("[Stageline] {path}: {seen}; trying again…"));
            last = seen;
        }
        if started.elapsed() + config.verify_poll > limit {
            return Err(format!(
                "The health check failed: {path} gave no 2xx answer within {} s (last: {last})",
                limit.as_secs()
            ));
        }
        tokio::time::sleep(config.verify_poll).await;
    }
}

/// The repository's `verify.yml`, run like `release.yml` with `STAGE_URL`.
async fn smoke_tests(
    run: &Run,
    context: &PartContext,
    ports: &Ports,
    config: &PipelineConfig,
    log: &Arc<dyn LogSink>,
    url: &str,
) -> Result<(), String> {
    log.line("[Stageline] Smoke tests: verify.yml");
    let facts = super::effects::prepare(context, ports, log).await?;
    let workspace =
        super::workspace::checkout(format!("verify-{}", run.id), context, ports, config, log)
            .await?;
    let mut injected = super::effects::injected(context, &facts, context.release.artifact.as_ref());
    injected.push(ResolvedVar::plain("STAGE_URL", url));
    let job = BuildJob {
        workdir: workspace.dir.clone(),
        part: PartKind::Verify,
        env: super::effects::resolve(
            &context.stage.settings.build_env,
            super::effects::SecretSources::of(ports, context),
        )
        .await?,
        injected,
        sandboxed: !context.stage.settings.run_without_sandbox,
    };
    ports
        .builder
        .run(job, log.clone())
        .await
        .map_err(|e| format!("The smoke tests failed: {}", e.message))
}

/// The soak time: the release stays while the named alarms are read every
/// poll; one in ALARM, or a name no alarm has, fails it. Without a soak
/// time the alarms are read once. Alarms that cannot be read three times
/// in a row fail it too: an unwatched soak proves nothing.
async fn soak(
    context: &PartContext,
    ports: &Ports,
    config: &PipelineConfig,
    log: &Arc<dyn LogSink>,
) -> Result<(), String> {
    let verification = &context.stage.settings.verification;
    let region = context.stage.settings.region.clone();
    let length = Duration::from_secs(u64::from(verification.soak_minutes) * 60);
    let started = Instant::now();
    log.line(&format!(
        "[Stageline] Soak time: {} min, watching {}",
        verification.soak_minutes,
        if verification.alarms.is_empty() {
            "no alarms".to_string()
        } else {
            verification.alarms.join(", ")
        }
    ));
    let mut unreadable = 0;
    loop {
        if !verification.alarms.is_empty() {
            match ports
                .deployer
                .alarms(
                    context.account.clone(),
                    region.clone(),
                    verification.alarms.clone(),
                )
                .await
            {
                Ok(readings) => {
                    unreadable = 0;
                    for reading in readings {
                        match reading.state {
                            None => {
                                return Err(format!(
                                    "No CloudWatch alarm is named {} in {region}",
                                    reading.name
                                ))
                            }
                            Some(AlarmState::Alarm) => {
                                return Err(format!(
                                    "Alarm {} went into ALARM during the soak time: {}",
                                    reading.name, reading.reason
                                ))
                            }
                            Some(AlarmState::Ok | AlarmState::InsufficientData) => {}
                        }
                    }
                }
                Err(error) => {
                    unreadable += 1;
                    log.line(&format!(
                        "[Stageline] Could not read the alarms: {}",
                        error.message
                    ));
                    if unreadable >= 3 {
                        return Err(format!(
                            "The alarms could not be read during the soak time: {}",
                            error.message
                        ));
                    }
                }
            }
        }
        let elapsed = started.elapsed();
        if elapsed >= length {
            log.line(&format!(
                "[Stageline] Soak time over: the alarms stayed out of ALARM for {} min",
                verification.soak_minutes
            ));
            return Ok(());
        }
        tokio::time::sleep(config.verify_poll.min(length - elapsed)).await;
    }
}
