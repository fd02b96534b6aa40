//! In-memory fakes of every port (feature `fakes`), for the engine's fast
//! flow tests and its benchmark. Never the only test of an adapter.

mod fake_deployer;
mod fake_service;
mod fakes;
mod store;

pub use fake_deployer::FakeDeployer;
pub use fake_service::FakeService;
pub use fakes::*;
pub use store::MemStore;

use std::sync::Arc;
use std::time::Duration;

use crate::domain::{Account, Commit, CredentialSource, Stack};
use crate::flow::FlowState;
use crate::ids::{AccountId, StackId};
use crate::pipeline::{Pipeline, PipelineConfig, Ports};

/// Every fake, kept so a test can look at and steer them.
#[derive(Clone)]
pub struct Fakes {
    /// The image repositories the fake builder pushes to and the fake deployer reads.
    pub registry: Arc<FakeRegistry>,
    pub store: Arc<MemStore>,
    pub source: Arc<FakeSource>,
    pub builder: Arc<FakeBuilder>,
    pub deployer: Arc<FakeDeployer>,
    pub secrets: Arc<MemSecrets>,
    pub logs: Arc<MemLogs>,
    pub clock: Arc<FixedClock>,
    pub events: Arc<RecordingEvents>,
}

impl Default for Fakes {
    fn default() -> Self {
        Fakes::with_registry(FakeRegistry::default())
    }
}

impl Fakes {
    /// Fakes whose builder and deployer share `registry`.
    pub fn with_registry(registry: FakeRegistry) -> Self {
        let registry = Arc::new(registry);
        Fakes {
            store: Arc::new(MemStore::default()),
            source: Arc::new(FakeSource::default()),
            builder: Arc::new(FakeBuilder::with_registry(registry.clone())),
            deployer: Arc::new(FakeDeployer::with_registry(registry.clone())),
            registry,
            secrets: Arc::new(MemSecrets::default()),
            logs: Arc::new(MemLogs::default()),
            clock: Arc::new(FixedClock::default()),
            events: Arc::new(RecordingEvents::default()),
        }
    }

    /// The ports, with `store` in place of the in-memory one if given.
    pub fn ports(&self) -> Ports {
        Ports {
            store: self.store.clone(),
            source: self.source.clone(),
            builder: self.builder.clone(),
            deployer: self.deployer.clone(),
            secrets: self.secrets.clone(),
            logs: self.logs.clone(),
            clock: self.clock.clone(),
            events: self.events.clone(),
            coordinator: Arc::new(crate::team::SoloCoordinator),
        }
    }

    /// A pipeline on these fakes, with checkouts in a temporary folder.
    pub async fn start(&self) -> Pipeline {
        Pipeline::start(self.ports(), test_config())
            .await
            .expect("pipeline starts")
    }
}

/// Checkouts under the system's temporary folder, in a folder of this
/// pipeline's own: tests run side by side in one process with the same fake
/// ids, so a shared folder would let one test's workspace collide with
/// another's ("File exists").
pub fn test_config() -> PipelineConfig {
    static PIPELINES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PIPELINES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("stageline-test-{}-{n}", std::process::id()));
    PipelineConfig {
        workspaces: dir,
        keep_workspaces: false,
        // Tests' health checks and soaks ask again at once.
        verify_poll: std::time::Duration::from_millis(20),
    }
}

/// A keychain account in us-east-1.
pub fn test_account(id: i64) -> Account {
    Account {
        id: AccountId(id),
        name: "Test account".to_string(),
        credentials: CredentialSource::Keychain {
            keychain_ref: crate::keychain_names::account_keys(AccountId(id)),
        },
        default_region: "us-east-1".to_string(),
        endpoint_url: None,
    }
}

/// A stack on `main` of a local repository.
pub fn test_stack(id: i64, name: &str, account: AccountId) -> Stack {
    Stack {
        id: StackId(id),
        name: name.to_string(),
        repository: format!("/repos/{name}"),
        branch: "main".to_string(),
        account_id: account,
        poll_interval_secs: 30,
        created_at: 0,
        deleting: false,
        home_region: "us-east-1".to_string(),
        team: None,
    }
}

/// A commit with a made-up 40-character sha.
pub fn commit(n: u32) -> Commit {
    Commit {
        sha: format!("c{n:0>39}"),
        message: format!("Change number {n}"),
        author: "Ada".to_string(),
        author_email: "ada@example.com".to_string(),
        time: i64::from(n) * 1000,
    }
}

/// Waits (up to 10 s) until `check` holds on the live state; panics with
/// `what` otherwise. A bound for a hung test, not a speed check.
pub async fn wait_until(
    pipeline: &Pipeline,
    what: &str,
    check: impl Fn(&FlowState) -> bool + Send + Sync + Clone + 'static,
) {
    wait_within(pipeline, Duration::from_secs(10), what, check).await;
}

/// `wait_until` with its own bound (a health check's time limit is 10 s at least).
pub async fn wait_within(
    pipeline: &Pipeline,
    limit: Duration,
    what: &str,
    check: impl Fn(&FlowState) -> bool + Send + Sync + Clone + 'static,
) {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        let check = check.clone();
        if pipeline.read(move |s| check(s)).await.unwrap_or(false) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let dashboard = pipeline
        .read(|s| format!("{:#?}", s.dashboard()))
        .await
        .unwrap_or_default();
    panic!("timed out after {limit:?} waiting until {what}; state: {dashboard}");
}

/// A small, fast, seedable generator (SplitMix64): the same seed gives the
/// same sequence on every machine, so a failing random test can be replayed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    #[allow(clippy::should_implement_trait)] // not an iterator: it never ends
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}
