//! `CloudFormationDeployer`: the engine's `Deployer` port, plus what the app
//! calls directly (preview for the approval dialog, the account number).

mod access;
mod port;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stageline_engine::domain::{Account, Release, Stack, Stage};
use stageline_engine::ids::AccountId;
use stageline_engine::ports::{
    BoxFuture, DeployJob, DeployOutcome, DeployedState, Deployer, DiscardedLog, ImageRef,
    ImageScope, LogSink, StageFacts,
};
use stageline_engine::PortError;

use crate::bootstrap::{self, IssuedCredentials};
use crate::build_role::{self, Refused};
use crate::change_set::{self, ChangeSetSummary};
use crate::clients::{
    ClientCache, ClientSettings, CredentialsLookup, ProfileFilePaths, RegionClients,
};
use crate::errors::{error_code, to_port_error, SdkResultExt};
use crate::images;
use crate::lookups;
use crate::naming::{repository_name, StageNames, PLACEHOLDER_ACCOUNT_NUMBER};
use crate::stacks::{self, EventFeed, Patience};
use crate::stage_deploy::{self, release_tag, TAG_RELEASE};
use crate::template::PARAM_IMAGE_URI;

/// How the deployer talks to AWS.
#[derive(Debug, Clone)]
pub struct DeployerOptions {
    /// Retry throttled and failed (5xx) requests with backoff (the SDK's
    /// standard policy). Off in tests against an emulator, so the first error shows.
    pub retries: bool,
    /// The longest a deploy or delete waits for CloudFormation (default 6 h:
    /// CloudFormation's own state decides, a new database or a slow rollback
    /// takes tens of minutes, and the ECS circuit breaker ends a deploy whose
    /// tasks never start).
    pub max_wait: Duration,
    /// How often a running stack operation is looked at (default 5 s).
    pub poll_interval: Duration,
    /// Where named profiles are read from; `None`: the standard AWS files.
    pub profile_files: Option<ProfileFilePaths>,
}

impl Default for DeployerOptions {
    fn default() -> Self {
        DeployerOptions {
            retries: true,
            max_wait: Duration::from_secs(6 * 60 * 60),
            poll_interval: Duration::from_secs(5),
            profile_files: None,
        }
    }
}

/// Deploys stages as CloudFormation stacks through change sets.
#[derive(Clone)]
pub struct CloudFormationDeployer {
    inner: Arc<Inner>,
}

struct Inner {
    clients: ClientCache,
    patience: Patience,
    account_numbers: Mutex<HashMap<AccountId, String>>,
    /// Session credentials handed to parts, per account, while fresh.
    part_credentials: Mutex<HashMap<AccountId, IssuedCredentials>>,
    /// Build roles known to exist with their policy, by account and role
    /// name: their ARN (IAM is asked once per role per run of Stageline).
    build_roles: Mutex<HashMap<(AccountId, String), String>>,
}

impl CloudFormationDeployer {
    /// A deployer; keychain accounts' keys come from `credentials`.
    pub fn new(credentials: Arc<dyn CredentialsLookup>, options: DeployerOptions) -> Self {
        let settings = ClientSettings {
            retries: options.retries,
            profile_files: options.profile_files,
        };
        CloudFormationDeployer {
            inner: Arc::new(Inner {
                clients: ClientCache::new(credentials, settings),
                patience: Patience {
                    max_wait: options.max_wait,
                    poll_interval: options.poll_interval,
                },
                account_numbers: Mutex::new(HashMap::new()),
                part_credentials: Mutex::new(HashMap::new()),
                build_roles: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The names of a stage's resources, with the account number if known
    /// (else [`PLACEHOLDER_ACCOUNT_NUMBER`]: for display only; every part
    /// and deploy learns the real number first).
    pub fn stage_names(&self, account: &Account, stack: &Stack, stage: &Stage) -> StageNames {
        let number = self.inner.known_account_number(account);
        StageNames::new(
            &stack.name,
            &stage.settings.name,
            &stage.settings.region,
            &number,
        )
        .with_home_region(&stack.home_region)
    }

    /// Asks AWS for the account's number (STS GetCallerIdentity) and keeps it
    /// for `stage_facts`. The app calls it when an account is added or edited
    /// (not at start: an idle app builds no AWS client); deploys call it too.
    pub fn learn_account_number(
        &self,
        account: Account,
    ) -> BoxFuture<'static, Result<String, PortError>> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.account_number(&account).await.map_err(to_port_error) })
    }

    /// The account's S3 and STS clients in `region`, for the state of its
    /// team stacks (R22): the same credentials, endpoint and retries as its
    /// deploys.
    pub async fn team_clients(
        &self,
        account: &Account,
        region: &str,
    ) -> (aws_sdk_s3::Client, aws_sdk_sts::Client) {
        let clients = self.inner.clients.get(account, region).await;
        (clients.s3, clients.sts)
    }

    /// Drops the cached clients and number of an account whose keys or
    /// settings changed.
    pub fn forget_account(&self, account: &Account) {
        self.inner.clients.forget(account);
        self.inner
            .account_numbers
            .lock()
            .expect("account numbers lock")
            .remove(&account.id);
        self.inner
            .part_credentials
            .lock()
            .expect("part credentials lock")
            .remove(&account.id);
        self.inner
            .build_roles
            .lock()
            .expect("build roles lock")
            .retain(|(id, _), _| *id != account.id);
    }

    /// The clients of `account` in `region`, for the crate's readers outside
    /// the deployer (verify).
    pub(crate) async fn region_clients(&self, account: &Account, region: &str) -> RegionClients {
        self.inner.clients.get(account, region).await
    }

    /// What the stage's CloudFormation stack is now, and whether it needs
    /// its user (a rollback that failed, for the stage window).
    pub fn stack_health(
        &self,
        account: Account,
        stack: Stack,
        stage: Stage,
    ) -> BoxFuture<'static, Result<StackHealth, PortError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (clients, names) = inner.open(&account, &stack, &stage).await?;
            let state = stacks::describe(&clients.cloudformation, &names.cloudformation_stack())
                .await
                .map_err(to_port_error)?;
            Ok(StackHealth::of(state.as_ref()))
        })
    }

    /// Continues a rollback that failed (UPDATE_ROLLBACK_FAILED): CloudFormation
    /// tries again to put the stack back on its previous version; waits until
    /// it settles and says how it ended.
    pub fn continue_rollback(
        &self,
        account: Account,
        stack: Stack,
        stage: Stage,
        log: Arc<dyn LogSink>,
    ) -> BoxFuture<'static, Result<StackHealth, PortError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (clients, names) = inner.open(&account, &stack, &stage).await?;
            let name = names.cloudformation_stack();
            let client = &clients.cloudformation;
            let mut feed = EventFeed::start(client, &name, log.clone()).await;
            client
                .continue_update_rollback()
                .stack_name(&name)
                .send()
                .await
                .aws(|| format!("Could not continue the rollback of {name}"))
                .map_err(to_port_error)?;
            log.line(&format!("Continuing the rollback of {name}"));
            let settled = stacks::wait_until_settled(client, &mut feed, inner.patience)
                .await
                .map_err(to_port_error)?;
            let health = StackHealth::of(settled.as_ref());
            if health.rollback_failed {
                let cause = feed
                    .first_failure()
                    .unwrap_or_else(|| "CloudFormation gave no reason".to_owned());
                return Err(PortError::new(
                    stageline_engine::System::Aws,
                    format!("The rollback of {name} failed again: {cause}"),
                ));
            }
            Ok(health)
        })
    }

    /// What deploying `job` would change, for the approval dialog: a change
    /// set created (secrets stored, database looked up as for a deploy), read
    /// and deleted, never executed.
    pub fn preview(
        &self,
        job: DeployJob,
        log: Arc<dyn LogSink>,
    ) -> BoxFuture<'static, Result<ChangeSetSummary, PortError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (clients, names) = inner.open(&job.account, &job.stack, &job.stage).await?;
            let prepared = stage_deploy::prepare(&clients, &names, &job, log.as_ref())
                .await
                .map_err(to_port_error)?;
            stage_deploy::preview(&clients, prepared, inner.patience, &log)
                .await
                .map_err(to_port_error)
        })
    }
}

impl Inner {
    fn known_account_number(&self, account: &Account) -> String {
        let numbers = self.account_numbers.lock().expect("account numbers lock");
        numbers
            .get(&account.id)
            .cloned()
            .unwrap_or_else(|| PLACEHOLDER_ACCOUNT_NUMBER.to_owned())
    }

    async fn account_number(&self, account: &Account) -> anyhow::Result<String> {
        if let Some(known) = self
            .account_numbers
            .lock()
            .expect("account numbers lock")
            .get(&account.id)
        {
            return Ok(known.clone());
        }
        let clients = self.clients.get(account, &account.default_region).await;
        let number = lookups::account_number(&clients).await?;
        self.account_numbers
            .lock()
            .expect("account numbers lock")
            .insert(account.id, number.clone());
        Ok(number)
    }

    /// The stage's clients and names (with the real account number).
    async fn open(
        &self,
        account: &Account,
        stack: &Stack,
        stage: &Stage,
    ) -> Result<(RegionClients, StageNames), PortError> {
        let region = &stage.settings.region;
        let number = self.account_number(account).await.map_err(to_port_error)?;
        let clients = self.clients.get(account, region).await;
        Ok((
            clients,
            StageNames::new(&stack.name, &stage.settings.name, region, &number)
                .with_home_region(&stack.home_region),
        ))
    }

    async fn find_image(
        &self,
        account: Account,
        stack: Stack,
        stage: Stage,
        scope: ImageScope,
        tag: String,
    ) -> Result<Option<ImageRef>, PortError> {
        let (_, names) = self.open(&account, &stack, &stage).await?;
        let (region, url) = match scope {
            ImageScope::Stack => (names.home_region().to_owned(), names.image_url()),
            ImageScope::Regional => match names.regional_image_url() {
                Some(url) => (names.region().to_owned(), url),
                None => return Ok(None),
            },
        };
        let clients = self.clients.get(&account, &region).await;
        images::find(&clients, &names.repository(), &url, &tag)
            .await
            .map_err(to_port_error)
    }

    async fn tag_image(
        &self,
        account: Account,
        stack: Stack,
        image: ImageRef,
        tag: String,
    ) -> Result<(), PortError> {
        let clients = self.clients.get(&account, &stack.home_region).await;
        images::retag(&clients, &repository_name(&stack.name), &image.digest, &tag)
            .await
            .map_err(to_port_error)
    }

    async fn deploy(
        &self,
        job: DeployJob,
        log: Arc<dyn LogSink>,
    ) -> Result<DeployOutcome, PortError> {
        let (clients, names) = self.open(&job.account, &job.stack, &job.stage).await?;
        log.line(&format!(
            "Deploying release {} ({}) to {} in {}",
            job.release.commit.short_sha(),
            release_tag(&job.release),
            names.cloudformation_stack(),
            names.region()
        ));
        let prepared = stage_deploy::prepare(&clients, &names, &job, log.as_ref())
            .await
            .map_err(to_port_error)?;
        let ids = stage_deploy::DeployIds {
            release: job.release.id.0,
            run: job.run_id.0,
        };
        stage_deploy::run(&clients, prepared, ids, self.patience, log)
            .await
            .map_err(to_port_error)
    }

    async fn reconcile(
        &self,
        job: DeployJob,
        log: Arc<dyn LogSink>,
    ) -> Result<DeployedState, PortError> {
        let (clients, names) = self.open(&job.account, &job.stack, &job.stage).await?;
        let client = &clients.cloudformation;
        let stack = names.cloudformation_stack();
        let mut state = stacks::describe(client, &stack)
            .await
            .map_err(to_port_error)?;
        if state.as_ref().is_some_and(stacks::StackState::in_progress) {
            log.line(&format!(
                "An operation is in progress on {stack}; waiting for it to finish"
            ));
            let mut feed = EventFeed::start(client, &stack, log.clone()).await;
            state = stacks::wait_until_settled(client, &mut feed, self.patience)
                .await
                .map_err(to_port_error)?;
        }
        let Some(state) = state else {
            return Ok(DeployedState::NotDeployed);
        };
        // The stack runs this release: its tag says so, or (an emulator may
        // not update tags) its image parameter does.
        let ours = state.tag(TAG_RELEASE) == Some(release_tag(&job.release).as_str())
            || state.parameter(PARAM_IMAGE_URI) == Some(stage_deploy::image_uri(&job));
        // The last change set executed on the stack was this run's own (not
        // an earlier attempt's of the same release).
        let this_run = state.last_change_set.as_deref().is_some_and(|name| {
            change_set::is_run_change_set(name, job.release.id.0, job.run_id.0)
        });
        let failed = |cause: Option<String>| DeployedState::Failed {
            message: format!(
                "{}; {}",
                cause
                    .or_else(|| state.reason.clone())
                    .unwrap_or_else(|| "CloudFormation gave no reason".to_owned()),
                state.outcome()
            ),
        };
        Ok(match state.status.as_str() {
            _ if state.succeeded() && ours => DeployedState::Deployed,
            // This run's update (or creation) failed and was rolled back.
            "UPDATE_ROLLBACK_COMPLETE"
            | "ROLLBACK_COMPLETE"
            | "UPDATE_ROLLBACK_FAILED"
            | "ROLLBACK_FAILED"
                if this_run =>
            {
                failed(stacks::last_operation_failure(client, &stack, log.clone()).await)
            }
            // Another deploy failed and the stack rolled back *to* this release.
            "UPDATE_ROLLBACK_COMPLETE" if ours => DeployedState::Deployed,
            // Not deployed yet: the deploy goes on from where it stopped (a
            // change set of this run waiting to be executed is executed).
            _ => DeployedState::NotDeployed,
        })
    }

    async fn scale(
        &self,
        account: Account,
        stack: Stack,
        stage: Stage,
        count: u32,
    ) -> Result<(), PortError> {
        let (clients, names) = self.open(&account, &stack, &stage).await?;
        let desired = i32::try_from(count)
            .map_err(|_| PortError::new(stageline_engine::System::Aws, "Too many instances"))?;
        let result = clients
            .ecs
            .update_service()
            .cluster(names.cluster())
            .service(names.service())
            .desired_count(desired)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if matches!(
                    error_code(&error),
                    Some("ServiceNotFoundException" | "ClusterNotFoundException")
                ) =>
            {
                Err(PortError::new(
                    stageline_engine::System::Aws,
                    format!(
                        "Stage {} has no ECS service in {} yet: deploy it once before scaling",
                        stage.settings.name,
                        names.region()
                    ),
                ))
            }
            Err(error) => Err(error)
                .aws(|| {
                    format!(
                        "Could not set the desired count of the ECS service {}",
                        names.service()
                    )
                })
                .map_err(to_port_error),
        }
    }

    async fn delete_stage(
        &self,
        account: Account,
        stack: Stack,
        stage: Stage,
    ) -> Result<(), PortError> {
        let (clients, names) = self.open(&account, &stack, &stage).await?;
        let log: Arc<dyn LogSink> = Arc::new(DiscardedLog);
        // Emptied first: a bucket still in the stack (stages made before
        // buckets moved out of it) could not be deleted with objects in it.
        bootstrap::empty_bucket(&clients, &names.bucket())
            .await
            .map_err(to_port_error)?;
        stage_deploy::delete_stack(&clients, &names.cloudformation_stack(), self.patience, &log)
            .await
            .map_err(to_port_error)?;
        bootstrap::delete_bucket(&clients, &names.bucket())
            .await
            .map_err(to_port_error)?;
        let prefix = names.runtime_secret("");
        lookups::delete_secrets(&clients, &prefix)
            .await
            .map_err(to_port_error)?;
        build_role::delete(&clients, &names, log.as_ref()).await;
        self.build_roles
            .lock()
            .expect("build roles lock")
            .remove(&(account.id, names.build_role()));
        Ok(())
    }
}

/// A stage's CloudFormation stack as the stage window shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackHealth {
    /// CloudFormation's status (`UPDATE_COMPLETE`…); `None` when there is no stack.
    pub status: Option<String>,
    /// Why it is so, as CloudFormation says.
    pub reason: Option<String>,
    /// The stack's rollback failed: it can only be updated again once the
    /// rollback is continued (or it is deleted).
    pub rollback_failed: bool,
}

impl StackHealth {
    fn of(state: Option<&stacks::StackState>) -> StackHealth {
        StackHealth {
            status: state.map(|s| s.status.clone()),
            reason: state.and_then(|s| s.reason.clone()),
            rollback_failed: state.is_some_and(|s| s.status == "UPDATE_ROLLBACK_FAILED"),
        }
    }
}
