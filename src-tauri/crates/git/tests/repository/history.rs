//! `commits_between`: what an approval will ship.

use stageline_git::GitSource;
use tempfile::TempDir;

use crate::support::{isolate, stack, WorkRepo};

struct FiveCommits {
    _tmp: TempDir,
    source: GitSource,
    repo: WorkRepo,
    /// Oldest first.
    shas: Vec<String>,
}

fn five_commits() -> FiveCommits {
    isolate();
    let tmp = TempDir::new().unwrap();
    let repo = WorkRepo::init(&tmp.path().join("app"));
    let mut shas = vec![repo.head()];
    for n in 2..=5 {
        shas.push(repo.commit(&format!("commit {n}")));
    }
    let source = GitSource::without_credentials(tmp.path().join("cache"));
    FiveCommits {
        _tmp: tmp,
        source,
        repo,
        shas,
    }
}

fn shas(commits: Vec<stageline_engine::Commit>) -> Vec<String> {
    commits.into_iter().map(|c| c.sha).collect()
}

#[tokio::test]
async fn commits_between_are_newest_first_without_the_base() {
    let f = five_commits();
    let stack = stack(1, f.repo.dir.to_str().unwrap(), "main");

    let commits = f
        .source
        .commits_between(&stack, Some(&f.shas[1]), &f.shas[4], 10)
        .await
        .unwrap();

    assert_eq!(commits[0].message, "commit 5");
    assert_eq!(
        shas(commits),
        [f.shas[4].clone(), f.shas[3].clone(), f.shas[2].clone()]
    );
}

#[tokio::test]
async fn commits_between_stop_at_the_limit() {
    let f = five_commits();
    let stack = stack(1, f.repo.dir.to_str().unwrap(), "main");

    let commits = f
        .source
        .commits_between(&stack, Some(&f.shas[0]), &f.shas[4], 2)
        .await
        .unwrap();

    assert_eq!(shas(commits), [f.shas[4].clone(), f.shas[3].clone()]);
}

#[tokio::test]
async fn commits_between_without_a_base_list_the_whole_history() {
    let f = five_commits();
    let stack = stack(1, f.repo.dir.to_str().unwrap(), "main");

    let commits = f
        .source
        .commits_between(&stack, None, &f.shas[4], 10)
        .await
        .unwrap();

    let mut expected = f.shas.clone();
    expected.reverse();
    assert_eq!(shas(commits), expected);
}

#[tokio::test]
async fn commits_between_the_same_commit_are_none() {
    let f = five_commits();
    let stack = stack(1, f.repo.dir.to_str().unwrap(), "main");

    let commits = f
        .source
        .commits_between(&stack, Some(&f.shas[4]), &f.shas[4], 10)
        .await
        .unwrap();

    assert!(commits.is_empty());
}
