//! Accounts: keys to the keychain, a profile checked in the AWS files.

use stageline_engine::flow::Input;
use stageline_engine::validation::check_typed_keys;
use stageline_engine::{Account, AccountId, CredentialSource};
use stageline_secrets::{check_profile_readable, AwsKeys, ProfileFiles};

use crate::core::Core;
use crate::error::{AppError, AppResult};
use crate::inputs::{CredentialsInput, NewAccount};

fn home() -> std::path::PathBuf {
    std::env::var_os("HOME").map(Into::into).unwrap_or_default()
}

/// Creates an account. Keys go to the keychain and are read back before the
/// account is saved: an account whose credentials cannot be read is refused,
/// and nothing of it is kept.
pub async fn create(core: &Core, input: NewAccount) -> AppResult<Account> {
    let endpoint_url = input
        .endpoint_url
        .filter(|u| !u.trim().is_empty())
        .map(|u| u.trim().to_string());
    // The engine's rules, asked before anything goes to the keychain.
    let candidate = Account {
        id: AccountId(0),
        name: input.name.trim().to_string(),
        credentials: match &input.credentials {
            CredentialsInput::Keys { .. } => CredentialSource::Keychain {
                keychain_ref: String::new(),
            },
            CredentialsInput::Profile { profile } => CredentialSource::Profile {
                profile: profile.clone(),
            },
        },
        default_region: input.default_region.clone(),
        endpoint_url: endpoint_url.clone(),
    };
    let mut errors = core
        .pipeline
        .read(move |s| s.check_account(&candidate))
        .await?
        .err()
        .unwrap_or_default();
    if let CredentialsInput::Keys {
        access_key_id,
        secret_access_key,
        ..
    } = &input.credentials
    {
        check_typed_keys(access_key_id, secret_access_key, &mut errors);
    }
    errors.into_result()?;

    let id = AccountId(stageline_engine::ports::Clock::new_id(core.clock.as_ref()));
    let credentials = match input.credentials {
        CredentialsInput::Keys {
            access_key_id,
            secret_access_key,
            session_token,
        } => {
            let keychain_ref = stageline_engine::keychain_names::account_keys(id);
            let keys = AwsKeys {
                access_key_id: access_key_id.trim().to_string(),
                secret_access_key,
                session_token: session_token.filter(|t| !t.is_empty()),
            };
            core.keychain
                .put_aws_keys(&keychain_ref, &keys)
                .await
                .map_err(unreadable)?;
            if core.keychain.aws_keys(&keychain_ref).await.ok() != Some(keys) {
                let _ = core.keychain.delete(&keychain_ref).await;
                return Err(AppError::field(
                    "credentials",
                    "The keys could not be read back from the keychain.",
                ));
            }
            CredentialSource::Keychain { keychain_ref }
        }
        CredentialsInput::Profile { profile } => {
            check_profile_readable(&profile, &ProfileFiles::standard(&home()))
                .map_err(|message| AppError::field("profile", message))?;
            CredentialSource::Profile { profile }
        }
    };
    let account = Account {
        id,
        name: input.name.trim().to_string(),
        credentials,
        default_region: input.default_region,
        endpoint_url,
    };
    if let Err(error) = core.pipeline.send(Input::PutAccount(account.clone())).await {
        forget_keys(core, &account).await;
        return Err(error.into());
    }
    core.learn_account_number(account.clone());
    Ok(account)
}

fn unreadable(error: stageline_engine::PortError) -> AppError {
    AppError::field(
        "credentials",
        format!("The keys could not be stored: {}", error.message),
    )
}

async fn forget_keys(core: &Core, account: &Account) {
    if let CredentialSource::Keychain { keychain_ref } = &account.credentials {
        let _ = core.keychain.delete(keychain_ref).await;
    }
}

/// Every account.
pub async fn list(core: &Core) -> AppResult<Vec<Account>> {
    Ok(core
        .pipeline
        .read(|s| s.accounts().cloned().collect())
        .await?)
}

/// Checks that an account's credentials can be read now.
pub async fn check_readable(core: &Core, id: AccountId) -> AppResult<()> {
    let account = core
        .pipeline
        .read(move |s| s.account(id).cloned())
        .await?
        .ok_or_else(|| AppError::field("account", "There is no such account."))?;
    match &account.credentials {
        CredentialSource::Keychain { keychain_ref } => core
            .keychain
            .aws_keys(keychain_ref)
            .await
            .map(|_| ())
            .map_err(|e| AppError::field("credentials", e.message)),
        CredentialSource::Profile { profile } => {
            check_profile_readable(profile, &ProfileFiles::standard(&home()))
                .map_err(|m| AppError::field("profile", m))
        }
    }
}

/// Deletes an account that no stack uses, and its keychain entry.
pub async fn delete(core: &Core, id: AccountId) -> AppResult<()> {
    let account = core.pipeline.read(move |s| s.account(id).cloned()).await?;
    core.pipeline.send(Input::DeleteAccount(id)).await?;
    if let Some(account) = account {
        core.deployer.forget_account(&account);
        forget_keys(core, &account).await;
    }
    Ok(())
}
