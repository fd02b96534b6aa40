//! Submodules, recursively, at the commits their superproject records. Each
//! submodule repository has its own mirror in the cache (fetched with the
//! stack's credentials only when a recorded commit is missing from it), and
//! its Git folder sits under the superproject's `.git/modules/<name>`, as
//! `git submodule update --init --recursive` would leave it.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use git2::{ObjectType, Oid, Repository};

use crate::commit_checkout::{borrowing_repository, check_out, set_origin};
use crate::lfs::LfsRepo;
use crate::location::{redact_userinfo, strip_userinfo, submodule_mirror_path};
use crate::mirror::Mirror;
use crate::repository::BranchSource;

/// Submodules inside submodules are followed this deep (a loop guard).
const MAX_DEPTH: u32 = 8;

/// What checking out the submodules did.
#[derive(Debug, Default)]
pub(crate) struct Modules {
    pub(crate) count: usize,
    pub(crate) files: u64,
    /// The submodules whose files go through Git LFS.
    pub(crate) lfs: Vec<LfsRepo>,
}

/// Checks out every submodule of `parent` (at its commit `commit`), recursively.
/// `base_url` is what relative submodule URLs are relative to.
pub(crate) fn check_out_all(
    source: &BranchSource,
    parent: &Repository,
    commit: Oid,
    base_url: &str,
) -> Result<Modules> {
    let mut modules = Modules::default();
    check_out_level(source, parent, commit, base_url, 0, &mut modules)?;
    Ok(modules)
}

fn check_out_level(
    source: &BranchSource,
    parent: &Repository,
    commit: Oid,
    base_url: &str,
    depth: u32,
    modules: &mut Modules,
) -> Result<()> {
    let Some(workdir) = parent.workdir().map(Path::to_path_buf) else {
        return Ok(());
    };
    let listing = workdir.join(".gitmodules");
    if !listing.exists() || depth > MAX_DEPTH {
        return Ok(());
    }
    let declared = git2::Config::open(&listing).context("Could not read .gitmodules")?;
    let tree = parent.find_commit(commit)?.tree()?;
    let mut entries = Vec::new();
    let mut iter = declared.entries(Some(r"submodule\..*\.path"))?;
    while let Some(entry) = iter.next() {
        let entry = entry?;
        let (Some(key), Some(path)) = (entry.name(), entry.value()) else {
            continue;
        };
        let name = key["submodule.".len()..key.len() - ".path".len()].to_string();
        entries.push((name, path.to_string()));
    }
    for (name, path) in entries {
        // Only a gitlink in the commit's tree is a submodule of this commit.
        let Ok(entry) = tree.get_path(Path::new(&path)) else {
            continue;
        };
        if entry.kind() != Some(ObjectType::Commit) {
            continue;
        }
        let recorded = entry.id();
        let declared_url = declared
            .get_string(&format!("submodule.{name}.url"))
            .with_context(|| format!("Submodule {path} has no URL in .gitmodules"))?;
        let url = resolve_url(base_url, &declared_url);
        let mirror = Mirror {
            path: submodule_mirror_path(&source.cache_dir, source.stack_id, &url),
            url: url.clone(),
            branch: String::new(),
        };
        ensure_commit(&mirror, recorded, source, &path)?;
        let gitdir = parent.path().join("modules").join(&name);
        let module_workdir = workdir.join(&path);
        let repo = borrowing_repository(&module_workdir, Some(&gitdir), &mirror.objects())
            .with_context(|| format!("Could not check out submodule {path}"))?;
        set_origin(&repo, &strip_userinfo(&url))?;
        let written = check_out(&repo, recorded)
            .with_context(|| format!("Could not check out submodule {path}"))?;
        let mut config = parent.config()?;
        config.set_str(&format!("submodule.{name}.url"), &strip_userinfo(&url))?;
        config.set_bool(&format!("submodule.{name}.active"), true)?;
        modules.count += 1;
        modules.files += written.files;
        if written.uses_lfs {
            modules.lfs.push(LfsRepo {
                workdir: module_workdir.clone(),
                storage: mirror.lfs_storage(),
                url: url.clone(),
                name: format!("submodule {path}"),
            });
        }
        check_out_level(source, &repo, recorded, &url, depth + 1, modules)?;
    }
    Ok(())
}

/// Fetches the submodule's repository into its mirror unless the mirror has the commit.
fn ensure_commit(mirror: &Mirror, oid: Oid, source: &BranchSource, path: &str) -> Result<()> {
    let has = |repo: &Repository| repo.find_commit(oid).is_ok();
    if has(&mirror.open_or_create()?) {
        return Ok(());
    }
    let repo = mirror
        .fetch_everything(&source.credentials)
        .with_context(|| format!("Could not fetch submodule {path}"))?;
    if has(&repo) {
        return Ok(());
    }
    // Not on any branch or tag: ask for the commit itself.
    let _ = mirror.fetch_commit(oid, &source.credentials);
    if has(&mirror.open_or_create()?) {
        return Ok(());
    }
    Err(anyhow!(
        "submodule {path} records commit {}, which is not in {}",
        &oid.to_string()[..7],
        redact_userinfo(&mirror.url)
    ))
}

/// A submodule URL as Git reads it: `./x` and `../x` are relative to the
/// superproject's URL (or path); anything else stands as it is.
pub(crate) fn resolve_url(base: &str, url: &str) -> String {
    if !(url.starts_with("./") || url.starts_with("../")) {
        return url.to_string();
    }
    let mut base = base.trim_end_matches('/').to_string();
    let mut rest = url;
    loop {
        if let Some(tail) = rest.strip_prefix("./") {
            rest = tail;
        } else if let Some(tail) = rest.strip_prefix("../") {
            rest = tail;
            // Drop the last path segment (for `host:path` URLs, the part after the colon too).
            match base.rfind(['/', ':']) {
                Some(cut) if base[cut..].starts_with(':') => base.truncate(cut + 1),
                Some(cut) => base.truncate(cut),
                None => base.clear(),
            }
        } else {
            break;
        }
    }
    if base.ends_with(':') || base.is_empty() {
        format!("{base}{rest}")
    } else {
        format!("{base}/{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::resolve_url;

    #[test]
    fn relative_submodule_urls_follow_the_superproject() {
        assert_eq!(
            resolve_url("https://host/org/app.git", "../lib.git"),
            "https://host/org/lib.git"
        );
        assert_eq!(
            resolve_url("/srv/app", "./vendor/lib"),
            "/srv/app/vendor/lib"
        );
        assert_eq!(resolve_url("/srv/repos/app/", "../lib"), "/srv/repos/lib");
        assert_eq!(
            resolve_url("git@host:org/app.git", "../lib.git"),
            "git@host:org/lib.git"
        );
        assert_eq!(
            resolve_url("https://host/org/app.git", "https://other/lib.git"),
            "https://other/lib.git"
        );
    }
}
