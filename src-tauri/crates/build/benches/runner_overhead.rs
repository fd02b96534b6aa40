//! The runner's overhead against bash alone: a buildspec of 20 trivial
//! commands run through `BuildspecRunner`, against the same 20 commands as
//! one `bash -c` script. Prints the medians of 20 runs each way.
//!
//! `cargo bench -p stageline-build --bench runner_overhead`

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stageline_build::BuildspecRunner;
use stageline_engine::domain::PartKind;
use stageline_engine::ports::{BuildJob, Builder, LogSink};

const COMMANDS: usize = 20;
const RUNS: usize = 20;
const WARM_UP: usize = 2;

/// Counts lines, so the sink costs (almost) nothing.
struct CountingSink(AtomicUsize);

impl LogSink for CountingSink {
    fn line(&self, _text: &str) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn main() {
    let commands: Vec<String> = (1..=COMMANDS).map(|n| format!("echo step {n}")).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut yaml = String::from("version: 0.2\nphases:\n  build:\n    commands:\n");
    for command in &commands {
        yaml.push_str(&format!("      - {command}\n"));
    }
    std::fs::write(dir.path().join("build.yml"), yaml).expect("build.yml");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let runner = BuildspecRunner::default();
    let sink = Arc::new(CountingSink(AtomicUsize::new(0)));
    let through_runner = measure(|| {
        let job = BuildJob {
            workdir: dir.path().to_path_buf(),
            part: PartKind::Build,
            env: Vec::new(),
            injected: Vec::new(),
            sandboxed: true,
        };
        runtime
            .block_on(runner.run(job, sink.clone()))
            .expect("the buildspec runs");
    });

    let script = commands.join("\n");
    let direct = measure(|| {
        let output = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("bash runs");
        assert!(output.status.success());
    });

    let runner_median = median(&through_runner);
    let direct_median = median(&direct);
    let overhead = runner_median.saturating_sub(direct_median);
    println!("runner_overhead: {COMMANDS} trivial commands (`echo step N`), median of {RUNS} runs each way");
    println!(
        "  through BuildspecRunner: median {:>8.2} ms   (min {:.2}, max {:.2})",
        ms(runner_median),
        ms(*through_runner.iter().min().unwrap()),
        ms(*through_runner.iter().max().unwrap())
    );
    println!(
        "  bash -c, same commands:  median {:>8.2} ms   (min {:.2}, max {:.2})",
        ms(direct_median),
        ms(*direct.iter().min().unwrap()),
        ms(*direct.iter().max().unwrap())
    );
    println!(
        "  overhead: {:.2} ms per part, {:.2} ms per command",
        ms(overhead),
        ms(overhead) / COMMANDS as f64
    );
}

fn measure(mut run: impl FnMut()) -> Vec<Duration> {
    for _ in 0..WARM_UP {
        run();
    }
    (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect()
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 0 {
        (sorted[middle - 1] + sorted[middle]) / 2
    } else {
        sorted[middle]
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
