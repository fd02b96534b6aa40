//! Accounts that name a profile of the standard AWS config files hold no
//! secret here; this checks that the profile exists and can give credentials.

use std::path::{Path, PathBuf};

/// Where the AWS config and credentials files are.
#[derive(Debug, Clone)]
pub struct ProfileFiles {
    pub config: PathBuf,
    pub credentials: PathBuf,
}

impl ProfileFiles {
    /// The files the AWS SDKs read: `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE`,
    /// else `~/.aws/config` and `~/.aws/credentials`.
    pub fn standard(home: &Path) -> Self {
        let config = std::env::var_os("AWS_CONFIG_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".aws/config"));
        let credentials = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".aws/credentials"));
        ProfileFiles {
            config,
            credentials,
        }
    }
}

/// Keys of a profile section that let the SDK obtain credentials.
const CREDENTIAL_KEYS: &[&str] = &[
    "aws_access_key_id",
    "credential_process",
    "sso_session",
    "sso_start_url",
    "role_arn",
    "web_identity_token_file",
    "credential_source",
];

/// The keys of section `wanted` in an INI text.
fn section_keys(text: &str, wanted: &[String]) -> Option<Vec<String>> {
    let mut found = None;
    let mut in_section = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') && line.ends_with(']') {
            let name = line[1..line.len() - 1].trim().to_string();
            in_section = wanted.contains(&name);
            if in_section {
                found.get_or_insert_with(Vec::new);
            }
        } else if in_section {
            if let Some((key, _)) = line.split_once('=') {
                found
                    .get_or_insert_with(Vec::new)
                    .push(key.trim().to_lowercase());
            }
        }
    }
    found
}

/// Ok when `profile` is in the files and names a way to get credentials;
/// otherwise a message saying what is missing.
pub fn check_profile_readable(profile: &str, files: &ProfileFiles) -> Result<(), String> {
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    let config_names = if profile == "default" {
        vec!["default".to_string()]
    } else {
        vec![format!("profile {profile}")]
    };
    let in_config = section_keys(&read(&files.config), &config_names);
    let in_credentials = section_keys(&read(&files.credentials), &[profile.to_string()]);
    if in_config.is_none() && in_credentials.is_none() {
        return Err(format!(
            "There is no profile \"{profile}\" in {} or {}.",
            files.config.display(),
            files.credentials.display()
        ));
    }
    let keys: Vec<String> = in_config
        .into_iter()
        .chain(in_credentials)
        .flatten()
        .collect();
    if keys.iter().any(|k| CREDENTIAL_KEYS.contains(&k.as_str())) {
        Ok(())
    } else {
        Err(format!("The profile \"{profile}\" has no credentials (no access key, SSO, role or credential process)."))
    }
}
