//! The sender and the notifier against a real HTTP server on loopback that
//! answers with scripted statuses and records what it received.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use stageline_chat::{
    ChatFacts, ChatNotifier, DeliveryError, HttpSender, NotifierOptions, StageFacts, Webhook,
    WebhookKind, Webhooks,
};
use stageline_engine::ports::BoxFuture;
use stageline_engine::{
    Approval, ApprovalId, ApprovalStatus, Commit, PartKind, PipelineEvent, Release, ReleaseId,
    RunId, StackId, StageId,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A webhook server: answers each request with the next scripted status (the
/// last one repeats) and keeps every body it was sent.
struct Server {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

async fn serve(statuses: &[u16]) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/hooks/secret-token",
        listener.local_addr().unwrap()
    );
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(
        statuses.iter().copied().collect::<VecDeque<_>>(),
    ));
    let received = bodies.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let script = script.clone();
            let received = received.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                // Read the head, then the body its Content-Length announces.
                let (head_end, length) = loop {
                    let n = socket.read(&mut buffer).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&request[..end]).to_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                while request.len() < head_end + length {
                    let n = socket.read(&mut buffer).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buffer[..n]);
                }
                if let Ok(body) = serde_json::from_slice(&request[head_end..]) {
                    received.lock().unwrap().push(body);
                }
                let status = {
                    let mut script = script.lock().unwrap();
                    if script.len() > 1 {
                        script.pop_front().unwrap()
                    } else {
                        *script.front().unwrap()
                    }
                };
                let answer = format!(
                    "HTTP/1.1 {status} Scripted\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Server { url, bodies }
}

impl Server {
    fn received(&self) -> usize {
        self.bodies.lock().unwrap().len()
    }
}

/// Short pauses, so the tests take milliseconds.
const BACKOFF: [Duration; 3] = [
    Duration::from_millis(10),
    Duration::from_millis(40),
    Duration::from_millis(160),
];

fn hook(server: &Server, kind: WebhookKind) -> Webhook {
    Webhook::new(kind, &server.url).unwrap()
}

#[tokio::test]
async fn a_webhook_that_fails_twice_gets_the_message_on_the_third_try() {
    let server = serve(&[500, 500, 200]).await;
    let sender = HttpSender::default();
    let tries = sender
        .send(
            &hook(&server, WebhookKind::Json),
            &json!({"event": "test"}),
            &BACKOFF,
        )
        .await
        .unwrap();
    assert_eq!(tries, 3);
    assert_eq!(server.received(), 3);
}

#[tokio::test]
async fn a_webhook_that_always_fails_is_tried_four_times_then_reported() {
    let server = serve(&[500]).await;
    let error = HttpSender::default()
        .send(&hook(&server, WebhookKind::Json), &json!({}), &BACKOFF)
        .await
        .unwrap_err();
    assert_eq!(
        error,
        DeliveryError::Failing {
            reason: "the webhook answered HTTP 500".into(),
            tries: 4
        }
    );
    assert_eq!(server.received(), 4);
}

#[tokio::test]
async fn a_missing_webhook_is_not_tried_again() {
    let server = serve(&[404]).await;
    let error = HttpSender::default()
        .send(&hook(&server, WebhookKind::Slack), &json!({}), &BACKOFF)
        .await
        .unwrap_err();
    assert_eq!(
        error,
        DeliveryError::Refused {
            status: 404,
            tries: 1
        }
    );
    assert!(error.to_string().contains("deleted"));
    assert_eq!(server.received(), 1);
}

#[tokio::test]
async fn too_many_requests_is_tried_again() {
    let server = serve(&[429, 200]).await;
    let tries = HttpSender::default()
        .send(&hook(&server, WebhookKind::Slack), &json!({}), &BACKOFF)
        .await
        .unwrap();
    assert_eq!(tries, 2);
}

#[tokio::test]
async fn an_unreachable_webhook_is_reported_without_its_url() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/hooks/secret-token",
        listener.local_addr().unwrap()
    );
    drop(listener);
    let hook = Webhook::new(WebhookKind::Json, &url).unwrap();
    let error = HttpSender::default()
        .send(&hook, &json!({}), &BACKOFF[..1])
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("could not connect to 127.0.0.1:"), "{text}");
    assert!(!text.contains("secret-token"), "{text}");
}

/// Names for one stack with one stage, and one release.
struct Facts;

fn release() -> Release {
    Release {
        id: ReleaseId(7),
        stack_id: StackId(1),
        commit: Commit {
            sha: "0123456789abcdef0123456789abcdef01234567".into(),
            message: "Fix the login".into(),
            author: "Ada".into(),
            author_email: String::new(),
            time: 0,
        },
        included: Vec::new(),
        forced: false,
        created_at: 0,
        artifact: None,
    }
}

impl ChatFacts for Facts {
    fn stage(&self, _stage: StageId) -> BoxFuture<'_, Option<StageFacts>> {
        Box::pin(async {
            Some(StageFacts {
                stack_id: StackId(1),
                stack: "hello-web".into(),
                stage: "prod".into(),
                url: None,
            })
        })
    }
    fn release(&self, _release: ReleaseId) -> BoxFuture<'_, Option<Release>> {
        Box::pin(async { Some(release()) })
    }
    fn first_error_line(&self, _run: RunId, _part: PartKind) -> BoxFuture<'_, Option<String>> {
        Box::pin(async { None })
    }
}

fn approval_requested() -> PipelineEvent {
    PipelineEvent::ApprovalRequested {
        approval: Approval {
            id: ApprovalId(3),
            stack_id: StackId(1),
            stage_id: StageId(2),
            release_id: ReleaseId(7),
            status: ApprovalStatus::Pending,
            requested_at: 0,
            decision: None,
            expires_at: None,
        },
        release: release(),
    }
}

type Warnings = Arc<Mutex<Vec<(StackId, Option<String>)>>>;

fn notifier(server: &Server) -> (ChatNotifier, Warnings) {
    let webhooks = Webhooks::default();
    webhooks.set(StackId(1), Some(hook(server, WebhookKind::Json)));
    let warnings: Warnings = Arc::default();
    let seen = warnings.clone();
    let notifier = ChatNotifier::start(
        Arc::new(Facts),
        webhooks,
        Arc::new(HttpSender::default()),
        Arc::new(move |stack, message| seen.lock().unwrap().push((stack, message))),
        NotifierOptions {
            backoff: BACKOFF.to_vec(),
            capacity: 8,
        },
    );
    (notifier, warnings)
}

async fn until(what: impl Fn() -> bool) {
    for _ in 0..200 {
        if what() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out");
}

#[tokio::test]
async fn an_approval_request_reaches_the_stacks_webhook() {
    let server = serve(&[200]).await;
    let (notifier, warnings) = notifier(&server);
    notifier.push(&approval_requested());
    until(|| server.received() == 1).await;
    let body = server.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["event"], "approval_requested");
    assert_eq!(body["stack"], "hello-web");
    assert_eq!(body["stage"], "prod");
    assert_eq!(body["release"]["sha"], release().commit.sha);
    assert_eq!(body["commits"][0]["author"], "Ada");
    assert!(warnings.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_webhook_that_keeps_failing_sets_a_warning_that_the_next_delivery_clears() {
    let server = serve(&[500, 500, 500, 500, 200]).await;
    let (notifier, warnings) = notifier(&server);
    notifier.push(&approval_requested());
    until(|| !warnings.lock().unwrap().is_empty()).await;
    {
        let warnings = warnings.lock().unwrap();
        let (stack, message) = &warnings[0];
        assert_eq!(*stack, StackId(1));
        let message = message.as_deref().unwrap();
        assert!(message.contains("127.0.0.1"), "{message}");
        assert!(message.contains("HTTP 500 (4 tries)"), "{message}");
        assert!(!message.contains("secret-token"), "{message}");
    }
    notifier.push(&approval_requested());
    until(|| warnings.lock().unwrap().len() == 2).await;
    assert_eq!(warnings.lock().unwrap()[1], (StackId(1), None));
}

#[tokio::test]
async fn events_that_make_no_message_are_not_queued_and_a_full_queue_drops_its_oldest() {
    let server = serve(&[200]).await;
    let (notifier, _) = notifier(&server);
    notifier.push(&PipelineEvent::StackChanged {
        stack_id: StackId(1),
    });
    // More than the queue holds, pushed without yielding: the oldest go.
    for _ in 0..50 {
        notifier.push(&approval_requested());
    }
    until(|| server.received() >= 8).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(server.received() <= 9, "{} delivered", server.received());
}
