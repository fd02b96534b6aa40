//! One checkout per commit. A commit's tree is materialized once, from the
//! stack's mirror, into a folder that no part ever writes to; each part's
//! workspace is then copied from it (see `workspace`). The checkout's `.git`
//! borrows its objects from the mirror (`objects/info/alternates`), so it is
//! small and `git log` / `git rev-parse HEAD` work in every copy.
//!
//! A checkout is made under a temporary name and renamed when complete, so a
//! crash never leaves a half one to be reused. The newest few per stack are
//! kept (and any in use); older ones are removed in the background.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, Context, Result};
use git2::build::CheckoutBuilder;
use git2::{ErrorClass, Oid, Repository, RepositoryInitOptions};

use crate::lfs::{self, LfsRepo};
use crate::location::strip_userinfo;
use crate::locks;
use crate::mirror::{git_command_runs, set_aside, unique_suffix};
use crate::repository::{open_local, BranchSource, Origin};
use crate::submodules;

/// How many commit checkouts a stack keeps besides those in use.
const KEPT_PER_STACK: usize = 4;

/// A commit's checkout, held against removal while a workspace is copied from it.
pub(crate) struct CommitCheckout {
    pub(crate) path: PathBuf,
    _in_use: InUse,
}

/// What making a commit's checkout did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Materialized {
    pub(crate) files: u64,
    pub(crate) elapsed: Duration,
    pub(crate) submodules: usize,
    pub(crate) lfs_files: u64,
}

/// Why a commit's checkout could not be made: only a read from the mirror is
/// worth retrying against a refreshed mirror.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The mirror does not have the commit.
    Missing(anyhow::Error),
    /// The mirror has the commit but could not read all of it.
    Unreadable(anyhow::Error),
    /// Anything else (a full disk, a submodule's server, git-lfs).
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::Other(error)
    }
}

impl Failure {
    pub(crate) fn into_error(self) -> anyhow::Error {
        match self {
            Failure::Missing(e) | Failure::Unreadable(e) | Failure::Other(e) => e,
        }
    }
}

/// The checkout of `oid` (with submodules and LFS files when `extras`),
/// made now unless an earlier part made it. `None` in the second place means
/// it existed already.
pub(crate) fn commit_checkout(
    source: &BranchSource,
    oid: Oid,
    extras: bool,
) -> Result<(CommitCheckout, Option<Materialized>), Failure> {
    let dir = source.checkouts_dir();
    let variant = if extras { "full" } else { "plain" };
    let path = dir.join(format!("{oid}-{variant}"));
    locks::exclusive(&path, || {
        let in_use = InUse::new(&path);
        if path.join(".git").exists() {
            touch(&path);
            return Ok((
                CommitCheckout {
                    path: path.clone(),
                    _in_use: in_use,
                },
                None,
            ));
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("Could not create {}", dir.display()))?;
        let partial = dir.join(format!(".partial-{oid}-{variant}-{}", unique_suffix()));
        match materialize(source, oid, extras, &partial) {
            Ok(made) => {
                std::fs::rename(&partial, &path)
                    .with_context(|| format!("Could not finish the checkout {}", path.display()))?;
                touch(&path);
                remove_old(&dir);
                Ok((
                    CommitCheckout {
                        path: path.clone(),
                        _in_use: in_use,
                    },
                    Some(made),
                ))
            }
            Err(failure) => {
                let _ = set_aside(&partial);
                Err(failure)
            }
        }
    })
}

fn materialize(
    source: &BranchSource,
    oid: Oid,
    extras: bool,
    dest: &Path,
) -> Result<Materialized, Failure> {
    let started = Instant::now();
    let mirror = source.open()?;
    if let Err(error) = mirror.find_commit(oid) {
        return Err(Failure::Missing(anyhow!(error).context(format!(
            "the commit is not in Stageline's copy of {}",
            source.display
        ))));
    }
    drop(mirror);
    let repo = borrowing_repository(dest, None, &source.mirror.objects())?;
    let origin = origin_url(source);
    set_origin(&repo, &strip_userinfo(&origin))?;
    let tree = check_out(&repo, oid).map_err(|error| {
        let unreadable = error
            .root_cause()
            .downcast_ref::<git2::Error>()
            .is_some_and(|e| {
                matches!(
                    e.class(),
                    ErrorClass::Odb | ErrorClass::Zlib | ErrorClass::Object | ErrorClass::Indexer
                )
            });
        if unreadable {
            Failure::Unreadable(error)
        } else {
            Failure::Other(error)
        }
    })?;
    let mut made = Materialized {
        files: tree.files,
        ..Materialized::default()
    };
    if extras {
        let mut lfs_repos = Vec::new();
        if tree.uses_lfs {
            lfs_repos.push(LfsRepo {
                workdir: dest.to_path_buf(),
                storage: source.mirror.lfs_storage(),
                url: origin.clone(),
                name: "the repository".to_string(),
            });
        }
        let modules = submodules::check_out_all(source, &repo, oid, &relative_url_base(source))?;
        made.files += modules.files;
        made.submodules = modules.count;
        lfs_repos.extend(modules.lfs);
        for lfs_repo in &lfs_repos {
            made.lfs_files += lfs::pull(lfs_repo, &source.credentials)?;
        }
    }
    made.elapsed = started.elapsed();
    Ok(made)
}

/// What libgit2 (and git-lfs) fetch from: the local path or the URL.
fn origin_url(source: &BranchSource) -> String {
    match &source.origin {
        Origin::Local(path) => path.to_string_lossy().into_owned(),
        Origin::Remote(url) => url.clone(),
    }
}

/// What relative submodule URLs (`../lib.git`) are relative to, as Git has it:
/// the superproject's remote (a local repository's `origin`, if it has one).
fn relative_url_base(source: &BranchSource) -> String {
    match &source.origin {
        Origin::Local(path) => open_local(path)
            .ok()
            .and_then(|repo| repo.config().ok()?.get_string("remote.origin.url").ok())
            .unwrap_or_else(|| path.to_string_lossy().into_owned()),
        Origin::Remote(url) => url.clone(),
    }
}

/// A new repository whose working tree is `workdir` and whose objects are
/// borrowed from `objects`. `gitdir` puts the Git folder elsewhere (a
/// submodule's, under its superproject's `.git/modules`), linked by relative
/// paths so that copies of the whole tree work wherever they are.
pub(crate) fn borrowing_repository(
    workdir: &Path,
    gitdir: Option<&Path>,
    objects: &Path,
) -> Result<Repository> {
    let mut options = RepositoryInitOptions::new();
    options.external_template(false).mkpath(true);
    let git_folder = match gitdir {
        None => {
            let repo = Repository::init_opts(workdir, &options).with_context(|| {
                format!("Could not create a repository in {}", workdir.display())
            })?;
            repo.path().to_path_buf()
        }
        Some(gitdir) => {
            options.bare(true);
            let repo = Repository::init_opts(gitdir, &options).with_context(|| {
                format!("Could not create a repository in {}", gitdir.display())
            })?;
            let mut config = repo.config()?;
            config.set_bool("core.bare", false)?;
            config.set_str(
                "core.worktree",
                &relative_path(gitdir, workdir).to_string_lossy(),
            )?;
            std::fs::create_dir_all(workdir)?;
            std::fs::write(
                workdir.join(".git"),
                format!("gitdir: {}\n", relative_path(workdir, gitdir).display()),
            )?;
            gitdir.to_path_buf()
        }
    };
    let info = git_folder.join("objects").join("info");
    std::fs::create_dir_all(&info)?;
    std::fs::write(info.join("alternates"), format!("{}\n", objects.display()))?;
    let repo = Repository::open(workdir)
        .with_context(|| format!("Could not open the checkout in {}", workdir.display()))?;
    let mut config = repo.config()?;
    // Copies get new inodes and change times but keep sizes and modification
    // times: with these, `git status` in a copy trusts the index.
    config.set_str("core.checkStat", "minimal")?;
    config.set_bool("core.trustctime", false)?;
    Ok(repo)
}

/// Names the repository the checkout came from (`origin`), without credentials.
pub(crate) fn set_origin(repo: &Repository, url: &str) -> Result<()> {
    let mut config = repo.config()?;
    config.set_str("remote.origin.url", url)?;
    config.set_str("remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*")?;
    Ok(())
}

/// What checking out one repository's tree wrote.
pub(crate) struct CheckedOut {
    pub(crate) files: u64,
    /// A `.gitattributes` of the tree sends files through Git LFS.
    pub(crate) uses_lfs: bool,
}

/// Writes the tree of `oid` into the repository's working tree and detaches
/// HEAD at it. The `git` command does it when there is one (about twice as
/// fast as libgit2, and in parallel); LFS filters are kept out of it (LFS
/// content comes afterwards, into the store shared by the stack's commits).
pub(crate) fn check_out(repo: &Repository, oid: Oid) -> Result<CheckedOut> {
    let commit = repo
        .find_commit(oid)
        .with_context(|| format!("Could not read commit {oid}"))?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| anyhow!("the checkout has no working tree"))?
        .to_path_buf();
    let (files, attributes) = if git_command_runs() {
        check_out_with_git(&workdir, oid)?;
        tree_contents(&commit)?
    } else {
        check_out_with_libgit2(repo, &commit)?
    };
    let uses_lfs = attributes.iter().any(|path| {
        std::fs::read_to_string(workdir.join(path)).is_ok_and(|text| text.contains("filter=lfs"))
    });
    Ok(CheckedOut { files, uses_lfs })
}

fn check_out_with_git(workdir: &Path, oid: Oid) -> Result<()> {
    let output = Command::new("git")
        .current_dir(workdir)
        .args([
            "-c",
            "checkout.workers=0",
            "-c",
            "advice.detachedHead=false",
        ])
        .args(["-c", "core.hooksPath=/dev/null", "-c", "gc.auto=0"])
        .args([
            "-c",
            "filter.lfs.smudge=",
            "-c",
            "filter.lfs.process=",
            "-c",
            "filter.lfs.required=false",
        ])
        .args(["checkout", "--quiet", "--force", "--detach"])
        .arg(oid.to_string())
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_LFS_SKIP_SMUDGE", "1")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .context("Could not run git checkout")?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(git2::Error::new(
        git2::ErrorCode::GenericError,
        // Missing or damaged objects are the store's fault: worth a refreshed mirror.
        if stderr.contains("unable to read")
            || stderr.contains("bad object")
            || stderr.contains("corrupt")
        {
            ErrorClass::Odb
        } else {
            ErrorClass::Checkout
        },
        stderr
            .trim()
            .lines()
            .last()
            .unwrap_or("git checkout failed"),
    ))
    .with_context(|| format!("Could not write the files of commit {oid}"))
}

/// How many files (and links) the commit's tree holds, and where its `.gitattributes` are.
fn tree_contents(commit: &git2::Commit<'_>) -> Result<(u64, Vec<PathBuf>)> {
    let tree = commit.tree().context("Could not read the commit's files")?;
    let mut files = 0u64;
    let mut attributes = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |folder, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            files += 1;
            if entry.name_bytes() == b".gitattributes" {
                attributes.push(Path::new(folder).join(".gitattributes"));
            }
        }
        git2::TreeWalkResult::Ok
    })
    .context("Could not read the commit's files")?;
    Ok((files, attributes))
}

fn check_out_with_libgit2(
    repo: &Repository,
    commit: &git2::Commit<'_>,
) -> Result<(u64, Vec<PathBuf>)> {
    let oid = commit.id();
    let mut attributes: Vec<PathBuf> = Vec::new();
    let mut files = 0u64;
    {
        let mut options = CheckoutBuilder::new();
        options.force();
        options.progress(|path, _done, total| {
            files = total as u64;
            if let Some(path) = path {
                if path
                    .file_name()
                    .is_some_and(|name| name == ".gitattributes")
                {
                    attributes.push(path.to_path_buf());
                }
            }
        });
        repo.checkout_tree(commit.as_object(), Some(&mut options))
            .with_context(|| format!("Could not write the files of commit {oid}"))?;
    }
    repo.set_head_detached(oid)
        .with_context(|| format!("Could not point HEAD at commit {oid}"))?;
    Ok((files, attributes))
}

/// The path from folder `from` to `to` (both under one root) through `..`.
pub(crate) fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for part in &to[common..] {
        path.push(part);
    }
    path
}

/// Checkouts being copied from now, by path (never removed while counted).
fn in_use() -> &'static Mutex<HashMap<PathBuf, usize>> {
    static IN_USE: OnceLock<Mutex<HashMap<PathBuf, usize>>> = OnceLock::new();
    IN_USE.get_or_init(Default::default)
}

struct InUse(PathBuf);

impl InUse {
    fn new(path: &Path) -> InUse {
        let mut counts = in_use().lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(path.to_path_buf()).or_default() += 1;
        InUse(path.to_path_buf())
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        let mut counts = in_use().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.0) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.0);
            }
        }
    }
}

/// Marks a checkout as just used (its folder's modification time).
fn touch(path: &Path) {
    if let Ok(folder) = std::fs::File::open(path) {
        let _ = folder.set_modified(SystemTime::now());
    }
}

/// Removes all but the newest checkouts of a stack (never one in use), and
/// what an earlier process left half made.
fn remove_old(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let own = format!("-{}-", std::process::id());
    let mut finished = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".partial-") || name.starts_with(".trash-") {
            if !name.contains(&own) {
                let _ = set_aside(&entry.path());
            }
            continue;
        }
        let used = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        finished.push((used, entry.path()));
    }
    finished.sort_by_key(|(used, _)| std::cmp::Reverse(*used));
    let busy = in_use().lock().unwrap_or_else(|e| e.into_inner()).clone();
    for (_, path) in finished.into_iter().skip(KEPT_PER_STACK) {
        if !busy.contains_key(&path) {
            let _ = set_aside(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bare repository with one commit of `files`; returns it and the commit.
    fn repository_with(dir: &Path, files: &[(&str, &str)]) -> (Repository, Oid) {
        let repo = Repository::init_bare(dir).unwrap();
        let oid = {
            let mut root = repo.treebuilder(None).unwrap();
            for (name, text) in files {
                let blob = repo.blob(text.as_bytes()).unwrap();
                root.insert(name, blob, 0o100_644).unwrap();
            }
            let tree = repo.find_tree(root.write().unwrap()).unwrap();
            let me = git2::Signature::now("Ada", "ada@example.com").unwrap();
            repo.commit(Some("refs/heads/main"), &me, &me, "first", &tree, &[])
                .unwrap()
        };
        (repo, oid)
    }

    #[test]
    fn without_the_git_command_libgit2_writes_the_tree_and_finds_lfs_attributes() {
        let tmp = tempfile::tempdir().unwrap();
        let (mirror, oid) = repository_with(
            &tmp.path().join("mirror.git"),
            &[
                ("app.txt", "v1"),
                (
                    ".gitattributes",
                    "*.bin filter=lfs diff=lfs merge=lfs -text\n",
                ),
            ],
        );
        let workdir = tmp.path().join("checkout");
        let repo = borrowing_repository(&workdir, None, &mirror.path().join("objects")).unwrap();
        let commit = repo.find_commit(oid).unwrap();

        let (files, attributes) = check_out_with_libgit2(&repo, &commit).unwrap();

        assert_eq!(files, 2);
        assert_eq!(attributes, [PathBuf::from(".gitattributes")]);
        assert_eq!(
            std::fs::read_to_string(workdir.join("app.txt")).unwrap(),
            "v1"
        );
        assert_eq!(repo.head().unwrap().target(), Some(oid));
        assert_eq!(tree_contents(&commit).unwrap(), (2, attributes));
    }

    #[test]
    fn relative_paths_climb_to_the_common_folder() {
        assert_eq!(
            relative_path(Path::new("/t/.git/modules/lib"), Path::new("/t/vendor/lib")),
            Path::new("../../../vendor/lib")
        );
        assert_eq!(
            relative_path(Path::new("/t/vendor/lib"), Path::new("/t/.git/modules/lib")),
            Path::new("../../.git/modules/lib")
        );
    }
}
