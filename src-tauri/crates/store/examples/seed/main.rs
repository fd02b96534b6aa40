//! Seeds an app data folder with many stacks and a long history, to see and
//! measure Stageline at scale (dashboard views, Insights, start time, idle cost):
//!
//! ```sh
//! cargo run --release -p stageline-store --example seed -- <data dir> [stacks] [stages] [runs per stage]
//! ```
//!
//! Defaults: 50 stacks × 8 stages × 1,000 runs per stage. Writes through the
//! store itself (one transaction per stack), into `<data dir>/stageline.db`;
//! the folder must not hold a database yet. Accounts are named AWS profiles,
//! so no keychain is needed; nothing is deployed anywhere.

mod seeding;

use stageline_store::SqliteStore;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: seed <data dir> [stacks] [stages] [runs per stage]");
        std::process::exit(2);
    };
    let number =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (stacks, stages, runs) = (number(1, 50), number(2, 8), number(3, 1000));
    let path = std::path::Path::new(dir).join("stageline.db");
    if path.exists() {
        eprintln!("{} exists already: seed an empty folder", path.display());
        std::process::exit(2);
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let started = std::time::Instant::now();
    let stages = seeding::seed(&store, stacks, stages, runs).await;
    println!(
        "seeded {stacks} stacks × {stages} stages × {runs} runs into {} in {:.1} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
}
