//! Git LFS content, which libgit2 cannot fetch: the `git-lfs` command (Debian's
//! `git-lfs` package) replaces the pointer files of a checkout with their
//! content. The content is kept per repository next to its mirror
//! (`lfs.storage`), so each file is downloaded once per stack.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use anyhow::{anyhow, Context, Result};
use git2::Repository;

use crate::credentials::GitCredentials;
use crate::location::{scrub, strip_userinfo};

/// The user name sent with an HTTPS token (as for libgit2's fetches).
const TOKEN_USER: &str = "x-access-token";

/// One repository of a checkout (the superproject or a submodule) with LFS files.
#[derive(Debug, Clone)]
pub(crate) struct LfsRepo {
    pub(crate) workdir: PathBuf,
    /// Where this repository's LFS content is kept across commits.
    pub(crate) storage: PathBuf,
    /// Where the content comes from: the repository's URL or local path.
    pub(crate) url: String,
    /// How a user names it: "the repository", "submodule vendor/lib".
    pub(crate) name: String,
}

/// Replaces the LFS pointers in `repo`'s working tree with their content;
/// returns how many LFS files it holds.
pub(crate) fn pull(repo: &LfsRepo, credentials: &GitCredentials) -> Result<u64> {
    if !installed() {
        return Err(anyhow!(
            "{} keeps files in Git LFS, but git-lfs is not installed on this computer (install it, or turn off \u{201c}Submodules and Git LFS files\u{201d} in the stage's settings)",
            capitalized(&repo.name)
        ));
    }
    configure(repo)?;
    let secret = credentials.https_token.as_deref();
    let pulled = run(repo, credentials, &["lfs", "pull"])?;
    if !pulled.status.success() {
        return Err(anyhow!(
            "Could not download the Git LFS files of {}: {}",
            repo.name,
            scrub(last_lines(&pulled.stderr).as_str(), secret)
        ));
    }
    let listed = run(repo, credentials, &["lfs", "ls-files", "--name-only"])?;
    if !listed.status.success() {
        return Err(anyhow!(
            "Could not list the Git LFS files of {}: {}",
            repo.name,
            scrub(last_lines(&listed.stderr).as_str(), secret)
        ));
    }
    Ok(String::from_utf8_lossy(&listed.stdout).lines().count() as u64)
}

/// Whether `git lfs` runs here (asked once per process).
fn installed() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        Command::new("git")
            .args(["lfs", "version"])
            .output()
            .is_ok_and(|output| output.status.success())
    })
}

/// The filter and storage settings `git lfs install --local` would write,
/// and the content's shared store.
fn configure(repo: &LfsRepo) -> Result<()> {
    let opened = Repository::open(&repo.workdir)?;
    let mut config = opened.config()?;
    config.set_str("filter.lfs.clean", "git-lfs clean -- %f")?;
    config.set_str("filter.lfs.smudge", "git-lfs smudge -- %f")?;
    config.set_str("filter.lfs.process", "git-lfs filter-process")?;
    config.set_bool("filter.lfs.required", true)?;
    config.set_str("lfs.storage", &repo.storage.to_string_lossy())?;
    config.set_str("remote.origin.url", &strip_userinfo(&repo.url))?;
    Ok(())
}

/// Runs `git args…` in the repository, never prompting; the stack's token
/// reaches git-lfs through a credential helper reading the environment, so it
/// is in no command line and no file.
fn run(repo: &LfsRepo, credentials: &GitCredentials, args: &[&str]) -> Result<Output> {
    let mut command = Command::new("git");
    command
        .args(args)
        .current_dir(&repo.workdir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    if let Some(token) = &credentials.https_token {
        command
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "credential.helper")
            .env(
                "GIT_CONFIG_VALUE_0",
                format!(
                    "!f() {{ echo username={TOKEN_USER}; echo \"password=$STAGELINE_GIT_TOKEN\"; }}; f"
                ),
            )
            .env("STAGELINE_GIT_TOKEN", token);
    }
    if let Some(key) = &credentials.ssh_key_file {
        command.env(
            "GIT_SSH_COMMAND",
            format!("ssh -i '{}' -o IdentitiesOnly=yes", key.display()),
        );
    }
    command
        .output()
        .with_context(|| format!("Could not run git {}", args.join(" ")))
}

fn last_lines(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    lines[start..].join(" ").trim().to_string()
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
