//! Workspaces: one checkout per commit, a private copy per part, and a store
//! of Stageline's own that the user's Git cannot pull objects from.

use std::path::Path;

use stageline_engine::ports::{CheckoutOptions, Source};
use stageline_git::GitSource;
use tempfile::TempDir;

use crate::support::{git, isolate, stack, WorkRepo};

const WITH_EXTRAS: CheckoutOptions = CheckoutOptions {
    submodules_and_lfs: true,
};

#[tokio::test]
async fn a_part_writing_into_its_workspace_changes_nothing_the_next_part_sees() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let repo = WorkRepo::init(&tmp.path().join("app"));
    let sha = repo.head();
    let source = GitSource::without_credentials(tmp.path().join("cache"));
    let stack = stack(1, repo.dir.to_str().unwrap(), "main");
    let build = tmp.path().join("build");
    source
        .checkout(&stack, &sha, build.clone(), WITH_EXTRAS)
        .await
        .unwrap();

    // The build edits a tracked file, adds one, deletes one, and commits.
    std::fs::write(build.join("first-commit.txt"), "edited by the build").unwrap();
    std::fs::write(build.join("dist.js"), "built").unwrap();
    git(&build, &["add", "-A"]);
    git(&build, &["commit", "-q", "-m", "the build's own commit"]);
    std::fs::remove_file(build.join("first-commit.txt")).unwrap();

    let release = tmp.path().join("release");
    source
        .checkout(&stack, &sha, release.clone(), WITH_EXTRAS)
        .await
        .unwrap();

    assert_eq!(
        std::fs::read_to_string(release.join("first-commit.txt")).unwrap(),
        "first commit\n"
    );
    assert!(!release.join("dist.js").exists());
    assert_eq!(git(&release, &["rev-parse", "HEAD"]), sha);
    assert_eq!(
        git(&release, &["status", "--porcelain"]),
        "",
        "a clean tree"
    );
}

#[tokio::test]
async fn a_commit_the_user_rewrote_away_and_pruned_still_checks_out() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let repo = WorkRepo::init(&tmp.path().join("app"));
    let dropped = repo.commit("dropped later");
    let source = GitSource::without_credentials(tmp.path().join("cache"));
    let stack = stack(1, repo.dir.to_str().unwrap(), "main");
    // Stageline sees the head (as the watcher does), then the user resets it
    // away and prunes it from their repository.
    assert_eq!(source.head(&stack).await.unwrap().sha, dropped);
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    repo.git(&["reflog", "expire", "--expire=now", "--all"]);
    repo.git(&["gc", "-q", "--prune=now"]);
    assert!(std::process::Command::new("git")
        .args(["cat-file", "-e", &dropped])
        .current_dir(&repo.dir)
        .status()
        .map(|s| !s.success())
        .unwrap());

    let dir = tmp.path().join("work");
    source
        .checkout(&stack, &dropped, dir.clone(), WITH_EXTRAS)
        .await
        .unwrap();

    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), dropped);
    assert!(dir.join("dropped-later.txt").exists());
}

#[tokio::test]
async fn a_mirror_that_cannot_be_read_is_fetched_again_and_the_read_retried_once() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let repo = WorkRepo::init(&tmp.path().join("app"));
    let sha = repo.commit("second commit");
    let cache = tmp.path().join("cache");
    let source = GitSource::without_credentials(cache.clone());
    let stack = stack(1, repo.dir.to_str().unwrap(), "main");
    source.head(&stack).await.unwrap();
    // Something removes the mirror's objects (a disk cleaner, a bad sector).
    for pack in find_files(&cache, ".pack") {
        std::fs::remove_file(pack).unwrap();
    }

    let dir = tmp.path().join("work");
    let report = source
        .checkout(&stack, &sha, dir.clone(), WITH_EXTRAS)
        .await
        .unwrap();

    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), sha);
    assert!(
        report
            .details
            .iter()
            .any(|d| d.contains("fetched the repository again")),
        "the log says what happened: {:?}",
        report.details
    );
}

#[tokio::test]
async fn a_report_says_how_long_the_checkout_took_and_how_many_files_it_wrote() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let repo = WorkRepo::init(&tmp.path().join("app"));
    for i in 0..30 {
        std::fs::create_dir_all(repo.dir.join("src")).unwrap();
        std::fs::write(repo.dir.join(format!("src/{i}.txt")), i.to_string()).unwrap();
    }
    let sha = repo.commit("thirty more files");
    let source = GitSource::without_credentials(tmp.path().join("cache"));
    let stack = stack(1, repo.dir.to_str().unwrap(), "main");

    let report = source
        .checkout(&stack, &sha, tmp.path().join("work"), WITH_EXTRAS)
        .await
        .unwrap();

    assert_eq!(report.files, 32, "30 files and the two commit files");
    assert!(report.elapsed.as_nanos() > 0);
    assert!(
        report.details[0].starts_with("The commit's checkout was made"),
        "{:?}",
        report.details
    );
    assert!(
        report.details[1].starts_with("This part's workspace was"),
        "{:?}",
        report.details
    );
}

/// Every file under `dir` whose name ends with `suffix`.
pub fn find_files(dir: &Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(next).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test]
async fn stagelines_copy_of_a_local_repository_stays_packed() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let repo = WorkRepo::init(&tmp.path().join("app"));
    let cache = tmp.path().join("cache");
    let source = GitSource::without_credentials(cache.clone());
    let stack = stack(1, repo.dir.to_str().unwrap(), "main");
    source.head(&stack).await.unwrap();
    let sha = repo.commit("one more");
    assert_eq!(source.head(&stack).await.unwrap().sha, sha);

    let loose: Vec<_> = find_files(&cache, "")
        .into_iter()
        .filter(|path| {
            let folder = path
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy();
            folder.len() == 2 && folder.chars().all(|c| c.is_ascii_hexdigit())
        })
        .collect();
    assert!(loose.is_empty(), "no loose objects: {loose:?}");
    assert_eq!(find_files(&cache, ".pack").len(), 2, "one pack per fetch");
}

#[tokio::test]
async fn many_fetches_are_merged_into_one_pack_keeping_every_commit() {
    isolate();
    let tmp = TempDir::new().unwrap();
    let repo = WorkRepo::init(&tmp.path().join("app"));
    let cache = tmp.path().join("cache");
    let source = GitSource::without_credentials(cache.clone());
    let stack = stack(1, repo.dir.to_str().unwrap(), "main");
    source.head(&stack).await.unwrap();
    // A commit the user will rewrite away while it may still await approval.
    let rewritten = repo.commit("rewritten later");
    source.head(&stack).await.unwrap();
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    for n in 0..40 {
        repo.commit(&format!("change {n}"));
        source.head(&stack).await.unwrap();
    }

    assert!(find_files(&cache, ".pack").len() <= 33);
    let dir = tmp.path().join("work");
    source
        .checkout(&stack, &rewritten, dir.clone(), WITH_EXTRAS)
        .await
        .unwrap();
    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), rewritten);
}
