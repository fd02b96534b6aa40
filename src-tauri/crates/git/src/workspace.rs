//! A part's private workspace, copied from its commit's checkout by the
//! cheapest means the file system offers: a reflink (copy-on-write clone:
//! btrfs, XFS, APFS, ReFS) where it can, else a real copy made in the kernel
//! (`copy_file_range`). Never hard links: a part may write any file, and a
//! hard-linked file would carry that write into the commit's checkout and every
//! later part. Modification times are kept, so `git status` in the copy trusts
//! the index instead of reading every file again.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

/// Files up to this size are copied through memory in one go; larger ones in the kernel.
const SMALL_FILE: u64 = 256 * 1024;

/// How the files of a workspace were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CopyMethod {
    /// Every file is a copy-on-write clone: no data was copied.
    Reflink,
    /// The file system cannot clone files: their bytes were copied.
    Copy,
}

/// What copying a tree did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Copied {
    /// Files and links of the working tree (Git's own folders not counted).
    pub(crate) files: u64,
    pub(crate) method: CopyMethod,
    pub(crate) elapsed: Duration,
}

/// Copies the tree at `from` (folders, files, symbolic links) into `to`,
/// which must not exist yet. Files are copied by a few threads at once.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<Copied> {
    let started = Instant::now();
    let plan = plan(from).with_context(|| format!("Could not read {}", from.display()))?;
    fs::create_dir(to).with_context(|| format!("Could not create {}", to.display()))?;
    for dir in &plan.dirs {
        fs::create_dir(to.join(dir))
            .with_context(|| format!("Could not create {}", dir.display()))?;
    }
    for (link, target) in &plan.links {
        make_symlink(target, &to.join(link))
            .with_context(|| format!("Could not create the link {}", link.display()))?;
    }
    let reflinks = AtomicBool::new(true);
    let copied = AtomicU64::new(0);
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let next = AtomicU64::new(0);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(file) = plan.files.get(index) else {
                    break;
                };
                if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                    break;
                }
                match copy_file(&from.join(file), &to.join(file), &reflinks) {
                    Ok(()) => {
                        if !in_git_folder(file) {
                            copied.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(error) => {
                        let error =
                            anyhow!(error).context(format!("Could not copy {}", file.display()));
                        if let Ok(mut slot) = failure.lock() {
                            slot.get_or_insert(error);
                        }
                        break;
                    }
                }
            });
        }
    });
    if let Some(error) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(error);
    }
    let links = plan.links.iter().filter(|(link, _)| !in_git_folder(link));
    let files = copied.into_inner() + links.count() as u64;
    let method = if reflinks.into_inner() && !plan.files.is_empty() {
        CopyMethod::Reflink
    } else {
        CopyMethod::Copy
    };
    Ok(Copied {
        files,
        method,
        elapsed: started.elapsed(),
    })
}

/// Whether `path` is Git's (a `.git` folder's content, or a submodule's `.git` file).
fn in_git_folder(path: &Path) -> bool {
    path.components().any(|part| part.as_os_str() == ".git")
}

/// What a tree holds, as paths relative to its root (folders parents first).
#[derive(Default)]
struct Plan {
    dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
    links: Vec<(PathBuf, PathBuf)>,
}

fn plan(root: &Path) -> io::Result<Plan> {
    let mut plan = Plan::default();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        for entry in fs::read_dir(root.join(&relative))? {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                plan.dirs.push(path.clone());
                pending.push(path);
            } else if kind.is_symlink() {
                let target = fs::read_link(entry.path())?;
                plan.links.push((path, target));
            } else {
                plan.files.push(path);
            }
        }
    }
    Ok(plan)
}

/// Copies one file, keeping its permissions and modification time. Tries a
/// reflink while `reflinks` holds (the first refusal turns it off for the tree).
fn copy_file(from: &Path, to: &Path, reflinks: &AtomicBool) -> io::Result<()> {
    let mut source = File::open(from)?;
    let metadata = source.metadata()?;
    let mut target = create_like(to, &metadata)?;
    let cloned = reflinks.load(Ordering::Relaxed)
        && match reflink_copy::reflink_file(&source, &target) {
            Ok(()) => true,
            Err(_) => {
                reflinks.store(false, Ordering::Relaxed);
                false
            }
        };
    if !cloned {
        if metadata.len() <= SMALL_FILE {
            // Most files of a repository are small: one read and one write.
            let mut bytes = Vec::with_capacity(metadata.len() as usize);
            source.read_to_end(&mut bytes)?;
            target.write_all(&bytes)?;
        } else {
            io::copy(&mut source, &mut target)?;
        }
    }
    target.set_modified(metadata.modified()?)?;
    Ok(())
}

#[cfg(unix)]
fn create_like(path: &Path, metadata: &fs::Metadata) -> io::Result<File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(metadata.permissions().mode() & 0o7777)
        .open(path)
}

#[cfg(not(unix))]
fn create_like(path: &Path, metadata: &fs::Metadata) -> io::Result<File> {
    let file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.set_permissions(metadata.permissions())?;
    Ok(file)
}

#[cfg(unix)]
fn make_symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
fn make_symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::windows::fs::symlink_file(target, link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_independent_of_its_source_and_keeps_modes_links_and_times() {
        let tmp = tempfile::tempdir().unwrap();
        let from = tmp.path().join("from");
        fs::create_dir_all(from.join("a/b")).unwrap();
        fs::write(from.join("a/b/file.txt"), "original").unwrap();
        fs::write(from.join("run.sh"), "#!/bin/sh\n").unwrap();
        fs::create_dir(from.join(".git")).unwrap();
        fs::write(from.join(".git/HEAD"), "not counted").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(from.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::symlink("a/b/file.txt", from.join("link")).unwrap();
        }
        let to = tmp.path().join("to");
        let copied = copy_tree(&from, &to).unwrap();
        assert_eq!(copied.files, if cfg!(unix) { 3 } else { 2 });

        fs::write(to.join("a/b/file.txt"), "changed by a part").unwrap();
        assert_eq!(
            fs::read_to_string(from.join("a/b/file.txt")).unwrap(),
            "original"
        );
        let times = |p: &Path| fs::metadata(p).unwrap().modified().unwrap();
        assert_eq!(times(&from.join("run.sh")), times(&to.join("run.sh")));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(to.join("run.sh"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o111, 0o111, "still executable");
            assert_eq!(
                fs::read_link(to.join("link")).unwrap(),
                Path::new("a/b/file.txt")
            );
        }
    }

    #[test]
    fn copying_onto_an_existing_folder_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("from")).unwrap();
        fs::create_dir(tmp.path().join("to")).unwrap();
        assert!(copy_tree(&tmp.path().join("from"), &tmp.path().join("to")).is_err());
    }
}
