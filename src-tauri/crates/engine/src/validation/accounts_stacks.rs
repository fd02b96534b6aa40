//! The rules of accounts and stacks: names, the repository and branch a
//! stack follows, how often it is fetched, an account's region, endpoint and
//! profile, and keys typed for it.

use super::{check_region, check_stack_name, FieldErrors};
use crate::domain::{Account, CredentialSource, Stack};

/// Account names are unique (compared without case or surrounding spaces),
/// as stack names are; `accounts` may include `account` itself (a rename).
pub fn check_account_name_unique<'a>(
    account: &Account,
    accounts: impl IntoIterator<Item = &'a Account>,
    errors: &mut FieldErrors,
) {
    let name = account.name.trim().to_lowercase();
    if accounts
        .into_iter()
        .any(|other| other.id != account.id && other.name.trim().to_lowercase() == name)
    {
        errors.add(
            "name",
            format!(
                "An account named \"{}\" already exists; account names must be unique.",
                account.name.trim()
            ),
        );
    }
}

/// A repository is a local absolute path, or a `file://`, `https://` or `ssh://` URL.
/// Whether it really is a Git repository is checked by the Source adapter.
pub fn check_repository_location(location: &str, errors: &mut FieldErrors) {
    let location = location.trim();
    if location.is_empty() {
        errors.add("repository", "Repository is required.");
        return;
    }
    let has_host_part = |rest: &str| !rest.is_empty() && !rest.starts_with('/');
    let ok = if let Some(rest) = location.strip_prefix("file://") {
        rest.starts_with('/')
    } else if let Some(rest) = location.strip_prefix("https://") {
        has_host_part(rest)
    } else if let Some(rest) = location.strip_prefix("ssh://") {
        has_host_part(rest)
    } else {
        location.starts_with('/')
    };
    if !ok {
        errors.add(
            "repository",
            "Repository must be an absolute local path or a file://, https:// or ssh:// URL.",
        );
    }
}

/// Git's branch name rules (`git check-ref-format --branch`).
pub fn check_branch_name(branch: &str, errors: &mut FieldErrors) {
    let bad_char = |c: char| c.is_ascii_control() || " ~^:?*[\\".contains(c);
    let ok = !branch.is_empty()
        && !branch.starts_with('-')
        && !branch.starts_with('/')
        && !branch.ends_with('/')
        && !branch.ends_with('.')
        && !branch.ends_with(".lock")
        && !branch.contains("..")
        && !branch.contains("//")
        && !branch.contains("@{")
        && branch != "@"
        && !branch.chars().any(bad_char)
        && !branch.split('/').any(|part| part.starts_with('.'));
    if branch.is_empty() {
        errors.add("branch", "Branch is required.");
    } else if !ok {
        errors.add(
            "branch",
            format!("\"{branch}\" is not a valid Git branch name."),
        );
    }
}

/// An endpoint URL (for an AWS emulator) is an http or https URL with a host.
pub fn check_endpoint_url(url: &str, errors: &mut FieldErrors) {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    if !matches!(rest, Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(' ')) {
        errors.add(
            "endpointUrl",
            "Endpoint URL must be an http:// or https:// URL, for example http://127.0.0.1:5000.",
        );
    }
}

/// A display name: not blank, at most 64 characters.
pub fn check_display_name(field: &str, what: &str, name: &str, errors: &mut FieldErrors) {
    if name.trim().is_empty() {
        errors.add(field, format!("{what} is required."));
    } else if name.chars().count() > 64 {
        errors.add(field, format!("{what} must be at most 64 characters."));
    }
}

/// A named profile of the AWS config files.
pub fn check_profile_name(profile: &str, errors: &mut FieldErrors) {
    let ok = !profile.is_empty()
        && profile
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        errors.add(
            "profile",
            "Profile must be the name of a profile in ~/.aws/config (letters, digits, _ . -).",
        );
    }
}

/// The smallest and largest poll interval of a remote repository, in seconds.
pub const POLL_INTERVAL_RANGE: std::ops::RangeInclusive<u32> = 5..=3600;

/// How often a remote repository is fetched.
pub fn check_poll_interval(secs: u32, errors: &mut FieldErrors) {
    if !POLL_INTERVAL_RANGE.contains(&secs) {
        errors.add(
            "pollIntervalSecs",
            format!(
                "Poll interval must be between {} and {} seconds.",
                POLL_INTERVAL_RANGE.start(),
                POLL_INTERVAL_RANGE.end()
            ),
        );
    }
}

/// An account as it is kept (typed keys go to the keychain, not into it):
/// its name, default region, endpoint URL and profile name.
pub fn check_account(account: &Account, errors: &mut FieldErrors) {
    check_display_name("name", "Account name", &account.name, errors);
    check_region("defaultRegion", &account.default_region, errors);
    if let Some(url) = &account.endpoint_url {
        check_endpoint_url(url, errors);
    }
    if let CredentialSource::Profile { profile } = &account.credentials {
        check_profile_name(profile, errors);
    }
}

/// Keys typed for an account, before they go to the keychain.
pub fn check_typed_keys(access_key_id: &str, secret_access_key: &str, errors: &mut FieldErrors) {
    if access_key_id.trim().is_empty() || access_key_id.chars().any(char::is_whitespace) {
        errors.add("accessKeyId", "Access key ID is required (no spaces).");
    }
    if secret_access_key.is_empty() {
        errors.add("secretAccessKey", "Secret access key is required.");
    }
}

/// A stack's own fields: its name, repository, branch and poll interval.
pub fn check_stack_fields(stack: &Stack, errors: &mut FieldErrors) {
    check_stack_name(&stack.name, errors);
    check_repository_location(&stack.repository, errors);
    check_branch_name(&stack.branch, errors);
    check_poll_interval(stack.poll_interval_secs, errors);
}
