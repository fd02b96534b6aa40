use super::read::{errors, export, find, page};
use super::*;
use std::sync::mpsc;

fn logs() -> (tempfile::TempDir, FileLogs) {
    let dir = tempfile::tempdir().unwrap();
    let logs = FileLogs::new(dir.path().to_path_buf());
    (dir, logs)
}

/// Follows a part; every message arrives on the returned receiver.
fn follow(logs: &FileLogs, run: i64) -> (LogStart, mpsc::Receiver<LogFeed>) {
    let (tx, rx) = mpsc::channel();
    let start = logs
        .follow(RunId(run), PartKind::Build, move |feed| {
            tx.send(feed.clone()).is_ok()
        })
        .unwrap();
    (start, rx)
}

/// Every message until the part's end.
fn until_end(rx: &mpsc::Receiver<LogFeed>) -> (Vec<LogLines>, u64) {
    let mut batches = Vec::new();
    loop {
        match rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the end arrives")
        {
            LogFeed::Lines { batch, .. } => batches.push(batch),
            LogFeed::Ended { lines, .. } => return (batches, lines),
        }
    }
}

fn stored(logs: &FileLogs, run: i64) -> String {
    std::fs::read_to_string(logs.paths(RunId(run), PartKind::Build).0).unwrap()
}

#[test]
fn a_follower_gets_the_count_so_far_then_later_lines_in_order_up_to_the_last() {
    let (_dir, logs) = logs();
    let sink = logs.open(RunId(1), PartKind::Build);
    sink.line("first");
    sink.line("second");
    std::thread::sleep(BATCH_INTERVAL * 4);
    let (start, rx) = follow(&logs, 1);
    assert!(start.live && start.lines <= 2);
    for i in 0..1000 {
        sink.line(&format!("line {i}"));
    }
    drop(sink);
    let (batches, total) = until_end(&rx);
    assert_eq!(total, 1002);
    let mut next = start.lines;
    for batch in &batches {
        assert!(
            batch.first >= next,
            "batches go on after one another, never back"
        );
        assert_eq!(batch.lines.len(), batch.times.len());
        next = batch.first + batch.lines.len() as u64;
    }
    assert_eq!(next, 1002);
    let files = logs.files(RunId(1), PartKind::Build).unwrap();
    assert_eq!(page(&files, 0, 2).unwrap().lines, ["first", "second"]);
}

#[test]
fn lines_go_out_in_bounded_batches_never_one_message_per_line() {
    let (_dir, logs) = logs();
    let sink = logs.open(RunId(1), PartKind::Build);
    let (_, rx) = follow(&logs, 1);
    for i in 0..20_000 {
        sink.line(&format!("line {i} of a verbose build"));
        if i == 100 {
            sink.line("error: one of them failed");
        }
    }
    drop(sink);
    let (batches, total) = until_end(&rx);
    assert_eq!(total, 20_001);
    assert!(
        batches.len() * 20 < 20_000,
        "{} messages for 20,000 lines",
        batches.len()
    );
    let files = logs.files(RunId(1), PartKind::Build).unwrap();
    let mut next = 0;
    for batch in &batches {
        assert!(
            batch.text_bytes() <= BATCH_BYTES,
            "batches are bounded by size"
        );
        assert!(batch.first >= next, "batches never go back");
        let stored = page(&files, batch.first, batch.lines.len() as u64).unwrap();
        assert_eq!(stored.lines, batch.lines, "a batch holds the stored lines");
        next = batch.first + batch.lines.len() as u64;
    }
    assert_eq!(next, 20_001, "the last batch ends with the last line");
    for batch in &batches {
        for mark in &batch.marks {
            let end = batch.first + batch.lines.len() as u64;
            assert!(
                mark.line >= batch.first && mark.line < end,
                "marks are of the batch's lines"
            );
        }
    }
}

#[test]
fn every_message_counts_the_error_lines_so_far_also_those_left_to_the_pages() {
    let (_dir, logs) = logs();
    let sink = logs.open(RunId(1), PartKind::Build);
    let (tx, rx) = mpsc::channel();
    logs.follow(RunId(1), PartKind::Build, move |feed| {
        tx.send(feed.clone()).is_ok()
    })
    .unwrap();
    for i in 0..20_000 {
        sink.line(&format!("line {i} of a verbose build"));
        if i % 1000 == 0 {
            sink.line("error: one of them failed");
        }
    }
    drop(sink);
    let mut last = 0;
    loop {
        match rx.recv_timeout(Duration::from_secs(10)).unwrap() {
            LogFeed::Lines { errors, .. } => {
                assert!(errors >= last, "the count never goes down");
                last = errors;
            }
            LogFeed::Ended { errors, .. } => {
                assert_eq!(errors, 20);
                break;
            }
        }
    }
    let (start, _) = follow(&logs, 1);
    assert_eq!(
        start.errors, 20,
        "a finished log's count comes from its index"
    );
}

#[test]
fn the_streamed_lines_are_the_stored_bytes() {
    let (_dir, logs) = logs();
    let sink = logs.open(RunId(1), PartKind::Build);
    let (_, rx) = follow(&logs, 1);
    let printed = [
        "\u{1b}[32mok\u{1b}[0m colours",
        "  0%\r 50%\r100%",
        "token ***",
        "ünïcødé ✓",
        "",
    ];
    for line in printed {
        sink.line(line);
    }
    drop(sink);
    let (batches, _) = until_end(&rx);
    let streamed: String = batches
        .iter()
        .flat_map(|b| b.lines.iter())
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(streamed, stored(&logs, 1));
    let files = logs.files(RunId(1), PartKind::Build).unwrap();
    assert_eq!(page(&files, 0, 10).unwrap().lines, printed);
}

#[test]
fn a_follower_of_a_finished_part_reads_pages_and_waits_for_nothing() {
    let (_dir, logs) = logs();
    let sink = logs.open(RunId(1), PartKind::Build);
    for i in 0..5000 {
        sink.line(&format!("line {i}"));
    }
    drop(sink);
    let (start, rx) = follow(&logs, 1);
    assert_eq!(
        start,
        LogStart {
            lines: 5000,
            live: false,
            follower: None,
            errors: 0
        }
    );
    assert!(rx.try_recv().is_err());
    let files = logs.files(RunId(1), PartKind::Build).unwrap();
    let middle = page(&files, 2500, 3).unwrap();
    assert_eq!(middle.first, 2500);
    assert_eq!(middle.lines, ["line 2500", "line 2501", "line 2502"]);
    assert!(
        middle.times.iter().all(Option::is_some),
        "each line has its time"
    );
    let last = page(&files, 4999, 100).unwrap();
    assert_eq!(last.lines, ["line 4999"], "a page ends with the log");
    assert_eq!(
        page(&files, 0, 1_000_000).unwrap().lines.len() as u64,
        view::PAGE_LINES_MAX
    );
}

#[test]
fn a_log_written_before_the_index_existed_opens_in_pages_without_times() {
    let (dir, logs) = logs();
    std::fs::write(dir.path().join("7-build.log"), "one\nerror: two\nthree\n").unwrap();
    let files = logs.files(RunId(7), PartKind::Build).unwrap();
    assert_eq!(files.lines(), 3);
    let all = page(&files, 0, 10).unwrap();
    assert_eq!(all.lines, ["one", "error: two", "three"]);
    assert_eq!(all.times, [None, None, None]);
    assert_eq!(
        all.marks,
        [LineMark {
            line: 1,
            kind: view::LineKind::Error
        }]
    );
    // A resumed part appends to it after the old lines.
    let sink = logs.open(RunId(7), PartKind::Build);
    sink.line("four");
    drop(sink);
    let files = logs.files(RunId(7), PartKind::Build).unwrap();
    assert_eq!(page(&files, 3, 1).unwrap().lines, ["four"]);
}

#[test]
fn search_errors_and_the_saved_copy_read_what_the_reader_sees() {
    let (dir, logs) = logs();
    let sink = logs.open(RunId(1), PartKind::Build);
    sink.line("\u{1b}[1mCompiling\u{1b}[0m shop");
    sink.line("Downloading  10%\rDownloading 100%");
    sink.line("\u{1b}[31merror\u{1b}[0m: token *** was refused");
    sink.line("warning: unused import");
    sink.line("npm ERR! missing script: build");
    drop(sink);
    let files = logs.files(RunId(1), PartKind::Build).unwrap();

    let found = find(&files, "DOWNLOADING 100").unwrap();
    assert_eq!((found.count, found.lines.clone()), (1, vec![1]));
    assert_eq!(
        find(&files, "10%").unwrap().count,
        0,
        "overwritten text is not found"
    );
    assert_eq!(
        find(&files, "[31m").unwrap().count,
        0,
        "escape codes are not text"
    );

    let errors = errors(&files, 10).unwrap();
    assert_eq!(errors.count, 2);
    assert_eq!(errors.lines[0].line, 2);
    assert_eq!(errors.lines[1].text, "npm ERR! missing script: build");

    let saved = dir.path().join("saved/shop.log");
    assert_eq!(export(&files, &saved).unwrap(), 5);
    assert_eq!(
        std::fs::read_to_string(saved).unwrap(),
        "Compiling shop\nDownloading 100%\nerror: token *** was refused\nwarning: unused import\nnpm ERR! missing script: build\n"
    );
}

#[test]
fn a_line_with_breaks_is_stored_and_counted_as_separate_lines() {
    let (_dir, logs) = logs();
    let sink = logs.open(RunId(1), PartKind::Deploy);
    sink.line("Stack events:\nCREATE_IN_PROGRESS\nCREATE_COMPLETE");
    drop(sink);
    let files = logs.files(RunId(1), PartKind::Deploy).unwrap();
    assert_eq!(files.lines(), 3);
    assert_eq!(page(&files, 2, 1).unwrap().lines, ["CREATE_COMPLETE"]);
}

#[test]
fn an_unfollowed_view_gets_nothing_more() {
    let (_dir, logs) = logs();
    let sink = logs.open(RunId(1), PartKind::Build);
    let (start, rx) = follow(&logs, 1);
    logs.unfollow(start.follower.expect("a live part has followers"));
    sink.line("after");
    drop(sink);
    std::thread::sleep(BATCH_INTERVAL * 4);
    assert!(rx.try_recv().is_err());
}

#[test]
fn a_message_is_small_enough_to_be_evaluated_at_once_and_holds_the_stored_lines() {
    let (_dir, logs) = logs();
    let sink = logs.open(RunId(1), PartKind::Build);
    let (_, rx) = follow(&logs, 1);
    // Escape codes take six bytes each in JSON: more than a batch's text would say.
    for i in 0..3000 {
        sink.line(&format!(
            "\u{1b}[1m\u{1b}[32m{i}\u{1b}[0m \u{1b}[2mok\u{1b}[0m"
        ));
    }
    drop(sink);
    let (batches, total) = until_end(&rx);
    let files = logs.files(RunId(1), PartKind::Build).unwrap();
    for batch in batches {
        let json = LogFeed::Lines { batch, errors: 0 }.to_json();
        assert!(
            json.len() < view::MESSAGE_BYTES_DIRECT,
            "{} bytes",
            json.len()
        );
        let message: view::LogBatch = serde_json::from_str(&json).unwrap();
        let count: u32 = message.times.iter().map(|run| run.lines).sum();
        assert_eq!(count as usize, message.lines.len());
        let stored = page(&files, message.first, message.lines.len() as u64).unwrap();
        assert_eq!(stored.lines, message.lines, "the lines are the stored ones");
    }
    let end: view::LogBatch = serde_json::from_str(
        &LogFeed::Ended {
            lines: total,
            errors: 0,
        }
        .to_json(),
    )
    .unwrap();
    assert_eq!(end.ended, Some(3000));
}

#[test]
fn a_parts_text_is_read_back_while_it_is_still_open_and_only_its_end_when_long() {
    let (_dir, logs) = logs();
    let sink = logs.open(RunId(7), PartKind::Build);
    for n in 0..1_000 {
        sink.line(&format!("line {n:04}"));
    }
    // Still open (the part's sink is alive): written lines are flushed first.
    let whole = logs.text(RunId(7), PartKind::Build, 1 << 20).unwrap();
    assert_eq!(whole.lines().count(), 1_000);
    assert!(whole.starts_with("line 0000\n") && whole.ends_with("line 0999\n"));

    let end = logs.text(RunId(7), PartKind::Build, 100).unwrap();
    let lines: Vec<&str> = end.lines().collect();
    assert!(
        lines[0].starts_with("[Stageline] The first ") && lines[0].contains("bytes of this log"),
        "{end}"
    );
    assert_eq!(lines.last(), Some(&"line 0999"));
    assert!(
        lines[1..].iter().all(|l| l.starts_with("line ")),
        "whole lines only: {end}"
    );
    assert!(end.len() <= 100 + lines[0].len() + 1);
    assert_eq!(
        logs.text(RunId(8), PartKind::Build, 100),
        None,
        "no log, no text"
    );
    drop(sink);
}
