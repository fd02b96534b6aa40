//! Source at repository scale: a local repository of 0, 20,000 (and, with
//! `--large`, 200,000) files of ~4 KB, its objects loose (as right after a
//! large commit) or packed, flowing dev → prod with trivial buildspecs through
//! the engine's pipeline with the real watcher, Git source (Stageline's mirror
//! and workspaces) and buildspec runner, an in-memory store and a fake
//! deployer. For each it prints:
//! - the new stack's first release (it includes importing the repository into
//!   Stageline's mirror), commit → prod deployed;
//! - then, for a commit that changes one file (median of 3): commit → first
//!   part started, each part's checkout time (build at dev — it also makes the
//!   commit's checkout — then release at dev and at prod), commit → prod deployed.
//!
//! Run it with:
//!
//!     cargo bench -p stageline-git --bench source_scale
//!     cargo bench -p stageline-git --bench source_scale -- --large
//!
//! `STAGELINE_BENCH_SIZES=20000` measures only the sizes listed;
//! `STAGELINE_BENCH_LOGS=1` prints each part's log.
//!
//! Targets (issue 18), at 20,000 files: commit → first part ≤ 0.5 s, each later
//! part's workspace ≤ 1 s, commit → prod deployed ≤ 5 s; at 200,000 files no
//! part's workspace over 10 s. Figures, not assertions: nothing here fails on time.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stageline_build::BuildspecRunner;
use stageline_engine::flow::{FlowState, Input};
use stageline_engine::order::first_stage_settings;
use stageline_engine::pipeline::{Pipeline, PipelineConfig};
use stageline_engine::testing::*;
use stageline_engine::*;
use stageline_git::GitSource;
use tokio::sync::mpsc;

const BUILD: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo built\n";
const RELEASE: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo released\n";
/// Steady-state commits measured per repository.
const COMMITS: usize = 3;

fn main() {
    let large = std::env::args().any(|arg| arg == "--large");
    let mut sizes: Vec<usize> = match std::env::var("STAGELINE_BENCH_SIZES") {
        Ok(list) => list
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect(),
        Err(_) => vec![0, 20_000],
    };
    if large {
        sizes.push(200_000);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("source_scale: local repository → dev → prod, trivial buildspecs, fake deployer");
    println!(
        "{:>8} {:>7} | {:>13} | {:>13} {:>11} {:>11} {:>11} {:>13}",
        "files",
        "objects",
        "first release",
        "commit→part",
        "build ws",
        "dev ws",
        "prod ws",
        "commit→prod"
    );
    for files in sizes {
        for packed in [false, true] {
            let row = runtime.block_on(measure(files, packed));
            println!(
                "{:>8} {:>7} | {:>11.2} s | {:>11.3} s {:>9.2} s {:>9.2} s {:>9.2} s {:>11.2} s | {:>7.2} s",
                files,
                if packed { "packed" } else { "loose" },
                row.first_release.as_secs_f64(),
                row.to_first_part.as_secs_f64(),
                row.build_workspace.as_secs_f64(),
                row.dev_workspace.as_secs_f64(),
                row.prod_workspace.as_secs_f64(),
                row.to_prod.as_secs_f64(),
                row.cleanup.as_secs_f64(),
            );
        }
    }
    println!("first release: a new stack's first commit, import into Stageline's mirror included");
    println!("commit→part: commit → the build part started; ws: the part's checkout (build ws also makes the commit's checkout)");
    println!("steady-state columns: median of {COMMITS} commits that each change one file");
    println!(
        "cleanup: after prod deployed, until the background removal of the flow's workspaces ended"
    );
}

/// One row of figures.
struct Row {
    first_release: Duration,
    to_first_part: Duration,
    build_workspace: Duration,
    dev_workspace: Duration,
    prod_workspace: Duration,
    to_prod: Duration,
    /// After prod deployed, until every workspace of the flow was removed (in the background).
    cleanup: Duration,
}

async fn measure(files: usize, packed: bool) -> Row {
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let repo = dir.path().join("app");
    generate(&repo, files, packed);

    let fakes = Fakes::default();
    let source = GitSource::without_credentials(dir.path().join("mirrors"));
    let mut ports = fakes.ports();
    ports.source = Arc::new(source.clone());
    ports.builder = Arc::new(BuildspecRunner::new(Duration::from_secs(600)));
    let config = PipelineConfig {
        workspaces: dir.path().join("workspaces"),
        keep_workspaces: false,
        verify_poll: stageline_engine::pipeline::VERIFY_POLL,
    };
    let pipeline = Arc::new(Pipeline::start(ports, config).await.unwrap());
    let account = test_account(1);
    let mut stack = test_stack(2, "big", account.id);
    stack.repository = repo.display().to_string();
    pipeline.send(Input::PutAccount(account)).await.unwrap();
    pipeline
        .send(Input::CreateStack {
            stack: stack.clone(),
            first_region: "us-east-1".into(),
            watch: true,
        })
        .await
        .unwrap();
    let dev = pipeline
        .read(|s| s.flow_of(StackId(2))[0].id)
        .await
        .unwrap();
    let mut prod_settings = first_stage_settings("us-west-2");
    prod_settings.name = "prod".into();
    pipeline
        .send(Input::CreateStage {
            stack_id: stack.id,
            after: Some(dev),
            settings: prod_settings,
        })
        .await
        .unwrap();
    let prod = pipeline
        .read(|s| s.flow_of(StackId(2))[1].id)
        .await
        .unwrap();

    // The new stack's first release: the watcher reports the head it finds.
    let started = Instant::now();
    let (events, mut received) = mpsc::channel(64);
    let _watch = source.watch_events(&stack, None, events);
    let forwarding = Arc::clone(&pipeline);
    let forward = tokio::spawn(async move {
        while let Some(event) = received.recv().await {
            forwarding.notify(Input::from(event));
        }
    });
    let head = git(&repo, &["rev-parse", "HEAD"]);
    wait(&pipeline, 1800, move |s| {
        deployed_sha(s, StackId(2), "prod") == Some(head.clone())
    })
    .await;
    let first_release = started.elapsed();

    let workspaces = dir.path().join("workspaces");
    while std::fs::read_dir(&workspaces).is_ok_and(|mut entries| entries.next().is_some()) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut rows = Vec::new();
    for n in 0..COMMITS {
        std::fs::write(repo.join("changed.txt"), n.to_string()).unwrap();
        git(&repo, &["add", "changed.txt"]);
        // The clock starts as `git commit` starts (the file is staged already).
        let started = Instant::now();
        git(&repo, &["commit", "-q", "-m", &format!("change {n}")]);
        let sha = git(&repo, &["rev-parse", "HEAD"]);
        let ours = sha.clone();
        wait(&pipeline, 600, move |s| {
            s.latest_run(dev).is_some_and(|run| {
                s.release(run.release_id)
                    .is_some_and(|r| r.commit.sha == ours)
                    && run.part(PartKind::Build).status != PartStatus::Pending
            })
        })
        .await;
        let to_first_part = started.elapsed();
        let ours = sha.clone();
        wait(&pipeline, 1800, move |s| {
            deployed_sha(s, StackId(2), "prod") == Some(ours.clone())
        })
        .await;
        let to_prod = started.elapsed();
        let deployed_at = Instant::now();
        let (dev_run, prod_run) = pipeline
            .read(move |s| {
                (
                    s.latest_run(dev).unwrap().id,
                    s.latest_run(prod).unwrap().id,
                )
            })
            .await
            .unwrap();
        if std::env::var_os("STAGELINE_BENCH_LOGS").is_some() {
            for (run, part) in [
                (dev_run, PartKind::Build),
                (dev_run, PartKind::Release),
                (prod_run, PartKind::Release),
            ] {
                for line in fakes.logs.lines(run, part) {
                    println!("    {part:?}: {line}");
                }
            }
        }
        rows.push(Row {
            first_release,
            to_first_part,
            build_workspace: checkout_time(&fakes, dev_run, PartKind::Build),
            dev_workspace: checkout_time(&fakes, dev_run, PartKind::Release),
            prod_workspace: checkout_time(&fakes, prod_run, PartKind::Release),
            to_prod,
            cleanup: Duration::ZERO,
        });
        // Commits come minutes apart: the background removal of this commit's
        // workspaces ends before the next commit (how long it took is shown).
        let removing = Instant::now();
        while std::fs::read_dir(&workspaces).is_ok_and(|mut entries| entries.next().is_some()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if let Some(row) = rows.last_mut() {
            let row: &mut Row = row;
            row.cleanup = removing.elapsed() + (removing - deployed_at);
        }
    }
    forward.abort();
    let median = |pick: fn(&Row) -> Duration| {
        let mut values: Vec<Duration> = rows.iter().map(pick).collect();
        values.sort();
        values[values.len() / 2]
    };
    Row {
        first_release,
        to_first_part: median(|r| r.to_first_part),
        build_workspace: median(|r| r.build_workspace),
        dev_workspace: median(|r| r.dev_workspace),
        prod_workspace: median(|r| r.prod_workspace),
        to_prod: median(|r| r.to_prod),
        cleanup: median(|r| r.cleanup),
    }
}

/// The time the part's log gives for its checkout ("Checked out … in 1.23 s: …").
fn checkout_time(fakes: &Fakes, run: RunId, part: PartKind) -> Duration {
    let lines = fakes.logs.lines(run, part);
    let line = lines
        .iter()
        .find(|line| line.starts_with("Checked out ") && line.contains(" s: "))
        .unwrap_or_else(|| panic!("no checkout line in {part:?}: {lines:#?}"));
    let seconds = line
        .split(" in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|number| number.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("unreadable: {line}"));
    Duration::from_secs_f64(seconds)
}

/// Waits (polling every 2 ms) until `check` holds; panics after `seconds`.
async fn wait(
    pipeline: &Pipeline,
    seconds: u64,
    check: impl Fn(&FlowState) -> bool + Send + Sync + Clone + 'static,
) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let check = check.clone();
        if pipeline.read(move |s| check(s)).await.unwrap() {
            return;
        }
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A repository of `files` files of ~4 KB (100 per folder) plus the
/// buildspecs, in one commit; packed by `git gc` or left loose.
fn generate(repo: &Path, files: usize, packed: bool) {
    std::fs::create_dir_all(repo).unwrap();
    git(repo, &["init", "-q", "-b", "main"]);
    git(repo, &["config", "gc.auto", "0"]);
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..files {
        let folder = repo.join(format!("src/d{:04}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&folder).unwrap();
        }
        let mut text = String::with_capacity(4200);
        while text.len() < 4096 {
            // xorshift: varied, source-like lines that compress as code does.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(&format!(
                "let value_{:x} = compute({}, {});\n",
                state >> 40,
                state % 997,
                i
            ));
        }
        std::fs::write(folder.join(format!("f{i}.rs")), text).unwrap();
    }
    std::fs::write(repo.join("build.yml"), BUILD).unwrap();
    std::fs::write(repo.join("release.yml"), RELEASE).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", &format!("{files} files")]);
    if packed {
        git(repo, &["gc", "-q"]);
    }
}

/// The sha the named stage runs now.
fn deployed_sha(s: &FlowState, stack: StackId, name: &str) -> Option<String> {
    let stage = s
        .stages_of(stack)
        .into_iter()
        .find(|st| st.settings.name == name)?;
    s.flow(stage.id)
        .deployed
        .and_then(|r| s.release(r))
        .map(|r| r.commit.sha.clone())
}

/// `git args…` in `repo` with a fixed identity and no user configuration.
fn git(repo: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(repo)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", repo)
        .env("GIT_AUTHOR_NAME", "Ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}
