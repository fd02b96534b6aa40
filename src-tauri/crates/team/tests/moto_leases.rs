//! R22's stage lease against moto's S3 over HTTP (with the test command's
//! stand-in: conditional writes on one key never overlap, an overlapping one
//! gets AWS's 409): desktops racing for one stage never both hold it, and a
//! holder that lost its lease is refused.

mod support;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stageline_engine::team::{
    fence_admits, may_start_effect, Lease, LEASE_SAFETY_MARGIN, LEASE_TTL,
};
use stageline_team::{LeaseAnswer, StageLeases};
use support::*;

/// One desktop's effect, as the stage saw it: at which moment of the shared
/// clock, by whom, under which fencing number.
#[derive(Debug, Clone, Copy)]
struct Effect {
    at: i64,
    fencing: u64,
    desktop: usize,
}

/// One desktop of the race. Without the lease it asks for it every step; with
/// it, it mostly deploys (starts effects on the lease it has, unrenewed),
/// renews now and then, sometimes gives it up, and sometimes sleeps through
/// many steps (a laptop closed mid-deploy).
async fn desktop(
    index: usize,
    leases: StageLeases,
    clock: Arc<AtomicI64>,
    effects: Arc<Mutex<Vec<Effect>>>,
    mut random: Random,
    steps: usize,
) {
    let me = format!("desk-{index}");
    let mut held: Option<Lease> = None;
    let mut asleep_for = 0;
    for _ in 0..steps {
        // The shared clock moves on by up to 1 s a step: leases expire.
        let now = clock.fetch_add(random.below(1_000) as i64, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(random.below(3))).await;
        if asleep_for > 0 {
            asleep_for -= 1;
            continue;
        }
        let renew = match (&held, random.below(10)) {
            (Some(_), 0) => {
                asleep_for = random.below(60);
                continue;
            }
            (Some(lease), 1) => {
                leases.release("stages/prod", lease.fencing).await.unwrap();
                held = None;
                continue;
            }
            (Some(_), 2) | (None, _) => true,
            (Some(_), _) => false,
        };
        if renew {
            held = match leases
                .acquire("stages/prod", Some("run"), now)
                .await
                .unwrap()
            {
                LeaseAnswer::Held { lease, .. } => Some(lease),
                LeaseAnswer::HeldElsewhere { .. } | LeaseAnswer::Lost => None,
            };
        }
        if let Some(lease) = &held {
            let at = clock.load(Ordering::SeqCst);
            if may_start_effect(lease, &me, lease.fencing, at, LEASE_SAFETY_MARGIN) {
                effects.lock().unwrap().push(Effect {
                    at,
                    fencing: lease.fencing,
                    desktop: index,
                });
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn desktops_racing_for_a_stage_never_both_hold_it() {
    let prefix = team_prefix("race").await;
    let mut handovers = 0;
    for seed in 0..4u64 {
        let stage_prefix = stageline_team::TeamPrefix::new(
            s3_client().await,
            prefix.bucket(),
            format!("stacks/race-{seed}"),
        );
        let clock = Arc::new(AtomicI64::new(1_000_000));
        let effects = Arc::new(Mutex::new(Vec::new()));
        let mut seeds = Random::new(seed);
        let mut tasks = Vec::new();
        for index in 0..5 {
            let own_prefix = stageline_team::TeamPrefix::new(
                s3_client().await,
                stage_prefix.bucket(),
                format!("stacks/race-{seed}"),
            );
            let leases = StageLeases::new(own_prefix, format!("desk-{index}"));
            tasks.push(tokio::spawn(desktop(
                index,
                leases,
                clock.clone(),
                effects.clone(),
                Random::new(seeds.next()),
                150,
            )));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let mut effects = effects.lock().unwrap().clone();
        assert!(
            effects.len() > 10,
            "seed {seed}: the race ran ({} effects)",
            effects.len()
        );
        effects.sort_by_key(|e| (e.at, e.fencing));
        // In the shared clock's order, fencing numbers never go back, and each
        // belongs to one desktop only: no two holders at once.
        for pair in effects.windows(2) {
            assert!(
                pair[0].fencing <= pair[1].fencing,
                "seed {seed}: {:?} after {:?}",
                pair[1],
                pair[0]
            );
            if pair[0].fencing == pair[1].fencing {
                assert_eq!(
                    pair[0].desktop, pair[1].desktop,
                    "seed {seed}: one fencing number, two desktops"
                );
            }
        }
        let fencings: std::collections::BTreeSet<u64> = effects.iter().map(|e| e.fencing).collect();
        eprintln!(
            "seed {seed}: {} effects under fencing numbers {fencings:?}",
            effects.len()
        );
        handovers += fencings.len() - 1;
    }
    assert!(
        handovers >= 6,
        "the lease changed hands ({handovers} times)"
    );
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_its_old_holder_is_refused() {
    let prefix = team_prefix("takeover").await;
    let laptop = StageLeases::new(prefix.clone(), "laptop");
    let desktop = StageLeases::new(seen_by_another_desktop(&prefix).await, "desktop");

    let LeaseAnswer::Held {
        lease: first,
        taken_over: None,
    } = laptop
        .acquire("stages/prod", Some("run-1"), 0)
        .await
        .unwrap()
    else {
        panic!("the laptop takes a lease nobody held");
    };
    assert_eq!(first.fencing, 1);
    // While the laptop's lease runs, the desktop waits.
    assert_eq!(
        desktop
            .acquire("stages/prod", None, LEASE_TTL)
            .await
            .unwrap(),
        LeaseAnswer::HeldElsewhere {
            holder: "laptop".into(),
            until: LEASE_TTL
        }
    );

    // The laptop sleeps past its lease: the desktop takes it over.
    let LeaseAnswer::Held {
        lease: second,
        taken_over,
    } = desktop
        .acquire("stages/prod", Some("run-1"), LEASE_TTL + 1)
        .await
        .unwrap()
    else {
        panic!("the desktop takes over an expired lease");
    };
    let taken_over = taken_over.expect("it replaced the laptop's lease");
    assert_eq!(second.fencing, 2);
    assert_eq!(
        (taken_over.holder.as_str(), taken_over.run_id.as_deref()),
        ("laptop", Some("run-1"))
    );

    // The laptop wakes: its renewal fails, its old lease starts nothing, and
    // a change set it made under fencing 1 is refused by a stack fenced at 2.
    assert!(matches!(
        laptop
            .acquire("stages/prod", Some("run-1"), LEASE_TTL + 2)
            .await
            .unwrap(),
        LeaseAnswer::HeldElsewhere { .. }
    ));
    assert!(!may_start_effect(
        &first,
        "laptop",
        1,
        LEASE_TTL + 2,
        LEASE_SAFETY_MARGIN
    ));
    assert!(!fence_admits(first.fencing, Some(second.fencing)));
    assert!(
        !laptop.release("stages/prod", first.fencing).await.unwrap(),
        "it cannot free what it lost"
    );
    assert_eq!(
        laptop.current("stages/prod").await.unwrap().unwrap().holder,
        "desktop"
    );
}

#[tokio::test]
async fn a_lease_written_between_read_and_write_is_lost_not_overwritten() {
    let prefix = team_prefix("lost").await;
    let objects = seen_by_another_desktop(&prefix).await;
    let laptop = StageLeases::new(prefix.clone(), "laptop");
    laptop.acquire("stages/prod", None, 0).await.unwrap();
    let (lease, etag) = objects
        .read_json::<Lease>("stages/prod/lease.json")
        .await
        .unwrap()
        .unwrap();
    // The laptop renews; a swap over the version read before is refused.
    laptop.acquire("stages/prod", None, 10).await.unwrap();
    let stale = Lease {
        holder: "desktop".into(),
        fencing: lease.fencing + 1,
        ..lease
    };
    let written = objects
        .swap(
            "stages/prod/lease.json",
            &etag,
            &serde_json::to_vec(&stale).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(written, stageline_team::Written::Refused);
    assert_eq!(
        laptop.current("stages/prod").await.unwrap().unwrap().holder,
        "laptop"
    );
    // A create over an existing lease is refused too.
    let created = objects
        .create("stages/prod/lease.json", b"{}")
        .await
        .unwrap();
    assert_eq!(created, stageline_team::Written::Refused);
}
