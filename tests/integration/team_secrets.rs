//! R22: a team stack's secret values live in the account's Secrets Manager
//! (moto over HTTP). Sharing moves them out of this desktop's keychain (a
//! real Secret Service keychain); afterwards every S3 object version the
//! team wrote, and every SQLite file of both desktops, is searched for the
//! values and holds none of them; a teammate who joined reads them for a
//! build with their own credentials and an empty keychain.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use stageline_aws::{AwsCredentials, CloudFormationDeployer, CredentialsLookup, DeployerOptions};
use stageline_engine::flow::{Input, Reply};
use stageline_engine::pipeline::{move_secrets_to_team, resolve, Pipeline, SecretSources};
use stageline_engine::ports::{BoxFuture, Secrets};
use stageline_engine::testing::*;
use stageline_engine::*;
use stageline_secrets::Keychain;
use stageline_store::SqliteStore;
use stageline_team::definition::{read_definition, share_definition, SharedStack};
use stageline_team::testing::{moto_url, seen_by_another_desktop, team_prefix};
use stageline_team::TeamPrefix;

const BUILD_SECRET: &str = "npm-token-5f2a9c81d7";
const RUNTIME_SECRET: &str = "stripe-key-c3e1b07a44";

struct EmulatorKeys;

impl CredentialsLookup for EmulatorKeys {
    fn credentials(
        &self,
        _account: &Account,
    ) -> BoxFuture<'static, Result<Option<AwsCredentials>, PortError>> {
        Box::pin(async {
            Ok(Some(AwsCredentials {
                access_key_id: "AKIDTEAMSECRETS".into(),
                secret_access_key: "team-secrets-test-key".into(),
                session_token: None,
            }))
        })
    }
}

/// One desktop's AWS: its own deployer and clients.
fn deployer() -> CloudFormationDeployer {
    let options = DeployerOptions {
        retries: false,
        poll_interval: Duration::from_millis(200),
        ..DeployerOptions::default()
    };
    CloudFormationDeployer::new(Arc::new(EmulatorKeys), options)
}

fn account() -> Account {
    let mut account = test_account(1);
    account.endpoint_url = Some(moto_url());
    account
}

async fn desktop(dir: &Path) -> Pipeline {
    let store = SqliteStore::open(&dir.join("stageline.db")).await.unwrap();
    let mut ports = Fakes::default().ports();
    ports.store = Arc::new(store);
    let pipeline = Pipeline::start(ports, test_config()).await.unwrap();
    pipeline.send(Input::PutAccount(account())).await.unwrap();
    pipeline
}

fn secret(name: &str, keychain_ref: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: EnvValue::Secret {
            keychain_ref: keychain_ref.into(),
        },
    }
}

/// Every byte of every version of every object in the team's bucket.
async fn every_object_version(prefix: &TeamPrefix) -> Vec<(String, Vec<u8>)> {
    let client = prefix.client();
    let listed = client
        .list_object_versions()
        .bucket(prefix.bucket())
        .send()
        .await
        .unwrap();
    let mut objects = Vec::new();
    for version in listed.versions() {
        let key = version.key().unwrap().to_string();
        let body = client
            .get_object()
            .bucket(prefix.bucket())
            .key(&key)
            .set_version_id(version.version_id().map(str::to_string))
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes()
            .to_vec();
        objects.push((key, body));
    }
    objects
}

/// Every file SQLite keeps for a store (the database, its WAL and index).
fn sqlite_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().contains("stageline.db"))
        .map(|path| (path.display().to_string(), std::fs::read(&path).unwrap()))
        .collect()
}

fn holds(bytes: &[u8], value: &str) -> bool {
    bytes
        .windows(value.len())
        .any(|window| window == value.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_team_stacks_secrets_are_in_secrets_manager_never_in_s3_or_sqlite() {
    let keychain = Keychain::new(format!("stageline-team-secrets-{}", std::process::id()));
    keychain.put("env/1", BUILD_SECRET).await.unwrap();
    keychain.put("env/2", RUNTIME_SECRET).await.unwrap();

    // Desktop A: a stack whose dev stage has a build and a runtime secret.
    let here = tempfile::tempdir().unwrap();
    let pipeline = desktop(here.path()).await;
    let name = format!("tsec{}", std::process::id());
    let stack = test_stack(2, &name, AccountId(1));
    pipeline
        .send(Input::CreateStack {
            stack: stack.clone(),
            first_region: "us-east-1".into(),
            watch: true,
        })
        .await
        .unwrap();
    let dev = pipeline
        .read(|s| s.flow_of(StackId(2))[0].clone())
        .await
        .unwrap();
    let mut settings = dev.settings.clone();
    settings.build_env = vec![
        secret("NPM_TOKEN", "env/1"),
        EnvVar {
            name: "NODE_ENV".into(),
            value: EnvValue::Plain {
                value: "production".into(),
            },
        },
    ];
    settings.runtime_env = vec![secret("STRIPE_KEY", "env/2")];
    pipeline
        .send(Input::UpdateStage {
            stage_id: dev.id,
            settings,
        })
        .await
        .unwrap();

    // Sharing, as "Share with team…" does it.
    let prefix = team_prefix("secrets").await;
    let stages = pipeline
        .read(|s| {
            s.flow_of(StackId(2))
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    let here_aws = deployer();
    let moved = move_secrets_to_team(&account(), &stack, &stages, &keychain, &here_aws)
        .await
        .unwrap();
    assert_eq!(moved.keychain_refs, ["env/1", "env/2"]);
    let shared_settings: Vec<StageSettings> = moved.stages.iter().map(|(_, s)| s.clone()).collect();
    let shared = SharedStack::of(&stack, shared_settings).unwrap();
    share_definition(&prefix, &shared).await.unwrap();
    let place = TeamPlace {
        bucket: prefix.bucket().to_string(),
        prefix: prefix.prefix().to_string(),
        region: stageline_team::testing::REGION.to_string(),
    };
    pipeline
        .send(Input::SetTeam {
            stack_id: StackId(2),
            team: Some(place.clone()),
            moved_secrets: moved.stages,
        })
        .await
        .unwrap();
    for reference in &moved.keychain_refs {
        keychain.delete(reference).await.unwrap();
    }

    // This desktop's stage now refers to Secrets Manager, by ARN.
    let dev_now = pipeline
        .read(move |s| s.stage(dev.id).cloned())
        .await
        .unwrap()
        .unwrap();
    let arn = match &dev_now.settings.build_env[0].value {
        EnvValue::TeamSecret { arn } => arn.clone(),
        other => panic!("NPM_TOKEN should be in Secrets Manager, is {other:?}"),
    };
    assert!(
        arn.starts_with("arn:aws:secretsmanager:us-east-1:")
            && arn.contains(&format!(":secret:stageline/{name}/dev/build/NPM_TOKEN")),
        "{arn}"
    );
    assert!(
        keychain.get("env/1").await.is_err(),
        "the keychain copy is gone"
    );

    // Desktop B joins from the team's S3 and reads the values for a build
    // with its own AWS clients and an empty keychain.
    let there = tempfile::tempdir().unwrap();
    let teammate = desktop(there.path()).await;
    let joined = read_definition(&seen_by_another_desktop(&prefix).await)
        .await
        .unwrap()
        .expect("the definition is shared");
    let mut their_stack = test_stack(7, &name, AccountId(1));
    their_stack.team = Some(place);
    let Reply::Stack(their_stack) = teammate
        .send(Input::JoinStack {
            stack: their_stack,
            stages: joined.stages,
        })
        .await
        .unwrap()
    else {
        panic!("joined");
    };
    let their_dev = teammate
        .read(move |s| s.flow_of(their_stack.id)[0].clone())
        .await
        .unwrap();
    let their_aws = deployer();
    let empty_keychain = MemSecrets::default();
    let their_account = account();
    let sources = SecretSources {
        keychain: &empty_keychain as &dyn Secrets,
        deployer: &their_aws,
        account: &their_account,
    };
    let build_env = resolve(&their_dev.settings.build_env, sources)
        .await
        .unwrap();
    let runtime_env = resolve(&their_dev.settings.runtime_env, sources)
        .await
        .unwrap();
    assert_eq!(build_env[0].name, "NPM_TOKEN");
    assert_eq!(build_env[0].value, BUILD_SECRET);
    assert!(build_env[0].secret);
    assert_eq!(build_env[1].value, "production");
    assert_eq!(runtime_env[0].value, RUNTIME_SECRET);

    // No value in any S3 object version, nor in either desktop's SQLite.
    drop(pipeline);
    drop(teammate);
    let objects = every_object_version(&prefix).await;
    assert!(
        objects.iter().any(|(key, _)| key.ends_with("stack.json")),
        "the definition was written: {:?}",
        objects.iter().map(|(key, _)| key).collect::<Vec<_>>()
    );
    let files = sqlite_files(here.path())
        .into_iter()
        .chain(sqlite_files(there.path()));
    for (place, bytes) in objects.into_iter().chain(files) {
        for value in [BUILD_SECRET, RUNTIME_SECRET] {
            assert!(!holds(&bytes, value), "{place} holds a secret value");
        }
    }
}
