//! The keychain: one service name, one entry per reference.

use serde::{Deserialize, Serialize};
use stageline_engine::ports::{BoxFuture, Secrets};
use stageline_engine::{PortError, System};

/// An account's AWS access keys.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwsKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AwsKeys(***)")
    }
}

/// Entries of one keychain service (`stageline` in the app).
#[derive(Debug, Clone)]
pub struct Keychain {
    service: String,
}

fn keychain_error(what: &str, error: keyring::Error) -> PortError {
    let reason = match error {
        keyring::Error::NoEntry => "there is no such entry".to_string(),
        keyring::Error::NoStorageAccess(_) | keyring::Error::PlatformFailure(_) => {
            "the keychain is not available (is a Secret Service such as GNOME Keyring running and unlocked?)".to_string()
        }
        other => other.to_string(),
    };
    PortError::new(
        System::Keychain,
        format!("Could not {what} in the keychain: {reason}."),
    )
}

impl Keychain {
    /// The keychain entries of `service`.
    pub fn new(service: impl Into<String>) -> Self {
        Keychain {
            service: service.into(),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        reference: &str,
        call: impl FnOnce(keyring::Entry) -> Result<T, keyring::Error> + Send + 'static,
        what: &'static str,
    ) -> Result<T, PortError> {
        let service = self.service.clone();
        let reference = reference.to_string();
        tokio::task::spawn_blocking(move || {
            let entry =
                keyring::Entry::new(&service, &reference).map_err(|e| keychain_error(what, e))?;
            call(entry).map_err(|e| keychain_error(what, e))
        })
        .await
        .map_err(|_| PortError::new(System::Keychain, "The keychain call was interrupted."))?
    }

    /// Stores `value` under `reference`, replacing what was there.
    pub async fn put(&self, reference: &str, value: &str) -> Result<(), PortError> {
        let value = value.to_string();
        self.blocking(
            reference,
            move |entry| entry.set_password(&value),
            "store a secret",
        )
        .await
    }

    /// The value stored under `reference`.
    pub async fn get(&self, reference: &str) -> Result<String, PortError> {
        self.blocking(reference, |entry| entry.get_password(), "read a secret")
            .await
    }

    /// Removes `reference`; a missing entry is not an error.
    pub async fn delete(&self, reference: &str) -> Result<(), PortError> {
        self.blocking(
            reference,
            |entry| match entry.delete_credential() {
                Err(keyring::Error::NoEntry) => Ok(()),
                other => other,
            },
            "delete a secret",
        )
        .await
    }

    /// Stores an account's AWS keys under `reference`.
    pub async fn put_aws_keys(&self, reference: &str, keys: &AwsKeys) -> Result<(), PortError> {
        let json = serde_json::to_string(keys)
            .map_err(|_| PortError::new(System::Keychain, "Could not encode the AWS keys."))?;
        self.put(reference, &json).await
    }

    /// An account's AWS keys.
    pub async fn aws_keys(&self, reference: &str) -> Result<AwsKeys, PortError> {
        let json = self.get(reference).await?;
        serde_json::from_str(&json).map_err(|_| {
            PortError::new(
                System::Keychain,
                "The keychain entry of this account does not hold AWS keys.",
            )
        })
    }
}

impl Secrets for Keychain {
    fn read(&self, keychain_ref: &str) -> BoxFuture<'_, Result<String, PortError>> {
        let reference = keychain_ref.to_string();
        Box::pin(async move { self.get(&reference).await })
    }
}
