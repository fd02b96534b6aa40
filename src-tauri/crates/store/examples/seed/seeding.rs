//! A store full of stacks with a long, varied history: the seed example and
//! the Insights benchmark share it.

use stageline_engine::order::first_stage_settings;
use stageline_engine::ports::{Change, StageFlow, Store};
use stageline_engine::*;
use stageline_store::SqliteStore;

const STAGE_NAMES: [&str; 12] = [
    "dev", "test", "qa", "staging", "canary", "beta", "eu", "prod", "apac", "us", "dr", "edge",
];
/// The history spans about 45 days, so the Insights windows (7/30/90 days) differ.
const HISTORY_MS: i64 = 45 * 86_400_000;

/// Seeds `stacks` stacks of `stages` stages (at most 12), each stage with
/// `runs` runs; returns the number of stages per stack.
pub async fn seed(store: &SqliteStore, stacks: usize, stages: usize, runs: usize) -> usize {
    let stages = stages.min(STAGE_NAMES.len());
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
    // Releases spread over the history, ending a little before now.
    let gap = (HISTORY_MS / runs.max(1) as i64).max(60_000);
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - runs as i64 * gap
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
            team: None,
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
                    author_email: String::new(),
                    time: base + r as i64 * gap,
                },
                included: vec![],
                forced: false,
                created_at: base + r as i64 * gap,
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
                // Every 7th stack's second stage failed its newest run; about one
                // run in 16 failed in the past (the next release restored it).
                let noise = (s * 131 + position * 17 + r * 7919) as u64;
                let noise = noise.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
                let failed = (r + 1 == runs && s % 7 == 3 && position == 1)
                    || (r + 1 < runs && noise % 16 == 0);
                let rollback = !failed && r > 0 && noise % 97 == 1;
                // Later stages get a release later; prod waits for its approval.
                let wait = position as i64 * 600_000 + if *name == "prod" { 7_200_000 } else { 0 };
                let run_at = release.created_at + wait + (noise % 300_000) as i64;
                // Build 40–160 s, release 10–30 s, deploy 60–300 s.
                let took = [
                    40_000 + (noise % 120_000) as i64,
                    10_000 + (noise / 7 % 20_000) as i64,
                    60_000 + (noise / 11 % 240_000) as i64,
                ];
                let mut at = run_at;
                let parts = PartKind::ALL
                    .iter()
                    .zip(took)
                    .map(|(kind, took)| {
                        let started = at;
                        at += took;
                        Part {
                            kind: *kind,
                            status: if failed && *kind == PartKind::Deploy {
                                PartStatus::Failed
                            } else {
                                PartStatus::Succeeded
                            },
                            started_at: Some(started),
                            finished_at: Some(at),
                            message: (failed && *kind == PartKind::Deploy).then(|| {
                                "Service (AWS::ECS::Service) UPDATE_FAILED: tasks did not become healthy".into()
                            }),
                            unchanged: false,
                        }
                    })
                    .collect();
                changes.push(Change::PutRun(Run {
                    id: RunId(next()),
                    stack_id: stack.id,
                    stage_id: stage.id,
                    release_id: release.id,
                    status: if failed {
                        RunStatus::Failed
                    } else {
                        RunStatus::Succeeded
                    },
                    trigger: if rollback {
                        RunTrigger::Redeploy {
                            decision: Decision {
                                by: "Grace".into(),
                                at: run_at,
                                comment: "Back to the previous release".into(),
                                via: DecisionSource::Dashboard,
                            },
                        }
                    } else {
                        RunTrigger::Flow
                    },
                    parts,
                    created_at: run_at,
                    finished_at: Some(at),
                    image: release.artifact.as_ref().map(|a| a.image.clone()),
                    build_access: Some(BuildAccess::BuildRole),
                    followed_from: None,
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
            // Deployed stages know their service, as after a real deploy.
            changes.push(Change::PutService {
                stage_id: stage.id,
                service: StageService {
                    url: Some(format!("http://{}-{name}.example.com", stack.name)),
                    deployed_image: releases
                        .get(deployed)
                        .and_then(|r| r.artifact.as_ref())
                        .map(|a| a.image.clone()),
                    url_read: true,
                },
            });
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
                        expires_at: None,
                    }));
                }
            }
        }
        store.apply(changes).await.unwrap();
    }
    stages
}
