//! A deployer that deploys nothing: it remembers what each stage runs, and
//! its deploys can be held, failed and counted.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use super::fakes::{FakeRegistry, Gates};
use crate::domain::*;
use crate::error::*;
use crate::ids::*;
use crate::ports::*;

/// Deploys nothing; remembers what each stage runs. Deploys to a held stage
/// name wait; failing stage names fail.
#[derive(Default)]
pub struct FakeDeployer {
    registry: Arc<FakeRegistry>,
    deployed_images: Arc<Mutex<Vec<(String, String)>>>,
    deploys: Arc<Mutex<Vec<(String, ReleaseId)>>>,
    running: Arc<Mutex<HashMap<String, ReleaseId>>>,
    failing: Mutex<HashSet<String>>,
    scales: Arc<Mutex<Vec<(String, u32)>>>,
    deleted: Mutex<Vec<String>>,
    failing_deletes: Mutex<HashSet<String>>,
    failing_scales: Mutex<HashSet<String>>,
    unreachable_reconciles: AtomicI64,
    reconciles: AtomicI64,
    url_reads: AtomicI64,
    /// Stages whose stacks have no URL (no load balancer, no API).
    without_urls: std::sync::atomic::AtomicBool,
    gates: Gates,
    /// What verification sees of the deployed services (R18).
    pub service: super::fake_service::FakeService,
    /// R22: team secrets by ARN.
    team_secrets: Arc<Mutex<HashMap<String, String>>>,
}

impl FakeDeployer {
    /// A deployer whose stages' repositories are in `registry`.
    pub fn with_registry(registry: Arc<FakeRegistry>) -> Self {
        FakeDeployer {
            registry,
            ..FakeDeployer::default()
        }
    }

    /// The fake account number every stage is in.
    pub const ACCOUNT: &'static str = "123456789012";

    /// The stack's image repository URL in its home region.
    pub fn repository_url(stack: &Stack) -> String {
        format!(
            "{}.dkr.ecr.{}.amazonaws.com/stageline/{}",
            Self::ACCOUNT,
            stack.home_region,
            stack.name
        )
    }

    /// Every image deployed: (stage name, `repo@digest`).
    pub fn deployed_images(&self) -> Vec<(String, String)> {
        self.deployed_images.lock().unwrap().clone()
    }

    /// Holds deploys to the stage `name` until released.
    pub fn hold(&self, name: &str) {
        self.gates.hold(name);
    }

    pub fn release(&self, name: &str) {
        self.gates.release(name);
    }

    /// Makes deploys to the stage `name` fail.
    pub fn fail(&self, name: &str) {
        self.failing.lock().unwrap().insert(name.to_string());
    }

    /// Lets deploys to the stage `name` succeed again.
    pub fn heal(&self, name: &str) {
        self.failing.lock().unwrap().remove(name);
    }

    /// Makes deleting the stage `name` fail (or succeed again with `false`).
    pub fn fail_delete(&self, name: &str, fail: bool) {
        let mut set = self.failing_deletes.lock().unwrap();
        if fail {
            set.insert(name.to_string());
        } else {
            set.remove(name);
        }
    }

    /// Every deploy that completed: (stage name, release).
    /// From now on, no stage's stack has a URL (a worker service's).
    pub fn without_urls(&self) {
        self.without_urls.store(true, Ordering::SeqCst);
    }

    /// How many times a stage's URL was read.
    pub fn url_reads(&self) -> i64 {
        self.url_reads.load(Ordering::SeqCst)
    }

    pub fn deploys(&self) -> Vec<(String, ReleaseId)> {
        self.deploys.lock().unwrap().clone()
    }

    /// What each stage name runs now.
    pub fn running(&self) -> HashMap<String, ReleaseId> {
        self.running.lock().unwrap().clone()
    }

    /// Every scale call: (stage name, count).
    pub fn scales(&self) -> Vec<(String, u32)> {
        self.scales.lock().unwrap().clone()
    }

    /// Pretends AWS finished deploying `release` to the stage `name` (a deploy
    /// that completed while Stageline was not running).
    pub fn pretend_deployed(&self, name: &str, release: ReleaseId) {
        self.running
            .lock()
            .unwrap()
            .insert(name.to_string(), release);
    }

    /// Makes scaling the stage `name` fail (or succeed again with `false`).
    pub fn fail_scale(&self, name: &str, fail: bool) {
        let mut set = self.failing_scales.lock().unwrap();
        if fail {
            set.insert(name.to_string());
        } else {
            set.remove(name);
        }
    }

    /// Holds every scale call until released.
    pub fn hold_scales(&self) {
        self.gates.hold("scale");
    }

    pub fn release_scales(&self) {
        self.gates.release("scale");
    }

    /// Makes the next `n` reconciles fail as an unreachable AWS would.
    pub fn fail_reconciles(&self, n: i64) {
        self.unreachable_reconciles.store(n, Ordering::SeqCst);
    }

    /// How many reconciles were asked for.
    pub fn reconciles(&self) -> i64 {
        self.reconciles.load(Ordering::SeqCst)
    }

    /// Every stage whose stack was deleted.
    pub fn deleted(&self) -> Vec<String> {
        self.deleted.lock().unwrap().clone()
    }
}

impl Deployer for FakeDeployer {
    fn prepare_stage(
        &self,
        _account: Account,
        stack: Stack,
        stage: Stage,
        _release: Release,
        _log: Arc<dyn LogSink>,
    ) -> BoxFuture<'static, Result<StageFacts, PortError>> {
        let region = stage.settings.region.clone();
        let name = format!("{}-{}", stack.name, stage.settings.name);
        let account = Self::ACCOUNT;
        let image_url = Self::repository_url(&stack);
        self.registry.create(&image_url);
        let regional = (region != stack.home_region).then(|| {
            let endpoint = format!("{account}.dkr.ecr.{region}.amazonaws.com");
            let url = format!("{endpoint}/stageline/{}", stack.name);
            self.registry.create(&url);
            (endpoint, url)
        });
        let facts = StageFacts {
            account_id: account.to_string(),
            home_region: stack.home_region.clone(),
            ecr_endpoint: format!("{account}.dkr.ecr.{}.amazonaws.com", stack.home_region),
            ecr_image_url: image_url,
            regional_ecr_endpoint: regional.as_ref().map(|(e, _)| e.clone()),
            regional_ecr_image_url: regional.map(|(_, u)| u),
            cluster_arn: format!("arn:aws:ecs:{region}:{account}:cluster/{name}"),
            service_name: name.clone(),
            task_role_arn: format!("arn:aws:iam::{account}:role/{name}-task"),
            s3_bucket: format!("{name}-{region}-{account}"),
            endpoint_url: None,
            credentials: PartCredentials {
                access_key_id: "ASIAFAKESESSION".to_string(),
                secret_access_key: "fake-session-secret".to_string(),
                session_token: Some("fake-session-token".to_string()),
                description: "fake build role credentials".to_string(),
                access: BuildAccess::BuildRole,
            },
        };
        Box::pin(async move { Ok(facts) })
    }

    fn find_image(
        &self,
        _account: Account,
        stack: Stack,
        stage: Stage,
        scope: ImageScope,
        tag: String,
    ) -> BoxFuture<'static, Result<Option<ImageRef>, PortError>> {
        let repository_url = match scope {
            ImageScope::Stack => Self::repository_url(&stack),
            ImageScope::Regional => format!(
                "{}.dkr.ecr.{}.amazonaws.com/stageline/{}",
                Self::ACCOUNT,
                stage.settings.region,
                stack.name
            ),
        };
        let found = self
            .registry
            .digest(&repository_url, &tag)
            .map(|digest| ImageRef {
                repository_url,
                digest,
            });
        Box::pin(async move { Ok(found) })
    }

    fn tag_image(
        &self,
        _account: Account,
        stack: Stack,
        image: ImageRef,
        tag: String,
    ) -> BoxFuture<'static, Result<(), PortError>> {
        let result = self
            .registry
            .push(&Self::repository_url(&stack), &tag, &image.digest)
            .map_err(|m| PortError::new(System::Aws, m));
        Box::pin(async move { result })
    }

    fn deploy(
        &self,
        job: DeployJob,
        log: Arc<dyn LogSink>,
    ) -> BoxFuture<'static, Result<DeployOutcome, PortError>> {
        let name = job.stage.settings.name.clone();
        let fails = self.failing.lock().unwrap().contains(&name);
        let gate = self.gates.sender(&name);
        let running = self.running.clone();
        let deploys = self.deploys.clone();
        let deployed_images = self.deployed_images.clone();
        // Stricter than moto: AWS refuses a task definition whose image was never pushed.
        let pushed = ImageRef::parse(&job.artifact.image)
            .is_some_and(|image| self.registry.holds(&image.repository_url, &image.digest));
        Box::pin(async move {
            if !pushed {
                return Err(PortError::new(
                    System::Aws,
                    format!("The image {} was never pushed", job.artifact.image),
                ));
            }
            let mut receiver = gate.subscribe();
            let _ = receiver.wait_for(|held| !held).await;
            if fails {
                log.line("Service UPDATE_FAILED");
                return Err(PortError::new(
                    System::Aws,
                    "Service (AWS::ECS::Service) UPDATE_FAILED: the tasks did not start; the stack rolled back to its previous version",
                ));
            }
            running.lock().unwrap().insert(name.clone(), job.release.id);
            let mut images = deployed_images.lock().unwrap();
            // As CloudFormation: the image the stage runs already is an empty change set.
            let unchanged = images
                .iter()
                .rev()
                .find(|(stage, _)| *stage == name)
                .is_some_and(|(_, image)| *image == job.artifact.image);
            images.push((name.clone(), job.artifact.image.clone()));
            drop(images);
            deploys.lock().unwrap().push((name, job.release.id));
            if unchanged {
                log.line("No changes");
                return Ok(DeployOutcome::NoChanges);
            }
            log.line("UPDATE_COMPLETE");
            Ok(DeployOutcome::Deployed)
        })
    }

    fn reconcile(
        &self,
        job: DeployJob,
        _log: Arc<dyn LogSink>,
    ) -> BoxFuture<'static, Result<DeployedState, PortError>> {
        let runs_it =
            self.running.lock().unwrap().get(&job.stage.settings.name) == Some(&job.release.id);
        self.reconciles.fetch_add(1, Ordering::SeqCst);
        let unreachable = self.unreachable_reconciles.fetch_sub(1, Ordering::SeqCst) > 0;
        Box::pin(async move {
            if unreachable {
                return Err(PortError::new(
                    System::Aws,
                    "dispatch failure: connection to cloudformation.us-east-1.amazonaws.com timed out",
                ));
            }
            Ok(if runs_it {
                DeployedState::Deployed
            } else {
                DeployedState::NotDeployed
            })
        })
    }

    fn scale(
        &self,
        _account: Account,
        _stack: Stack,
        stage: Stage,
        count: u32,
    ) -> BoxFuture<'static, Result<(), PortError>> {
        let fails = self
            .failing_scales
            .lock()
            .unwrap()
            .contains(&stage.settings.name);
        let gate = self.gates.sender("scale");
        let scales = self.scales.clone();
        Box::pin(async move {
            let _ = gate.subscribe().wait_for(|held| !held).await;
            if fails {
                return Err(PortError::new(
                    System::Aws,
                    "AccessDeniedException: not allowed to call ecs:UpdateService",
                ));
            }
            scales.lock().unwrap().push((stage.settings.name, count));
            Ok(())
        })
    }

    fn delete_stage(
        &self,
        _account: Account,
        _stack: Stack,
        stage: Stage,
    ) -> BoxFuture<'static, Result<(), PortError>> {
        let name = stage.settings.name;
        let fails = self.failing_deletes.lock().unwrap().contains(&name);
        if !fails {
            self.deleted.lock().unwrap().push(name.clone());
            self.running.lock().unwrap().remove(&name);
        }
        Box::pin(async move {
            if fails {
                Err(PortError::new(
                    System::Aws,
                    format!("Stack DELETE_FAILED: the bucket of {name} is not empty"),
                ))
            } else {
                Ok(())
            }
        })
    }

    fn service_url(
        &self,
        _account: Account,
        _stack: Stack,
        stage: Stage,
    ) -> BoxFuture<'static, Result<Option<String>, PortError>> {
        self.url_reads.fetch_add(1, Ordering::SeqCst);
        let name = stage.settings.name;
        let exists = self.running.lock().unwrap().contains_key(&name);
        let has_url = exists && !self.without_urls.load(Ordering::SeqCst);
        let url = has_url.then(|| super::fake_service::FakeService::url(&name));
        Box::pin(async move { Ok(url) })
    }

    fn store_team_secret(
        &self,
        _account: Account,
        region: String,
        name: String,
        value: String,
    ) -> BoxFuture<'static, Result<String, PortError>> {
        let arn = format!("arn:aws:secretsmanager:{region}:123456789012:secret:{name}");
        self.team_secrets.lock().unwrap().insert(arn.clone(), value);
        Box::pin(async move { Ok(arn) })
    }

    fn read_team_secret(
        &self,
        _account: Account,
        arn: String,
    ) -> BoxFuture<'static, Result<String, PortError>> {
        let value = self.team_secrets.lock().unwrap().get(&arn).cloned();
        Box::pin(async move {
            value.ok_or_else(|| {
                PortError::new(
                    System::Aws,
                    "Secrets Manager can't find the specified secret.",
                )
            })
        })
    }

    fn probe(
        &self,
        _account: Account,
        url: String,
        path: String,
    ) -> BoxFuture<'static, Result<u16, PortError>> {
        let status = self.service.probe(&url, &path);
        Box::pin(async move { Ok(status) })
    }

    fn alarms(
        &self,
        _account: Account,
        _region: String,
        names: Vec<String>,
    ) -> BoxFuture<'static, Result<Vec<AlarmReading>, PortError>> {
        let readings = self.service.readings(&names);
        Box::pin(async move { Ok(readings) })
    }
}
