//! The running app's side of the command line: a Unix socket in the app's
//! data folder, readable and writable by its owner only. Each connection is
//! one request; its answers are JSON lines.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use stageline_engine::flow::Input;
use stageline_engine::{Decision, DecisionSource, EngineError, PartKind, RunId};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use super::logs::{lines_of, part_to_show};
use super::protocol::{find_stage, Answer, Failure, Request, SOCKET_NAME};
use crate::core::Core;
use crate::logs::view::{LogFeed, LogStart};

/// Listens on `<data dir>/control.sock` until the app ends.
pub fn serve(core: Arc<Core>, data_dir: &Path) -> std::io::Result<()> {
    let path = data_dir.join(SOCKET_NAME);
    // Only one app runs (single instance): a socket file left is from a crash.
    let _ = std::fs::remove_file(&path);
    // Bound here (the caller need not be inside the async runtime), served there.
    let listener = std::os::unix::net::UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    tauri::async_runtime::spawn(async move {
        let Ok(listener) = UnixListener::from_std(listener) else {
            return;
        };
        while let Ok((stream, _)) = listener.accept().await {
            let core = core.clone();
            tauri::async_runtime::spawn(async move {
                let _ = answer(core, stream).await;
            });
        }
    });
    Ok(())
}

async fn answer(core: Arc<Core>, stream: UnixStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut request = String::new();
    BufReader::new(read).read_line(&mut request).await?;
    let (sender, mut answers) = mpsc::unbounded_channel::<Answer>();
    match serde_json::from_str::<Request>(&request) {
        Ok(request) => {
            tauri::async_runtime::spawn(handle(core, request, sender));
        }
        Err(error) => {
            let _ = sender.send(Answer::Failed {
                failure: Failure::Refused,
                message: format!("Stageline did not understand the request: {error}"),
            });
        }
    }
    while let Some(answer) = answers.recv().await {
        let mut line = serde_json::to_string(&answer).unwrap_or_default();
        line.push('\n');
        write.write_all(line.as_bytes()).await?;
    }
    write.shutdown().await
}

fn failed(error: EngineError) -> Answer {
    let failure = match error {
        EngineError::NotFound(_) => Failure::NotFound,
        _ => Failure::Refused,
    };
    Answer::Failed {
        failure,
        message: error.to_string(),
    }
}

async fn handle(core: Arc<Core>, request: Request, answers: mpsc::UnboundedSender<Answer>) {
    let stacks = match core.pipeline.read(|s| s.dashboard()).await {
        Ok(stacks) => stacks,
        Err(error) => {
            let _ = answers.send(failed(error));
            return;
        }
    };
    let decision = |comment: String| Decision {
        by: core.user(),
        at: stageline_engine::ports::Clock::now(core.clock.as_ref()),
        comment,
        via: DecisionSource::Cli,
    };
    let answer = match request {
        Request::Status => Answer::Stacks { stacks },
        Request::Decide {
            stack,
            stage,
            approve,
            comment,
        } => match find_stage(&stacks, &stack, &stage) {
            Err(answer) => answer,
            Ok((_, view)) => match &view.pending_approval {
                None => Answer::Failed {
                    failure: Failure::NotFound,
                    message: format!("No release waits for approval at {stage} of {stack}."),
                },
                Some(pending) => {
                    let sha = pending.release.commit.short_sha().to_string();
                    match crate::services::team::decide(
                        &core,
                        pending.approval.id,
                        approve,
                        comment,
                        DecisionSource::Cli,
                    )
                    .await
                    {
                        Ok(()) => Answer::Done {
                            message: format!(
                                "{} {sha} at {stage} of {stack}.",
                                if approve { "Approved" } else { "Rejected" }
                            ),
                        },
                        Err(error) => Answer::Failed {
                            failure: if error.code == stageline_engine::ErrorCode::NotFound {
                                Failure::NotFound
                            } else {
                                Failure::Refused
                            },
                            message: error.message,
                        },
                    }
                }
            },
        },
        Request::Retry {
            stack,
            stage,
            comment,
        } => match find_stage(&stacks, &stack, &stage) {
            Err(answer) => answer,
            Ok((_, view)) => match &view.latest_run {
                None => Answer::Failed {
                    failure: Failure::NotFound,
                    message: format!("{stage} of {stack} has no run to retry."),
                },
                Some(run) => match core
                    .pipeline
                    .send(Input::Retry {
                        run_id: run.id,
                        decision: decision(comment),
                    })
                    .await
                {
                    Ok(_) => Answer::Done {
                        message: format!("Retrying the newest run at {stage} of {stack}."),
                    },
                    Err(error) => failed(error),
                },
            },
        },
        Request::Logs {
            stack,
            stage,
            part,
            follow,
        } => match find_stage(&stacks, &stack, &stage) {
            Err(answer) => answer,
            Ok((_, view)) => match view
                .latest_run
                .as_ref()
                .map(|run| (run.id, part_to_show(run, part)))
            {
                None => Answer::Failed {
                    failure: Failure::NotFound,
                    message: format!("{stage} of {stack} has no run yet."),
                },
                Some((run, part)) => {
                    stream_log(&core, run, part, follow, &answers).await;
                    Answer::Done {
                        message: String::new(),
                    }
                }
            },
        },
    };
    let _ = answers.send(answer);
}

/// Sends the log's lines, then (with `follow`, while the part runs) every
/// line it writes until it ends.
async fn stream_log(
    core: &Core,
    run: RunId,
    part: PartKind,
    follow: bool,
    answers: &mpsc::UnboundedSender<Answer>,
) {
    let (fed, mut feed) = mpsc::unbounded_channel::<LogFeed>();
    let start = if follow {
        let fed = fed.clone();
        core.logs
            .follow(run, part, move |message| fed.send(message.clone()).is_ok())
    } else {
        core.logs.files(run, part).map(|files| LogStart {
            lines: files.lines(),
            live: false,
            follower: None,
            errors: 0,
        })
    };
    drop(fed);
    let Ok(start) = start else {
        return;
    };
    let mut next = 0;
    let send_lines = |from: u64, to: u64| {
        for text in lines_of(&core.logs, run, part, from, to) {
            let _ = answers.send(Answer::Line { text });
        }
    };
    send_lines(next, start.lines);
    next = start.lines;
    if start.follower.is_none() {
        return;
    }
    while let Some(message) = feed.recv().await {
        match message {
            // Lines a batch skipped are in the stored log: read them from there.
            LogFeed::Lines { batch, .. } => {
                let end = batch.first + batch.lines.len() as u64;
                send_lines(next, end);
                next = end.max(next);
            }
            LogFeed::Ended { lines, .. } => {
                send_lines(next, lines);
                break;
            }
        }
    }
}
