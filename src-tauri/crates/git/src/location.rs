//! Where a stack's repository is, and how it may be named in messages.

use std::path::{Path, PathBuf};

use stageline_engine::StackId;

/// A stack's repository: watched in place when local, polled when remote;
/// read through a mirror either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RepoLocation {
    /// An absolute path to a working tree or a bare repository.
    Local(PathBuf),
    /// A `file://`, `https://` or `ssh://` URL.
    Remote(String),
}

impl RepoLocation {
    /// Reads a stack's `repository` setting. `file://` URLs count as remote, so they
    /// take the same fetch path as a server (which is what tests of the remote path use).
    pub(crate) fn parse(location: &str) -> RepoLocation {
        let location = location.trim();
        if location.contains("://") {
            RepoLocation::Remote(location.to_string())
        } else {
            RepoLocation::Local(PathBuf::from(location))
        }
    }

    /// The location as a user may see it: a URL loses any user name and password.
    pub(crate) fn display(&self) -> String {
        match self {
            RepoLocation::Local(path) => path.display().to_string(),
            RepoLocation::Remote(url) => redact_userinfo(url),
        }
    }
}

/// The bare mirror of a remote repository for one stack. The URL is part of the
/// name so a stack whose repository changes gets a fresh mirror.
pub(crate) fn mirror_path(cache_dir: &Path, stack_id: StackId, url: &str) -> PathBuf {
    cache_dir.join(format!(
        "stack-{}-{:016x}.git",
        stack_id.0,
        fnv1a(url.as_bytes())
    ))
}

/// The bare mirror of a submodule's repository, shared by a stack's commits.
pub(crate) fn submodule_mirror_path(cache_dir: &Path, stack_id: StackId, url: &str) -> PathBuf {
    cache_dir.join(format!(
        "stack-{}-module-{:016x}.git",
        stack_id.0,
        fnv1a(url.as_bytes())
    ))
}

/// A URL without its user-info part (what a checkout's `.git/config` may
/// hold: credentials are never written into a workspace).
pub(crate) fn strip_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let (head, tail) = url.split_at(scheme_end + 3);
    let authority_end = tail.find('/').unwrap_or(tail.len());
    match tail[..authority_end].rfind('@') {
        Some(at) => format!("{head}{}", &tail[at + 1..]),
        None => url.to_string(),
    }
}

/// A hash that stays the same across Rust releases (std's does not promise that),
/// so the mirror found after an update is the one made before it.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Replaces the user-info part of every URL in `text` (`https://user:token@host`)
/// with `***`, so credentials typed into a URL never reach a message.
pub(crate) fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let (head, tail) = rest.split_at(scheme_end + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

/// Removes `secret` from `text` wherever a library echoed it back.
pub(crate) fn scrub(text: &str, secret: Option<&str>) -> String {
    let text = redact_userinfo(text);
    match secret {
        Some(secret) if !secret.is_empty() => text.replace(secret, "***"),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_remote_and_paths_are_local() {
        assert_eq!(
            RepoLocation::parse("/srv/app"),
            RepoLocation::Local("/srv/app".into())
        );
        assert_eq!(
            RepoLocation::parse("file:///srv/app.git"),
            RepoLocation::Remote("file:///srv/app.git".into())
        );
        assert!(matches!(
            RepoLocation::parse("ssh://git@host/app.git"),
            RepoLocation::Remote(_)
        ));
    }

    #[test]
    fn credentials_in_urls_are_hidden() {
        assert_eq!(
            redact_userinfo("cannot reach https://bob:s3cret@example.com/app.git now"),
            "cannot reach https://***@example.com/app.git now"
        );
        assert_eq!(redact_userinfo("ssh://host/app.git"), "ssh://host/app.git");
        assert_eq!(
            scrub("token s3cret leaked", Some("s3cret")),
            "token *** leaked"
        );
    }

    #[test]
    fn checkouts_name_no_credentials() {
        assert_eq!(
            strip_userinfo("https://bob:tok@example.com/a.git"),
            "https://example.com/a.git"
        );
        assert_eq!(strip_userinfo("/srv/app"), "/srv/app");
    }

    #[test]
    fn each_stack_and_url_has_its_own_mirror() {
        let cache = Path::new("/cache");
        let a = mirror_path(cache, StackId(1), "https://example.com/a.git");
        let b = mirror_path(cache, StackId(1), "https://example.com/b.git");
        let c = mirror_path(cache, StackId(2), "https://example.com/a.git");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            a,
            mirror_path(cache, StackId(1), "https://example.com/a.git")
        );
    }
}
