//! The parser takes anything (issue 15): generated buildspecs — random
//! bytes, mutated YAML, huge files, deep nesting, alias bombs, odd encodings,
//! commands with NUL bytes — each end in a clear error or a buildspec, never
//! a panic or a hang; a sample of them also runs through the real runner (in
//! the sandbox), which ends each in a result.
//!
//! `cargo test -p stageline-build --test generated_inputs` tries a few
//! thousand inputs in seconds. For a longer run:
//! `STAGELINE_FUZZ_INPUTS=200000 cargo test --release -p stageline-build --test generated_inputs`
//! (`STAGELINE_FUZZ_SEED=<n>` repeats a run; a failure prints its seed).

mod support;

use std::sync::mpsc;
use std::time::Duration;

use stageline_build::{parse_buildspec, BuildspecError, BuildspecRunner};
use stageline_engine::domain::PartKind;
use support::{job, run_job};

/// A guard against a hang, not a speed figure: no input may take this long.
const HANG: Duration = Duration::from_secs(20);

/// xorshift64*: small, seeded, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const SEEDS: &[&str] = &[
    "version: 0.2\nphases:\n  build:\n    commands:\n      - echo hello\n",
    "version: 0.2\nenv:\n  variables:\n    A: \"1\"\n    B: two\nphases:\n  install:\n    on-failure: CONTINUE\n    commands:\n      - echo $A\n  build:\n    commands:\n      - |\n        if true; then\n          echo $B\n        fi\n    finally:\n      - echo done\n",
    "version: \"0.2\"\nphases:\n  pre_build:\n    commands: [echo a, 'echo b']\n  post_build:\n    commands:\n      - 'echo \"c: d\"'\nartifacts:\n  files: ['**/*']\n",
    "version: 0.2\nphases:\n  build:\n    commands: &a [echo x]\n  post_build:\n    commands: *a\n",
    "version: 0.2\nphases:\n  build:\n    <<: {commands: [echo merged]}\n",
];

/// Pieces YAML gives meaning to, and some it does not expect.
const ALPHABET: &[&str] = &[
    ":",
    "-",
    " ",
    "  ",
    "\n",
    "\t",
    "[",
    "]",
    "{",
    "}",
    "|",
    ">",
    "&a",
    "*a",
    "!!str",
    "!tag",
    "%YAML 1.2",
    "#",
    "'",
    "\"",
    "\\",
    "\\0",
    "\\x00",
    "\u{0}",
    "?",
    ",",
    "---",
    "...",
    "<<:",
    "0.2",
    "phases",
    "commands",
    "version",
    "env",
    "variables",
    "é",
    "\u{feff}",
    "\u{202e}",
    "\u{ffff}",
    "\r",
    "\r\n",
    "~",
    "null",
    "1e999",
    "0x",
    "true",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..=rng.below(8) {
        let at = rng.below(chars.len() + 1);
        match rng.below(6) {
            0 if !chars.is_empty() => {
                let end = (at + rng.below(12)).min(chars.len());
                chars.drain(at.min(end)..end);
            }
            1 | 2 => {
                let piece: Vec<char> = rng.pick(ALPHABET).chars().collect();
                chars.splice(at..at, piece);
            }
            3 if !chars.is_empty() => {
                // A copy of a stretch elsewhere (repeated lines, doubled keys).
                let start = rng.below(chars.len());
                let end = (start + rng.below(40)).min(chars.len());
                let copy: Vec<char> = chars[start..end].to_vec();
                chars.splice(at..at, copy);
            }
            4 if at < chars.len() => {
                chars[at] = char::from_u32(rng.below(0x3000) as u32).unwrap_or('?');
            }
            _ => chars.insert(at, ' '),
        }
    }
    chars.into_iter().collect()
}

fn random_text(rng: &mut Rng) -> String {
    let len = rng.below(400);
    (0..len)
        .map(|_| match rng.below(4) {
            0 => char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('x'),
            _ => (rng.below(95) as u8 + 32) as char,
        })
        .collect()
}

/// Inputs no mutation reaches by chance: sizes, depths and tricks.
fn special_inputs() -> Vec<(String, String)> {
    let mut inputs = Vec::new();
    let depth = 100_000;
    inputs.push((
        "deep flow lists".into(),
        format!(
            "version: 0.2\nphases: {}{}",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
    ));
    inputs.push((
        "deep flow maps".into(),
        format!(
            "version: 0.2\nphases: {}{}",
            "{a: ".repeat(depth),
            "}".repeat(depth)
        ),
    ));
    let mut nested = String::from("version: 0.2\nphases:\n");
    for level in 0..5_000 {
        nested.push_str(&" ".repeat(level + 2));
        nested.push_str("a:\n");
    }
    inputs.push(("deep block maps".into(), nested));
    let mut bomb = String::from("version: 0.2\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..12 {
        let prev = format!("*a{}", level - 1);
        bomb.push_str(&format!(
            "a{level}: &a{level} [{}]\n",
            vec![prev; 10].join(", ")
        ));
    }
    bomb.push_str("phases:\n  build:\n    commands: [echo]\n");
    inputs.push(("alias bomb".into(), bomb));
    let mut many = String::from("version: 0.2\nphases:\n  build:\n    commands:\n");
    for n in 0..100_000 {
        many.push_str(&format!("      - echo line {n}\n"));
    }
    inputs.push(("100,000 commands".into(), many));
    inputs.push((
        "a 4 MB command".into(),
        format!(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo {}\n",
            "x".repeat(4 << 20)
        ),
    ));
    inputs.push((
        "a NUL escape in a command".into(),
        "version: 0.2\nphases:\n  build:\n    commands:\n      - \"echo a\\0b\"\n".into(),
    ));
    inputs.push((
        "a raw NUL byte".into(),
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo a\u{0}b\n".into(),
    ));
    inputs.push((
        "a byte-order mark".into(),
        "\u{feff}version: 0.2\nphases:\n  build:\n    commands: [echo]\n".into(),
    ));
    inputs.push(("only a document end".into(), "...\n".into()));
    inputs.push((
        "two documents".into(),
        "version: 0.2\n---\nversion: 0.2\n".into(),
    ));
    inputs.push((
        "a tagged version".into(),
        "version: !!binary MC4y\nphases: {build: {commands: [a]}}\n".into(),
    ));
    inputs.push((
        "a key that is a list".into(),
        "[a, b]: c\nversion: 0.2\n".into(),
    ));
    inputs
}

/// Parses `text` on its own thread; the error when it panicked or hung.
fn parse_guarded(text: String) -> Result<Result<usize, BuildspecError>, String> {
    let (sender, receiver) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let outcome =
                std::panic::catch_unwind(|| parse_buildspec(&text).map(|spec| spec.phases.len()));
            let _ = sender.send(outcome);
        })
        .unwrap();
    match receiver.recv_timeout(HANG) {
        Ok(Ok(result)) => {
            worker.join().unwrap();
            Ok(result)
        }
        Ok(Err(_)) => Err("panicked".into()),
        Err(_) => Err(format!("did not end within {HANG:?}")),
    }
}

fn inputs_wanted() -> usize {
    std::env::var("STAGELINE_FUZZ_INPUTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3_000)
}

fn seed() -> u64 {
    std::env::var("STAGELINE_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0x5eed_1500_0000_0001)
}

fn check(what: &str, text: String, seed: u64) -> Result<usize, BuildspecError> {
    let shown: String = text.chars().take(200).collect();
    match parse_guarded(text) {
        Ok(Ok(phases)) => {
            assert!(
                phases > 0,
                "a buildspec without phases parsed (seed {seed}): {shown:?}"
            );
            Ok(phases)
        }
        Ok(Err(error)) => {
            let message = error.to_string();
            assert!(
                !message.trim().is_empty(),
                "an empty error for {what} (seed {seed})"
            );
            if let BuildspecError::Syntax { line, column, .. } = &error {
                assert!(
                    *line >= 1 && *column >= 1,
                    "{what}: {message} (seed {seed})"
                );
            }
            Err(error)
        }
        Err(failure) => panic!("parsing {what} {failure} (seed {seed}): {shown:?}"),
    }
}

#[test]
fn every_generated_buildspec_ends_in_a_buildspec_or_a_clear_error() {
    let seed = seed();
    let mut rng = Rng(seed);
    let wanted = inputs_wanted();
    let (mut parsed, mut refused) = (0, 0);
    for n in 0..wanted {
        let text = match n % 4 {
            0 => random_text(&mut rng),
            _ => {
                let base = rng.pick(SEEDS).to_string();
                let mut text = mutate(&mut rng, &base);
                if rng.below(5) == 0 {
                    text = mutate(&mut rng, &text);
                }
                text
            }
        };
        match check(&format!("input {n}"), text, seed) {
            Ok(_) => parsed += 1,
            Err(_) => refused += 1,
        }
    }
    println!(
        "{wanted} generated inputs (seed {seed}): {parsed} buildspecs, {refused} clear errors"
    );
    assert!(parsed > 0, "the mutations never kept a buildspec valid");
    assert!(refused > 0);
}

#[test]
fn huge_deep_and_odd_inputs_end_in_a_buildspec_or_a_clear_error() {
    for (what, text) in special_inputs() {
        let outcome = check(&what, text, 0);
        println!(
            "{what}: {}",
            match &outcome {
                Ok(phases) => format!("a buildspec with {phases} phase(s)"),
                Err(error) => error.to_string().chars().take(160).collect(),
            }
        );
        if what == "a byte-order mark" {
            assert!(
                outcome.is_ok(),
                "a file saved with a byte-order mark is read"
            );
        }
        let refused = ["NUL", "deep", "bomb", "MB", "100,000"];
        if refused.iter().any(|word| what.contains(word)) {
            assert!(outcome.is_err(), "{what} was accepted");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_buildspecs_run_to_a_result_in_the_sandbox() {
    let seed = seed();
    let mut rng = Rng(seed ^ 0xb0b);
    let runner = BuildspecRunner::new(Duration::from_secs(10));
    let files: Vec<Vec<u8>> = {
        // The seeds as they are (they run), and mutated (most are refused).
        let mut files: Vec<Vec<u8>> = SEEDS.iter().map(|seed| seed.as_bytes().to_vec()).collect();
        files.extend((0..40).map(|_| {
            let base = *rng.pick(SEEDS);
            mutate(&mut rng, base).into_bytes()
        }));
        // Odd encodings: UTF-16 with its byte-order mark, Latin-1, bytes.
        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain(SEEDS[0].encode_utf16().flat_map(|unit| unit.to_le_bytes()))
            .collect();
        files.push(utf16);
        files.push(b"version: 0.2\nphases:\n  build:\n    commands: [echo caf\xe9]\n".to_vec());
        files.push(b"version: 0.2\nphases:\n  build:\n    commands: [\"echo a\\0b\"]\n".to_vec());
        files.push((0..3000).map(|_| rng.next() as u8).collect());
        files
    };
    let (mut ran, mut refused) = (0, 0);
    for (n, bytes) in files.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("build.yml"), &bytes).unwrap();
        let outcome =
            tokio::time::timeout(HANG, run_job(&runner, job(dir.path(), PartKind::Build)))
                .await
                .unwrap_or_else(|_| panic!("file {n} never ended (seed {seed})"));
        match outcome.0 {
            Ok(()) => ran += 1,
            Err(error) => {
                assert!(n >= SEEDS.len(), "seed {n} did not run: {}", error.message);
                assert!(
                    error.message.starts_with("build.yml"),
                    "file {n}: {} (seed {seed})",
                    error.message
                );
                refused += 1;
            }
        }
    }
    println!("sandboxed runs of generated files: {ran} succeeded, {refused} ended in an error");
    assert!(ran >= SEEDS.len(), "the unmutated buildspecs run");
}

#[tokio::test]
async fn a_file_that_is_not_utf8_or_holds_a_nul_command_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("build.yml"), b"version: 0.2\xff\xfe\n").unwrap();
    let (result, _) = run_job(
        &BuildspecRunner::default(),
        job(dir.path(), PartKind::Build),
    )
    .await;
    assert_eq!(result.unwrap_err().message, "build.yml is not UTF-8 text");

    std::fs::write(
        dir.path().join("build.yml"),
        "version: 0.2\nphases:\n  build:\n    commands:\n      - \"echo a\\0b\"\n",
    )
    .unwrap();
    let (result, _) = run_job(
        &BuildspecRunner::default(),
        job(dir.path(), PartKind::Build),
    )
    .await;
    assert_eq!(
        result.unwrap_err().message,
        "build.yml: `phases.build.commands`, command 1, contains a NUL character"
    );
}
