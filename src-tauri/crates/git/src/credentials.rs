//! How this crate signs in to a remote. The secrets come in as data: the app
//! reads them from the keychain, this crate never touches it.

use std::path::PathBuf;
use std::sync::Arc;

use git2::{Cred, CredentialType, ErrorClass, ErrorCode, RemoteCallbacks};
use stageline_engine::Stack;

/// What to sign in to one stack's remote with. SSH always tries the running
/// ssh agent too; a missing field means "none".
#[derive(Clone, Default, PartialEq, Eq)]
pub struct GitCredentials {
    /// An HTTPS access token (GitHub, GitLab…), sent as the password.
    pub https_token: Option<String>,
    /// A private key file for `ssh://` remotes (without a passphrase), tried before the agent.
    pub ssh_key_file: Option<PathBuf>,
}

impl std::fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitCredentials")
            .field("https_token", &self.https_token.as_ref().map(|_| "***"))
            .field("ssh_key_file", &self.ssh_key_file)
            .finish()
    }
}

/// Finds the credentials of a stack (the app fills it from the keychain).
pub type CredentialLookup = Arc<dyn Fn(&Stack) -> GitCredentials + Send + Sync>;

/// The user name sent with an HTTPS token when the URL names none; GitHub wants
/// this one, and GitLab, Gitea and Bitbucket ignore the name for tokens.
const TOKEN_USER: &str = "x-access-token";

/// Callbacks that answer libgit2's sign-in questions with `credentials`. Each
/// kind of credential is offered once: libgit2 asks again after a rejection,
/// and offering the same one forever would loop.
pub(crate) fn remote_callbacks(credentials: &GitCredentials) -> RemoteCallbacks<'static> {
    let credentials = credentials.clone();
    let mut tried_key_file = false;
    let mut tried_agent = false;
    let mut tried_token = false;
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(move |_url, username_from_url, allowed| {
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(username_from_url.unwrap_or("git"));
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            let user = username_from_url.unwrap_or("git");
            if let (Some(key), false) = (&credentials.ssh_key_file, tried_key_file) {
                tried_key_file = true;
                return Cred::ssh_key(user, None, key, None);
            }
            if !tried_agent {
                tried_agent = true;
                return Cred::ssh_key_from_agent(user);
            }
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            if let (Some(token), false) = (&credentials.https_token, tried_token) {
                tried_token = true;
                return Cred::userpass_plaintext(username_from_url.unwrap_or(TOKEN_USER), token);
            }
        }
        Err(git2::Error::new(
            ErrorCode::Auth,
            ErrorClass::Callback,
            "no accepted credentials (check the stack's access token or SSH key)",
        ))
    });
    callbacks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_token() {
        let credentials = GitCredentials {
            https_token: Some("ghp_secret".into()),
            ssh_key_file: None,
        };
        let shown = format!("{credentials:?}");
        assert!(!shown.contains("ghp_secret"));
        assert!(shown.contains("***"));
    }
}
