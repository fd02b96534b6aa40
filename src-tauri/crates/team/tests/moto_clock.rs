//! R22 against moto's S3: a desktop whose clock is more than ten seconds off
//! S3's (read from the `Date` of S3's answers) takes no lease and says why
//! in the part's log; a teammate with a right clock runs the part, and the
//! first desktop takes that result as is, with the teammate's log of it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use stageline_engine::domain::PartKind;
use stageline_engine::ids::StackId;
use stageline_engine::ports::LogSink;
use stageline_engine::team::{LeaseTimes, PartCoordinator, SharedPart, SharedResult, Turn};
use stageline_team::testing::{seen_by_another_desktop, team_prefix};
use stageline_team::TeamCoordinator;

const STACK: StackId = StackId(8);

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[derive(Default)]
struct Lines(Mutex<Vec<String>>);

impl LogSink for Lines {
    fn line(&self, text: &str) {
        self.0.lock().unwrap().push(text.to_string());
    }
}

fn dev_build() -> SharedPart {
    SharedPart {
        stack_id: STACK,
        lease: "stages/dev".into(),
        run_key: "c1".into(),
        kind: PartKind::Build,
    }
}

fn desktop(name: &str, ahead_ms: i64, prefix: stageline_team::TeamPrefix) -> TeamCoordinator {
    let coordinator = TeamCoordinator::new(
        name,
        LeaseTimes::default(),
        Duration::from_millis(100),
        Arc::new(move || wall_clock_ms() + ahead_ms),
    );
    coordinator.share(STACK, prefix);
    coordinator
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_with_a_wrong_clock_runs_nothing_and_takes_a_teammates_result() {
    let prefix = team_prefix("clock").await;
    let skewed = desktop("skewed", 42_000, prefix.clone());
    let right = desktop("right", 0, seen_by_another_desktop(&prefix).await);

    let log = Arc::new(Lines::default());
    let notices = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let waiting = tokio::spawn({
        let (skewed, log, notices) = (skewed.clone(), log.clone(), notices.clone());
        let notice = Arc::new(move || {
            notices.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        async move { skewed.turn(dev_build(), log, notice).await }
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!waiting.is_finished(), "no lease for a clock 42 s ahead");
    let lines = log.0.lock().unwrap().clone();
    assert_eq!(lines.len(), 1, "said once: {lines:?}");
    assert!(lines[0].contains("42 s ahead of AWS's"), "{lines:?}");
    assert_eq!(
        notices.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the engine is told once that the part waits"
    );
    assert!(skewed.clock_refusal().is_some());
    assert_eq!(right.clock_refusal(), None, "within a second of S3's");

    let Turn::Mine { .. } = right
        .turn(dev_build(), Arc::new(Lines::default()), Arc::new(|| {}))
        .await
        .unwrap()
    else {
        panic!("the desktop with a right clock runs the part");
    };
    let built = SharedResult::Built {
        image: "shop:c1".into(),
    };
    let their_log = "Step 1/3 : FROM node:20\nbuilt shop:c1\n".to_string();
    right
        .finished(dev_build(), built.clone(), Some(their_log))
        .await
        .unwrap();
    let turn = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the skewed desktop sees the result")
        .unwrap()
        .unwrap();
    assert_eq!(turn, Turn::Theirs(built));
    let lines = log.0.lock().unwrap().clone();
    assert!(
        lines.ends_with(&["Step 1/3 : FROM node:20".into(), "built shop:c1".into()]),
        "the teammate's log is in this desktop's log of the part: {lines:?}"
    );
}
