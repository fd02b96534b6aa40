//! Seeds an app data folder with many stacks and a long history, to see and
//! measure Stageline at scale (dashboard views, start time, idle cost):
//!
//! ```sh
//! cargo run --release -p stageline-store --example seed -- <data dir> [stacks] [stages] [runs per stage]
//! ```
//!
//! Defaults: 50 stacks × 8 stages × 1,000 runs per stage. Writes through the
//! store itself (one transaction per stack), into `<data dir>/stageline.db`;
//! the folder must not hold a database yet. Accounts are named AWS profiles,
//! so no keychain is needed; nothing is deployed anywhere.

use stageline_engine::order::first_stage_settings;
use stageline_engine::ports::{Change, StageFlow, Store};
use stageline_engine::*;
use stageline_store::SqliteStore;

const STAGE_NAMES: [&str; 12] = [
    "dev", "test", "qa", "staging", "canary", "beta", "eu", "prod", "apac", "us", "dr", "edge",
];

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: seed <data dir> [stacks] [stages] [runs per stage]");
        std::process::exit(2);
    };
    let number =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (stacks, stages, runs) = (
        number(1, 50),
        number(2, 8).min(STAGE_NAMES.len()),
        number(3, 1000),
    );
    let path = std::path::Path::new(dir).join("stageline.db");
    if path.exists() {
        eprintln!("{} exists already: seed an empty folder", path.display());
        std::process::exit(2);
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let mut id = 1_000_000_000_000_i64;
    let mut next = || {
        id += 1;
        id
    };
    let account = Account {
        id: AccountId(next()),
        name: "Seeded account".into(),
        credentials: CredentialSource::Profile {
            profile: "seeded".into(),
        },
        default_region: "us-east-1".into(),
        endpoint_url: Some("http://127.0.0.1:9".into()),
    };
    store
        .apply(vec![Change::PutAccount(account.clone())])
        .await
        .unwrap();
    let started = std::time::Instant::now();
    // Releases a minute apart, ending a little before now, so ages read like a working day.
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - runs as i64 * 60_000
        - 3_600_000;
    for s in 0..stacks {
        let stack = Stack {
            id: StackId(next()),
            name: format!("service-{s:02}"),
            repository: format!("/srv/git/service-{s:02}"),
            branch: "main".into(),
            account_id: account.id,
            poll_interval_secs: 60,
            created_at: base,
            deleting: false,
            home_region: "us-east-1".into(),
        };
        let mut changes = vec![Change::PutStack(stack.clone())];
        let mut releases = Vec::new();
        for r in 0..runs.max(1) {
            // Distinct short shas, as real commits have.
            let mixed = ((s * 7919 + r) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let sha = format!("{mixed:016x}{s:012x}{r:012x}");
            let release = Release {
                id: ReleaseId(next()),
                stack_id: stack.id,
                commit: Commit {
                    sha: sha.clone(),
                    message: format!("Change {r} of service {s}"),
                    author: ["Ada", "Grace", "Linus", "Margaret"][r % 4].into(),
                    time: base + r as i64 * 60_000,
                },
                included: vec![],
                forced: false,
                created_at: base + r as i64 * 60_000,
                artifact: Some(Artifact {
                    image: format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/stageline/service-{s:02}@sha256:{sha:0>64}"),
                }),
            };
            changes.push(Change::PutRelease(release.clone()));
            releases.push(release);
        }
        for (position, name) in STAGE_NAMES.iter().take(stages).enumerate() {
            let mut settings = first_stage_settings(if *name == "eu" {
                "eu-west-1"
            } else {
                "us-east-1"
            });
            settings.name = (*name).into();
            settings.requires_approval = *name == "prod";
            let stage = Stage {
                id: StageId(next()),
                stack_id: stack.id,
                position: position as u32,
                settings,
                lifecycle: StageLifecycle::Active,
            };
            changes.push(Change::InsertStage(stage.clone()));
            // At every third stack, prod's newest release waits for approval.
            let pending = *name == "prod" && s % 3 == 0;
            for (r, release) in releases.iter().enumerate().take(runs) {
                if pending && r + 1 == runs {
                    continue;
                }
                // Every 7th stack's second stage failed its newest run.
                let failed = r + 1 == runs && s % 7 == 3 && position == 1;
                let run_at = release.created_at + position as i64 * 5_000;
                changes.push(Change::PutRun(Run {
                    id: RunId(next()),
                    stack_id: stack.id,
                    stage_id: stage.id,
                    release_id: release.id,
                    status: if failed { RunStatus::Failed } else { RunStatus::Succeeded },
                    trigger: RunTrigger::Flow,
                    parts: PartKind::ALL
                        .iter()
                        .map(|kind| Part {
                            kind: *kind,
                            status: if failed && *kind == PartKind::Deploy {
                                PartStatus::Failed
                            } else {
                                PartStatus::Succeeded
                            },
                            started_at: Some(run_at),
                            finished_at: Some(run_at + 40_000),
                            message: failed.then(|| "Service (AWS::ECS::Service) UPDATE_FAILED: tasks did not become healthy".into()),
                        })
                        .collect(),
                    created_at: run_at,
                    finished_at: Some(run_at + 120_000),
                    image: release.artifact.as_ref().map(|a| a.image.clone()),
                    build_access: Some(BuildAccess::BuildRole),
                }));
            }
            let behind = (position == 1 && s % 7 == 3) || pending;
            let deployed = releases.len().saturating_sub(if behind { 2 } else { 1 });
            changes.push(Change::PutFlow(StageFlow {
                stage_id: stage.id,
                deployed: releases.get(deployed).map(|r| r.id),
                waiting: None,
                reached: releases.get(deployed).map(|r| r.id),
            }));
            if pending {
                if let Some(release) = releases.last() {
                    changes.push(Change::PutApproval(Approval {
                        id: ApprovalId(next()),
                        stack_id: stack.id,
                        stage_id: stage.id,
                        release_id: release.id,
                        status: ApprovalStatus::Pending,
                        requested_at: release.created_at,
                        decision: None,
                    }));
                }
            }
        }
        store.apply(changes).await.unwrap();
    }
    println!(
        "seeded {stacks} stacks × {stages} stages × {runs} runs into {} in {:.1} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
}
