//! Speed figures of the deployer (printed, never asserted):
//! - rendering a stage's template;
//! - a deploy that ends as "no changes" (AWS's empty change set, answered by
//!   the fault proxy in front of moto): the target is ≤ 2 s;
//! - a first deploy (creating the stack) against moto.
//!
//! Run: `cargo bench -p stageline-aws --bench deploy_speed` (starts moto
//! through .ci/moto.sh unless STAGELINE_MOTO_URL is set).

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use stageline_engine::domain::{Database, Routing};
use stageline_engine::ports::{DeployOutcome, Deployer};
use support::fault_proxy::{cfn_response, FaultProxy, Reply};
use support::*;

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what}: n={} median={:?} p99={:?} max={:?}",
        samples.len(),
        at(0.5),
        at(0.99),
        samples[samples.len() - 1]
    );
}

fn main() {
    let stack = unique_stack("bench");
    let mut settings = settings("dev", "us-east-1");
    settings.routing = Routing::ApiGateway;
    settings.caching = true;
    settings.database = Database::NewPostgres;
    settings.runtime_env = vec![plain_var("MODE", "fast"), secret_var("TOKEN")];
    let stage = stage(&stack, settings);
    let samples = (0..2000)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(stageline_aws::template_text(&stack, &stage));
            started.elapsed()
        })
        .collect();
    report(
        "template_text (API Gateway + cache + new Postgres)",
        samples,
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(deploys());
}

async fn deploys() {
    let url = moto_url();
    let deployer = deployer();
    let direct = account(&url);

    let mut creates = Vec::new();
    let mut created = Vec::new();
    for _ in 0..5 {
        let stack = unique_stack("bench-create");
        let stage = stage(&stack, settings("dev", "us-east-1"));
        let release = release(&stack, 1, &sha("be"));
        let started = Instant::now();
        let outcome = deployer
            .deploy(
                job(&direct, &stack, &stage, &release, &[]),
                Arc::new(KeptLog::default()),
            )
            .await
            .unwrap();
        creates.push(started.elapsed());
        assert_eq!(outcome, DeployOutcome::Deployed);
        created.push((stack, stage, release));
    }
    report("first deploy against moto (create)", creates);

    let proxy = FaultProxy::start(&url, |request| {
        if request.action() == "DescribeChangeSet" {
            let result = "<ChangeSetName>x</ChangeSetName><Status>FAILED</Status>\
                <StatusReason>The submitted information didn't contain changes. Submit different information to create a change set.</StatusReason>";
            return Reply::Respond { status: 200, body: cfn_response("DescribeChangeSet", result) };
        }
        Reply::Forward
    })
    .await;
    let through_proxy = account(&proxy.url);
    let (stack, stage, release) = &created[0];
    let mut no_changes = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        let outcome = deployer
            .deploy(
                job(&through_proxy, stack, stage, release, &[]),
                Arc::new(KeptLog::default()),
            )
            .await
            .unwrap();
        no_changes.push(started.elapsed());
        assert_eq!(outcome, DeployOutcome::NoChanges);
    }
    report(
        "no-change deploy (empty change set, target <= 2 s)",
        no_changes,
    );
}
