//! Submodules (recursive, at their recorded commits, from a local bare
//! repository as their remote) and Git LFS content (through git-lfs's
//! file-based transfer from the local repository) in a part's workspace.

use std::path::Path;

use stageline_engine::ports::{CheckoutOptions, Source};
use stageline_git::GitSource;
use tempfile::TempDir;

use crate::support::{git, isolate, stack, WorkRepo};

const WITH_EXTRAS: CheckoutOptions = CheckoutOptions {
    submodules_and_lfs: true,
};
const WITHOUT_EXTRAS: CheckoutOptions = CheckoutOptions {
    submodules_and_lfs: false,
};

/// A bare repository at `bare` holding one commit with `file` = `content`.
fn bare_repo(root: &Path, name: &str, file: &str, content: &str) -> (String, WorkRepo) {
    let work = WorkRepo::init(&root.join(format!("{name}-work")));
    std::fs::write(work.dir.join(file), content).unwrap();
    work.git(&["add", "-A"]);
    work.git(&["commit", "-q", "-m", &format!("{name}: {file}")]);
    let bare = root.join(format!("{name}.git"));
    git(
        root,
        &[
            "clone",
            "-q",
            "--bare",
            work.dir.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    work.git(&["remote", "add", "origin", bare.to_str().unwrap()]);
    (bare.to_string_lossy().into_owned(), work)
}

/// `git submodule add` of a local path (Git refuses the file transport for
/// submodules unless allowed).
fn add_submodule(repo: &Path, url: &str, path: &str) {
    git(
        repo,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            url,
            path,
        ],
    );
}

#[tokio::test]
async fn submodules_are_checked_out_recursively_at_their_recorded_commits() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let (inner_url, _inner) = bare_repo(tmp.path(), "inner", "inner.txt", "inner v1");
    let (lib_url, lib) = bare_repo(tmp.path(), "lib", "lib.txt", "lib v1");
    add_submodule(&lib.dir, &inner_url, "deps/inner");
    lib.git(&["commit", "-q", "-m", "lib: add inner"]);
    lib.git(&["push", "-q", "origin", "HEAD:main"]);
    let app = WorkRepo::init(&tmp.path().join("app"));
    add_submodule(&app.dir, &lib_url, "vendor/lib");
    let sha = app.commit("use lib");
    // The library moves on; the app still records the older commit.
    std::fs::write(lib.dir.join("lib.txt"), "lib v2").unwrap();
    lib.git(&["commit", "-q", "-am", "lib v2"]);
    lib.git(&["push", "-q", "origin", "HEAD:main"]);

    let source = GitSource::without_credentials(tmp.path().join("cache"));
    let stack = stack(1, app.dir.to_str().unwrap(), "main");
    let dir = tmp.path().join("work");
    let report = source
        .checkout(&stack, &sha, dir.clone(), WITH_EXTRAS)
        .await
        .unwrap();

    assert_eq!(
        std::fs::read_to_string(dir.join("vendor/lib/lib.txt")).unwrap(),
        "lib v1",
        "the recorded commit, not the library's newest"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("vendor/lib/deps/inner/inner.txt")).unwrap(),
        "inner v1",
        "submodules of submodules too"
    );
    assert!(
        report.details.iter().any(|d| d.contains("2 submodules")),
        "{:?}",
        report.details
    );
    // Git sees a normal, initialised, clean superproject.
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    let status = git(&dir, &["submodule", "status", "--recursive"]);
    // `-` would be uninitialised, `+` at another commit, `U` conflicted.
    assert_eq!(status.lines().count(), 2, "{status}");
    assert!(
        !status.lines().any(|line| line.starts_with(['-', '+', 'U'])),
        "every submodule at its recorded commit: {status}"
    );
    assert_eq!(
        git(&dir.join("vendor/lib"), &["log", "-1", "--format=%s"]),
        "lib: add inner"
    );

    // Another part of the same commit gets its own copy, submodules included.
    let again = tmp.path().join("again");
    source
        .checkout(&stack, &sha, again.clone(), WITH_EXTRAS)
        .await
        .unwrap();
    std::fs::write(dir.join("vendor/lib/lib.txt"), "changed by a part").unwrap();
    assert_eq!(
        std::fs::read_to_string(again.join("vendor/lib/lib.txt")).unwrap(),
        "lib v1"
    );
    assert_eq!(git(&again, &["status", "--porcelain"]), "");
}

#[tokio::test]
async fn lfs_files_arrive_with_their_content() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let app = WorkRepo::init(&tmp.path().join("app"));
    app.git(&["lfs", "install", "--local"]);
    app.git(&["lfs", "track", "*.bin"]);
    let content: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(app.dir.join("model.bin"), &content).unwrap();
    let sha = app.commit("add the model");
    assert!(
        git(&app.dir, &["show", "HEAD:model.bin"]).starts_with("version https://git-lfs"),
        "the repository holds a pointer"
    );

    let source = GitSource::without_credentials(tmp.path().join("cache"));
    let stack = stack(1, app.dir.to_str().unwrap(), "main");
    let dir = tmp.path().join("work");
    let report = source
        .checkout(&stack, &sha, dir.clone(), WITH_EXTRAS)
        .await
        .unwrap();

    assert_eq!(std::fs::read(dir.join("model.bin")).unwrap(), content);
    assert!(
        report.details.iter().any(|d| d.contains("1 Git LFS file")),
        "{:?}",
        report.details
    );
    assert_eq!(git(&dir, &["status", "--porcelain"]), "", "a clean tree");

    // A later part's copy has the content too, without downloading again.
    let release = tmp.path().join("release");
    source
        .checkout(&stack, &sha, release.clone(), WITH_EXTRAS)
        .await
        .unwrap();
    assert_eq!(std::fs::read(release.join("model.bin")).unwrap(), content);
}

#[tokio::test]
async fn a_stage_can_turn_submodules_and_lfs_off() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let (lib_url, _lib) = bare_repo(tmp.path(), "lib", "lib.txt", "lib v1");
    let app = WorkRepo::init(&tmp.path().join("app"));
    add_submodule(&app.dir, &lib_url, "vendor/lib");
    app.git(&["lfs", "install", "--local"]);
    app.git(&["lfs", "track", "*.bin"]);
    std::fs::write(app.dir.join("model.bin"), "large content").unwrap();
    let sha = app.commit("lib and model");

    let source = GitSource::without_credentials(tmp.path().join("cache"));
    let stack = stack(1, app.dir.to_str().unwrap(), "main");
    let dir = tmp.path().join("work");
    let report = source
        .checkout(&stack, &sha, dir.clone(), WITHOUT_EXTRAS)
        .await
        .unwrap();

    assert!(!dir.join("vendor/lib/lib.txt").exists());
    assert!(std::fs::read_to_string(dir.join("model.bin"))
        .unwrap()
        .starts_with("version https://git-lfs"));
    assert!(
        report.details.iter().any(|d| d.contains("turned off")),
        "{:?}",
        report.details
    );
}

#[tokio::test]
async fn a_submodule_whose_commit_is_nowhere_fails_the_checkout_naming_it() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let (lib_url, lib) = bare_repo(tmp.path(), "lib", "lib.txt", "lib v1");
    // A commit made in the library but never pushed to its remote.
    std::fs::write(lib.dir.join("lib.txt"), "unpushed").unwrap();
    lib.git(&["commit", "-q", "-am", "unpushed"]);
    let app = WorkRepo::init(&tmp.path().join("app"));
    add_submodule(&app.dir, &lib_url, "vendor/lib");
    git(
        &app.dir.join("vendor/lib"),
        &["fetch", "-q", lib.dir.to_str().unwrap(), "main"],
    );
    git(
        &app.dir.join("vendor/lib"),
        &["checkout", "-q", "FETCH_HEAD"],
    );
    let sha = app.commit("records an unpushed commit");

    let source = GitSource::without_credentials(tmp.path().join("cache"));
    let stack = stack(1, app.dir.to_str().unwrap(), "main");
    let error = source
        .checkout(&stack, &sha, tmp.path().join("work"), WITH_EXTRAS)
        .await
        .unwrap_err();

    assert!(
        error.message.contains("submodule vendor/lib") && error.message.contains("is not in"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_remote_repository_brings_its_relative_submodules_and_lfs_files() {
    isolate();
    let tmp = TempDir::new().unwrap();
    // Two repositories side by side on a "server": the app refers to the
    // library as ../lib.git, as projects on one host usually do.
    let (_lib_url, _lib) = bare_repo(tmp.path(), "lib", "lib.txt", "lib v1");
    let (app_url, app) = bare_repo(tmp.path(), "app", "app.txt", "app v1");
    git(
        &app.dir,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            "../lib.git",
            "vendor/lib",
        ],
    );
    app.git(&["lfs", "install", "--local"]);
    app.git(&["lfs", "track", "*.bin"]);
    std::fs::write(app.dir.join("data.bin"), "content kept in LFS").unwrap();
    let sha = app.commit("lib and data");
    app.git(&["push", "-q", "origin", "HEAD:main"]);

    let source = GitSource::without_credentials(tmp.path().join("cache"));
    let stack = stack(2, &format!("file://{app_url}"), "main");
    let dir = tmp.path().join("work");
    source
        .checkout(&stack, &sha, dir.clone(), WITH_EXTRAS)
        .await
        .unwrap();

    assert_eq!(
        std::fs::read_to_string(dir.join("vendor/lib/lib.txt")).unwrap(),
        "lib v1"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("data.bin")).unwrap(),
        "content kept in LFS"
    );
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
}
