//! AWS clients per (account, region): credentials from the keychain (through
//! the app's lookup) or from a named profile, the account's endpoint override,
//! and the retry policy. Clients are built once and cached.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::{self, error::CredentialsError, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_runtime::env_config::file::{
    EnvConfigFileKind as ProfileFileKind, EnvConfigFiles as ProfileFiles,
};
use stageline_engine::domain::{Account, CredentialSource};
use stageline_engine::ports::BoxFuture;
use stageline_engine::PortError;

/// AWS keys as the app read them from the keychain.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Reads a keychain account's keys; the app implements it with the keychain.
/// Called whenever the SDK needs credentials (it caches them for a while), so
/// keys changed in the keychain are picked up without a restart.
pub trait CredentialsLookup: Send + Sync {
    /// The keys of `account` (whose source is `CredentialSource::Keychain`), or
    /// `None` when the keychain holds none.
    fn credentials(
        &self,
        account: &Account,
    ) -> BoxFuture<'static, Result<Option<AwsCredentials>, PortError>>;
}

/// Where named profiles are read from; `None` in [`ClientSettings`] means the
/// standard files (`~/.aws/config`, `~/.aws/credentials`, or the paths in
/// `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileFilePaths {
    pub config: PathBuf,
    pub credentials: PathBuf,
}

/// How clients are built.
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    pub retries: bool,
    pub profile_files: Option<ProfileFilePaths>,
}

/// The clients of one account in one region.
#[derive(Clone)]
pub(crate) struct RegionClients {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub s3: aws_sdk_s3::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub rds: aws_sdk_rds::Client,
    pub sts: aws_sdk_sts::Client,
    /// The alarms a stage's verify watches.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// IAM is global: any region's client reaches it.
    pub iam: aws_sdk_iam::Client,
    /// The account's credentials as the SDK resolves them (keychain keys, or
    /// a profile's: static keys, SSO, a credential process, an assumed role).
    pub credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
}

/// Builds clients on first use and keeps them per (account, region).
pub(crate) struct ClientCache {
    lookup: Arc<dyn CredentialsLookup>,
    settings: ClientSettings,
    clients: Mutex<HashMap<String, RegionClients>>,
}

impl ClientCache {
    pub fn new(lookup: Arc<dyn CredentialsLookup>, settings: ClientSettings) -> Self {
        ClientCache {
            lookup,
            settings,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The clients for `account` in `region`.
    pub async fn get(&self, account: &Account, region: &str) -> RegionClients {
        // The key holds everything a client is built from, so an edited
        // account (new endpoint, other profile) gets new clients.
        let key = format!(
            "{}|{region}|{:?}|{:?}",
            account.id, account.credentials, account.endpoint_url
        );
        if let Some(found) = self.clients.lock().expect("client cache lock").get(&key) {
            return found.clone();
        }
        let built = self.build(account, region).await;
        self.clients
            .lock()
            .expect("client cache lock")
            .entry(key)
            .or_insert(built)
            .clone()
    }

    /// Forgets every client of `account` (after its settings or keys changed).
    pub fn forget(&self, account: &Account) {
        let prefix = format!("{}|", account.id);
        self.clients
            .lock()
            .expect("client cache lock")
            .retain(|key, _| !key.starts_with(&prefix));
    }

    async fn build(&self, account: &Account, region: &str) -> RegionClients {
        let retry = if self.settings.retries {
            RetryConfig::standard()
        } else {
            RetryConfig::disabled()
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .retry_config(retry);
        match &account.credentials {
            CredentialSource::Keychain { .. } => {
                // Nothing of this account comes from the shared AWS files.
                let no_files = ProfileFiles::builder()
                    .include_default_config_file(false)
                    .include_default_credentials_file(false)
                    .with_contents(ProfileFileKind::Config, "")
                    .build();
                loader = loader
                    .profile_files(no_files)
                    .credentials_provider(KeychainCredentials {
                        lookup: self.lookup.clone(),
                        account: account.clone(),
                    });
            }
            CredentialSource::Profile { profile } => {
                if let Some(paths) = &self.settings.profile_files {
                    let files = ProfileFiles::builder()
                        .include_default_config_file(false)
                        .include_default_credentials_file(false)
                        .with_file(ProfileFileKind::Config, &paths.config)
                        .with_file(ProfileFileKind::Credentials, &paths.credentials)
                        .build();
                    loader = loader.profile_files(files);
                }
                loader = loader.profile_name(profile);
            }
        }
        if let Some(url) = &account.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        // An emulator answers on one host: buckets go in the path, not the host name.
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(account.endpoint_url.is_some())
            .build();
        RegionClients {
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
            ecs: aws_sdk_ecs::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            rds: aws_sdk_rds::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            credentials: config.credentials_provider(),
        }
    }
}

/// The SDK's view of a keychain account: asks the app's lookup.
struct KeychainCredentials {
    lookup: Arc<dyn CredentialsLookup>,
    account: Account,
}

impl std::fmt::Debug for KeychainCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeychainCredentials({})", self.account.name)
    }
}

impl ProvideCredentials for KeychainCredentials {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            match self.lookup.credentials(&self.account).await {
                Ok(Some(keys)) => Ok(Credentials::new(
                    keys.access_key_id,
                    keys.secret_access_key,
                    keys.session_token,
                    None,
                    "stageline-keychain",
                )),
                Ok(None) => Err(CredentialsError::not_loaded(format!(
                    "the keychain holds no AWS keys for account \"{}\"",
                    self.account.name
                ))),
                Err(error) => Err(CredentialsError::provider_error(error)),
            }
        })
    }
}
