//! How long a stack's Insights take at a large history (issue: delivery
//! figures): 50 stacks × 8 stages × 10,000 runs per stage (4 million runs),
//! then each stack's figures over 7, 30 and 90 days. Target: under 50 ms per
//! stack. Then what the engine reads from it at start (`Store::load`), which
//! must not grow with the history. The store is seeded once into the target
//! folder and reused. Run:
//!     cargo bench -p stageline-store --bench insights
//! `INSIGHTS_BENCH_RUNS=1000` seeds a smaller store (its own file).

#[path = "../examples/seed/seeding.rs"]
mod seeding;

use std::time::Instant;

use sqlx::Row;
use stageline_engine::ports::Store;
use stageline_engine::StackId;
use stageline_store::SqliteStore;

const STACKS: usize = 50;
const STAGES: usize = 8;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let runs: usize = std::env::var("INSIGHTS_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("insights-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{STACKS}x{STAGES}x{runs}.db"));
    // Seeded again when the schema changed since (the migrations' text differs).
    let schema = schema_fingerprint();
    let done = path.with_extension("seeded");
    if std::fs::read_to_string(&done).ok().as_deref() != Some(schema.as_str()) {
        for stale in ["db", "db-wal", "db-shm"] {
            let _ = std::fs::remove_file(path.with_extension(stale));
        }
        let store = SqliteStore::open(&path).await.unwrap();
        let started = Instant::now();
        seeding::seed(&store, STACKS, STAGES, runs).await;
        store.close().await;
        std::fs::write(&done, &schema).unwrap();
        println!(
            "seeded {STACKS} stacks × {STAGES} stages × {runs} runs in {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    let size = std::fs::metadata(&path).unwrap().len();
    println!("store: {} MB at {}", size / 1_000_000, path.display());

    // The stack ids and the history's end (the seed's "now"), read beside the store.
    let url = format!("sqlite://{}?mode=ro", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let stacks: Vec<StackId> = sqlx::query("SELECT id FROM stacks ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|row| StackId(row.get(0)))
        .collect();
    let now: i64 = sqlx::query("SELECT MAX(finished_at) FROM runs")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    pool.close().await;

    let store = SqliteStore::open_read_only(&path).await.unwrap();
    // One untimed pass warms the page cache, as an app that has been open a while has.
    for stack in &stacks {
        store.insights(*stack, 90, now).await.unwrap();
    }
    println!("per stack, over {} stacks:", stacks.len());
    for days in [7, 30, 90] {
        let mut took: Vec<f64> = Vec::new();
        let mut runs_seen = 0;
        for stack in &stacks {
            let started = Instant::now();
            let figures = store.insights(*stack, days, now).await.unwrap();
            took.push(started.elapsed().as_secs_f64() * 1000.0);
            runs_seen += figures
                .stages
                .iter()
                .map(|s| s.deployments + s.failures)
                .sum::<u32>();
        }
        took.sort_by(|a, b| a.total_cmp(b));
        println!(
            "  {days:>2} days: median {:.1} ms, max {:.1} ms ({} runs per stack in the window)",
            took[took.len() / 2],
            took[took.len() - 1],
            runs_seen / stacks.len() as u32
        );
    }

    // What the engine reads at start: it must not grow with the history.
    let mut took: Vec<f64> = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let snapshot = Store::load(&store).await.unwrap();
        took.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(snapshot.stages.len(), STACKS * STAGES);
    }
    took.sort_by(|a, b| a.total_cmp(b));
    println!(
        "the engine's start (Store::load, {} latest runs): median {:.1} ms, max {:.1} ms",
        STACKS * STAGES,
        took[2],
        took[4]
    );
}

/// A fingerprint of the migrations' text.
fn schema_fingerprint() -> String {
    use std::hash::{Hash, Hasher};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in files {
        std::fs::read(file).unwrap().hash(&mut hasher);
    }
    format!("{:016x}", hasher.finish())
}
