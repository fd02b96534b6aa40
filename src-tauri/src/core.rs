//! The app's core without any window: the engine and every adapter, wired.
//! Commands call into it; tests drive it directly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use stageline_aws::{AwsCredentials, CloudFormationDeployer, CredentialsLookup, DeployerOptions};
use stageline_build::BuildspecRunner;
use stageline_engine::pipeline::{Pipeline, PipelineConfig, Ports};
use stageline_engine::ports::{BoxFuture, Clock, Events};
use stageline_engine::team::LeaseTimes;
use stageline_engine::{Account, CredentialSource, PortError, StackId};
use stageline_git::{GitCredentials, GitSource};
use stageline_secrets::Keychain;
use stageline_store::SqliteStore;
use stageline_team::{TeamApprovals, TeamCoordinator, TeamDefinitions};

use crate::clock::SystemClock;
use crate::logs::FileLogs;

/// Where the core keeps its files and which keychain service it uses.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub data_dir: PathBuf,
    pub keychain_service: String,
    /// Retries on throttling and 5xx (off against emulators in tests).
    pub aws_retries: bool,
    /// How often running CloudFormation operations are looked at.
    pub aws_poll_interval: Duration,
    /// Keep build checkouts after each part (for debugging).
    pub keep_workspaces: bool,
}

impl CoreConfig {
    /// The app's defaults for a data folder.
    pub fn new(data_dir: &Path) -> Self {
        CoreConfig {
            data_dir: data_dir.to_path_buf(),
            keychain_service: "stageline".to_string(),
            aws_retries: true,
            aws_poll_interval: Duration::from_secs(5),
            keep_workspaces: std::env::var_os("STAGELINE_KEEP_WORKSPACES").is_some(),
        }
    }
}

/// Everything the commands use.
pub struct Core {
    pub pipeline: Pipeline,
    pub store: SqliteStore,
    pub keychain: Keychain,
    pub git: GitSource,
    pub deployer: CloudFormationDeployer,
    pub logs: FileLogs,
    pub clock: Arc<SystemClock>,
    /// Which parts of team stacks run on this desktop (R22); solo stacks'
    /// parts all do.
    pub team: TeamCoordinator,
    pub team_approvals: TeamApprovals,
    /// The team stacks' shared definitions, followed here and changed here first.
    pub team_definitions: TeamDefinitions,
    /// The team stacks' run history in their S3 (runs teammates made).
    pub team_history: stageline_team::TeamHistory,
    /// HTTPS tokens of remote repositories, read from the keychain at start
    /// and when a stack is created (Git asks for them synchronously).
    pub git_tokens: Arc<RwLock<HashMap<StackId, String>>>,
    pub config: CoreConfig,
}

/// How often a desktop waiting for a teammate's part looks again (R22).
const TEAM_POLL: Duration = Duration::from_secs(2);

/// This desktop's name in team leases (R22): made once per data folder and
/// kept, so a restarted app knows the leases it held. The user and host
/// in it are for people reading the team's objects.
pub fn desktop_id(data_dir: &Path) -> String {
    let file = data_dir.join("desktop-id");
    if let Ok(id) = std::fs::read_to_string(&file) {
        if !id.trim().is_empty() {
            return id.trim().to_string();
        }
    }
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let user = std::env::var("USER").unwrap_or_else(|_| "someone".into());
    let random = std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|u| u.trim().replace('-', "")[..12].to_string())
        .unwrap_or_else(|_| format!("{:x}", std::process::id()));
    let id = format!("{user}@{}/{random}", host.trim());
    let _ = std::fs::create_dir_all(data_dir);
    if let Err(error) = std::fs::write(&file, &id) {
        tracing::warn!(%error, "could not keep this desktop's id");
    }
    id
}

/// The HTTPS tokens of the stacks' remote repositories, from the keychain.
async fn git_tokens(store: &SqliteStore, keychain: &Keychain) -> HashMap<StackId, String> {
    let stacks = store.stacks().await.unwrap_or_default();
    let mut tokens = HashMap::new();
    for stack in stacks
        .iter()
        .filter(|s| s.repository.starts_with("https://"))
    {
        let name = stageline_engine::keychain_names::https_token(stack.id);
        if let Ok(token) = keychain.get(&name).await {
            tokens.insert(stack.id, token);
        }
    }
    tokens
}

/// Keychain accounts' keys for the AWS clients.
struct KeychainCredentials(Keychain);

impl CredentialsLookup for KeychainCredentials {
    fn credentials(
        &self,
        account: &Account,
    ) -> BoxFuture<'static, Result<Option<AwsCredentials>, PortError>> {
        let keychain = self.0.clone();
        let reference = match &account.credentials {
            CredentialSource::Keychain { keychain_ref } => Some(keychain_ref.clone()),
            CredentialSource::Profile { .. } => None,
        };
        Box::pin(async move {
            let Some(reference) = reference else {
                return Ok(None);
            };
            let keys = keychain.aws_keys(&reference).await?;
            Ok(Some(AwsCredentials {
                access_key_id: keys.access_key_id,
                secret_access_key: keys.secret_access_key,
                session_token: keys.session_token,
            }))
        })
    }
}

impl Core {
    /// Opens the database in `config.data_dir`, starts the engine (resuming
    /// what was in flight); the engine watches the branches.
    pub async fn start(
        config: CoreConfig,
        events: Arc<dyn Events>,
    ) -> Result<Arc<Core>, PortError> {
        let store = SqliteStore::open(&config.data_dir.join("stageline.db")).await?;
        let keychain = Keychain::new(config.keychain_service.clone());
        // Before the engine starts watching branches, which sign in with them.
        let git_tokens = Arc::new(RwLock::new(git_tokens(&store, &keychain).await));
        let tokens = git_tokens.clone();
        let git = GitSource::new(config.data_dir.join("mirrors"), move |stack| {
            GitCredentials {
                https_token: tokens.read().ok().and_then(|t| t.get(&stack.id).cloned()),
                ssh_key_file: None,
            }
        });
        let options = DeployerOptions {
            retries: config.aws_retries,
            poll_interval: config.aws_poll_interval,
            ..DeployerOptions::default()
        };
        let deployer =
            CloudFormationDeployer::new(Arc::new(KeychainCredentials(keychain.clone())), options);
        let logs = FileLogs::new(config.data_dir.join("logs"));
        let clock = Arc::new(SystemClock::default());
        let team = TeamCoordinator::new(
            desktop_id(&config.data_dir),
            LeaseTimes::default(),
            TEAM_POLL,
            Arc::new(|| stageline_engine::ports::Clock::now(&SystemClock::default())),
        );
        let ports = Ports {
            store: Arc::new(store.clone()),
            source: Arc::new(git.clone()),
            builder: Arc::new(BuildspecRunner::new(Duration::from_secs(30 * 60))),
            deployer: Arc::new(deployer.clone()),
            secrets: Arc::new(keychain.clone()),
            logs: Arc::new(logs.clone()),
            clock: clock.clone() as Arc<dyn Clock>,
            events: Arc::new(crate::diagnostics::Recorded(events)),
            coordinator: Arc::new(team.clone()),
        };
        let pipeline_config = PipelineConfig {
            workspaces: config.data_dir.join("workspaces"),
            keep_workspaces: config.keep_workspaces,
            verify_poll: stageline_engine::pipeline::VERIFY_POLL,
        };
        let pipeline = Pipeline::start(ports, pipeline_config)
            .await
            .map_err(|e| PortError::new(stageline_engine::System::Store, e.to_string()))?;
        let core = Arc::new(Core {
            pipeline,
            store,
            keychain,
            git,
            deployer,
            logs,
            clock,
            team_approvals: TeamApprovals::new(team.clone()),
            team_definitions: TeamDefinitions::new(team.clone()),
            team_history: stageline_team::TeamHistory::new(team.clone()),
            team,
            git_tokens,
            config,
        });
        crate::services::team::connect_all(&core).await;
        // Team stage deletions a stop interrupted: the team learns of them.
        for deletion in core.team_definitions.resume_deletions(&core.pipeline).await {
            crate::services::team_stages::finish_in_background(&core, deletion);
        }
        crate::services::team::keep_team_in_sync(Arc::downgrade(&core));
        // The accounts' numbers are not asked for here: each part and deploy
        // asks STS the first time it needs one, so an idle app never builds
        // an AWS client (issue "Everyday use": idle memory).
        Ok(core)
    }

    /// Asks AWS (in the background) for a new or changed account's number,
    /// which names its image repositories; until known, a placeholder is used.
    pub fn learn_account_number(&self, account: Account) {
        let learning = self.deployer.learn_account_number(account);
        tokio::spawn(async move {
            let _ = learning.await;
        });
    }

    /// The name decisions are recorded under: the OS user.
    pub fn user(&self) -> String {
        std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "you".to_string())
    }
}
