//! The command line, from the same binary: `stageline status`, `approve`,
//! `reject`, `logs`, `retry`. It talks to the running app through a socket
//! in the app's data folder (owner-only); when no app runs, `status` and
//! `logs` read the app's database and log files without writing them.

mod args;
mod logs;
mod protocol;
mod report;
pub mod server;

use std::io::Write;
use std::path::PathBuf;

use stageline_engine::flow::{FlowState, StackView};
use stageline_engine::ports::Store;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use args::{Command, Invocation};
use protocol::{find_stage, Answer, Failure, Request, SOCKET_NAME};

/// Exit code: Stageline is not running (and the command needs it).
const NOT_RUNNING: i32 = 3;

/// Runs the command line when the arguments start with a word (a command,
/// or a mistyped one) or ask for help, and returns its exit code; `None`
/// starts the app (no arguments, or options a launcher passes).
pub fn main_if_command() -> Option<i32> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let first = args.first()?;
    if first.starts_with('-') && !matches!(first.as_str(), "--help" | "-h") {
        return None;
    }
    let words = if matches!(first.as_str(), "--help" | "-h") {
        Vec::new()
    } else {
        args
    };
    Some(match args::parse(&words) {
        Err(message) => {
            eprintln!("{message}");
            2
        }
        Ok(invocation) => run(invocation),
    })
}

fn run(invocation: Invocation) -> i32 {
    let request = match invocation.command {
        Command::Help(command) => {
            println!("{}", args::help(command));
            return 0;
        }
        Command::Ask(request) => request,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("stageline: could not start: {error}");
            return 1;
        }
    };
    runtime.block_on(execute(request, invocation.json))
}

/// The app's data folder, as the app finds it (Tauri's app data dir).
pub fn data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            if cfg!(target_os = "macos") {
                home.join("Library/Application Support")
            } else {
                home.join(".local/share")
            }
        });
    base.join(IDENTIFIER)
}

/// The app's identifier (tauri.conf.json), which names its data folder.
const IDENTIFIER: &str = "dev.stageline.app";

async fn execute(request: Request, json: bool) -> i32 {
    let dir = data_dir();
    match UnixStream::connect(dir.join(SOCKET_NAME)).await {
        Ok(stream) => match ask(stream, &request, json).await {
            Ok(code) => code,
            Err(error) => {
                eprintln!("stageline: the app stopped answering: {error}");
                1
            }
        },
        Err(_) => offline(&dir, request, json).await,
    }
}

/// Sends the request to the app and prints its answers.
async fn ask(stream: UnixStream, request: &Request, json: bool) -> std::io::Result<i32> {
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_string(request).unwrap_or_default();
    line.push('\n');
    write.write_all(line.as_bytes()).await?;
    let mut answers = BufReader::new(read).lines();
    let mut code = 0;
    while let Some(line) = answers.next_line().await? {
        let Ok(answer) = serde_json::from_str::<Answer>(&line) else {
            continue;
        };
        code = print(answer, json);
    }
    Ok(code)
}

/// Prints one answer; the exit code it means.
fn print(answer: Answer, json: bool) -> i32 {
    let mut out = std::io::stdout().lock();
    match answer {
        Answer::Stacks { stacks } => print_status(&stacks, json),
        Answer::Line { text } => {
            let _ = if json {
                writeln!(out, "{}", serde_json::json!({ "line": text }))
            } else {
                writeln!(out, "{text}")
            };
            0
        }
        Answer::Done { message } => {
            if json && !message.is_empty() {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "ok": true, "message": message })
                );
            } else if !message.is_empty() {
                let _ = writeln!(out, "{message}");
            }
            0
        }
        Answer::Failed { failure, message } => {
            if json {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "ok": false, "error": failure, "message": message })
                );
            }
            eprintln!("{message}");
            failure.exit_code()
        }
    }
}

fn print_status(stacks: &[StackView], json: bool) -> i32 {
    let report = report::status(stacks);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        print!("{}", report::render(&report, now));
    }
    0
}

/// Without the app: `status` and `logs` from its files, read only.
async fn offline(dir: &std::path::Path, request: Request, json: bool) -> i32 {
    let needs_app = |what: &str| {
        eprintln!(
            "Stageline is not running: start the app to {what} (status and logs work without it)."
        );
        NOT_RUNNING
    };
    match request {
        Request::Decide { approve, .. } => needs_app(if approve { "approve" } else { "reject" }),
        Request::Retry { .. } => needs_app("retry a run"),
        Request::Logs { follow: true, .. } => needs_app("follow a log"),
        Request::Status => match read_stacks(dir).await {
            Ok(stacks) => print_status(&stacks, json),
            Err(message) => {
                eprintln!("{message}");
                1
            }
        },
        Request::Logs {
            stack, stage, part, ..
        } => {
            let stacks = match read_stacks(dir).await {
                Ok(stacks) => stacks,
                Err(message) => {
                    eprintln!("{message}");
                    return 1;
                }
            };
            let (_, view) = match find_stage(&stacks, &stack, &stage) {
                Ok(found) => found,
                Err(answer) => return print(answer, json),
            };
            let Some(run) = &view.latest_run else {
                return print(
                    Answer::Failed {
                        failure: Failure::NotFound,
                        message: format!("{stage} of {stack} has no run yet."),
                    },
                    json,
                );
            };
            let part = logs::part_to_show(run, part);
            let files = crate::logs::FileLogs::new(dir.join("logs"));
            for text in logs::lines_of(&files, run.id, part, 0, u64::MAX) {
                print(Answer::Line { text }, json);
            }
            0
        }
    }
}

/// The dashboard from the database, opened read-only.
async fn read_stacks(dir: &std::path::Path) -> Result<Vec<StackView>, String> {
    let path = dir.join("stageline.db");
    if !path.exists() {
        return Err(format!(
            "Stageline has no data yet ({} does not exist): start the app once.",
            path.display()
        ));
    }
    let store = stageline_store::SqliteStore::open_read_only(&path)
        .await
        .map_err(|e| e.message)?;
    let snapshot = store.load().await.map_err(|e| e.message)?;
    Ok(FlowState::from_snapshot(snapshot).dashboard())
}
