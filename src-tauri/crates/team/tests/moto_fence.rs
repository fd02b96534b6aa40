//! R22 against moto's S3: the fence a desktop's turn at a part comes with.
//! It holds while the lease is renewed; once renewal stops (the app quit, the
//! laptop slept) it stops holding before the lease expires, and the desktop
//! that takes the part over gets a higher fencing number.

use std::sync::Arc;
use std::time::Duration;

use stageline_engine::domain::PartKind;
use stageline_engine::ids::StackId;
use stageline_engine::ports::DiscardedLog;
use stageline_engine::team::{LeaseTimes, PartCoordinator, SharedPart, Turn};
use stageline_team::testing::{seen_by_another_desktop, team_prefix};
use stageline_team::TeamCoordinator;

const STACK: StackId = StackId(7);
const TIMES: LeaseTimes = LeaseTimes {
    ttl: 1_500,
    renew_every: 300,
    safety_margin: 500,
};

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn prod_deploy() -> SharedPart {
    SharedPart {
        stack_id: STACK,
        lease: "stages/prod".into(),
        run_key: "c1".into(),
        kind: PartKind::Deploy,
    }
}

async fn desktop(name: &str, prefix: stageline_team::TeamPrefix) -> TeamCoordinator {
    let coordinator = TeamCoordinator::new(
        name,
        TIMES,
        Duration::from_millis(100),
        Arc::new(wall_clock_ms),
    );
    coordinator.share(STACK, prefix);
    coordinator
}

async fn my_turn(coordinator: &TeamCoordinator) -> (bool, stageline_engine::team::Fence) {
    match coordinator
        .turn(prod_deploy(), Arc::new(DiscardedLog), Arc::new(|| {}))
        .await
        .unwrap()
    {
        Turn::Mine { taken_over, fence } => (taken_over, fence.expect("a team part is fenced")),
        Turn::Theirs(result) => panic!("expected this desktop's turn, got {result:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turns_fence_holds_while_renewed_and_a_taker_gets_a_higher_number() {
    let prefix = team_prefix("fence").await;
    let laptop = desktop("laptop", prefix.clone()).await;
    let desk = desktop("desk", seen_by_another_desktop(&prefix).await).await;

    let (_, fence) = my_turn(&laptop).await;
    assert!((fence.held)(), "held when taken");
    tokio::time::sleep(Duration::from_millis(2 * TIMES.ttl as u64)).await;
    assert!((fence.held)(), "renewals keep it held past one TTL");

    laptop.stop_renewing(); // the laptop sleeps mid-deploy
    tokio::time::sleep(Duration::from_millis(
        (TIMES.ttl - TIMES.safety_margin) as u64 + 100,
    ))
    .await;
    assert!(
        !(fence.held)(),
        "unrenewed, it stops holding before the lease expires"
    );

    let (taken_over, taker) = my_turn(&desk).await;
    assert!(taken_over, "the desk knows the laptop stopped mid-part");
    assert!(
        taker.number > fence.number,
        "{} > {}",
        taker.number,
        fence.number
    );
    desk.stop_renewing();
}
