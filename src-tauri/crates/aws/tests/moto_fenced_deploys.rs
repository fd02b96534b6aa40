//! R22 against moto over HTTP: a team stack's deploy runs under its stage's
//! lease. Its change set tags the stack with the lease's fencing number; a
//! desktop whose lease ran out, or whose number is lower than the one the
//! stack was last changed under (it slept while a teammate took over), does
//! not execute its change set, and the stack keeps what the later holder
//! deployed.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use stageline_engine::ports::{DeployJob, DeployOutcome, Deployer};
use stageline_engine::team::{Fence, FENCING_TAG};
use support::*;

fn fenced(mut job: DeployJob, number: u64, held: Arc<AtomicBool>) -> DeployJob {
    job.fence = Some(Fence {
        number,
        held: Arc::new(move || held.load(Ordering::SeqCst)),
    });
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_lease_holder_never_executes_its_change_set() {
    let url = moto_url();
    let deployer = deployer();
    let account = account(&url);
    let stack = unique_stack("fenced");
    let stage = stage(&stack, settings("prod", "us-east-1"));
    let name = format!("{}-prod", stack.name);
    let log = Arc::new(KeptLog::default());
    let held = Arc::new(AtomicBool::new(true));
    let (first, second, third) = (
        release(&stack, 1, &sha("f1")),
        release(&stack, 2, &sha("f2")),
        release(&stack, 3, &sha("f3")),
    );

    // The teammate who took the lease over (fencing 4) deploys release 2.
    let job = |release| job(&account, &stack, &stage, release, &[]);
    deployer
        .deploy(fenced(job(&first), 3, held.clone()), log.clone())
        .await
        .unwrap();
    let outcome = deployer
        .deploy(fenced(job(&second), 4, held.clone()), log.clone())
        .await
        .unwrap();
    assert_eq!(outcome, DeployOutcome::Deployed);
    assert_eq!(
        stack_tag(&url, "us-east-1", &name, FENCING_TAG)
            .await
            .as_deref(),
        Some("4")
    );

    // The desktop that held fencing 3 wakes and deploys release 3: refused.
    let stale = deployer
        .deploy(fenced(job(&third), 3, held.clone()), log.clone())
        .await
        .unwrap_err();
    assert!(
        stale
            .message
            .contains("changed this stage's stack under a later lease (4 > 3)"),
        "{}",
        stale.message
    );
    let image = stack_parameter(&url, "us-east-1", &name, "ImageUri")
        .await
        .unwrap();
    assert_eq!(
        image,
        image_of(&stack, &second),
        "the later holder's release stays"
    );

    // A holder whose lease ran out mid-deploy does not execute either.
    held.store(false, Ordering::SeqCst);
    let expired = deployer
        .deploy(fenced(job(&third), 5, held.clone()), log.clone())
        .await
        .unwrap_err();
    assert!(
        expired.message.contains("lease on the stage ran out"),
        "{}",
        expired.message
    );
    assert_eq!(
        stack_parameter(&url, "us-east-1", &name, "ImageUri")
            .await
            .unwrap(),
        image_of(&stack, &second)
    );
    assert_eq!(
        stack_status(&url, "us-east-1", &name).await.as_deref(),
        Some("UPDATE_COMPLETE")
    );
}
