//! What a chat message says, and the two bodies it is sent as. Pure functions:
//! the same message always gives the same bytes.

use serde_json::{json, Map, Value};
use stageline_engine::{Commit, PartKind, StackId};

use crate::webhook::WebhookKind;

/// At most this many commits are listed in an approval request; the rest are counted.
pub const COMMITS_LISTED: usize = 5;

/// An error line is cut to this many characters.
pub const ERROR_CHARS: usize = 300;

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    /// A release waits for approval at the stage (R5); `ships` is what it brings.
    ApprovalRequested,
    /// Someone approved or rejected the release at the stage.
    ApprovalDecided {
        approved: bool,
        by: String,
        comment: String,
    },
    /// A run of the release failed at the stage, in `part`.
    RunFailed { part: PartKind, error: String },
    /// The stage is going back to the release (a redeploy of an earlier one).
    Rollback { by: Option<String> },
    /// "Send test message" in the stack's chat settings.
    Test,
}

impl ChatEvent {
    /// The `event` field of the plain JSON body.
    pub fn name(&self) -> &'static str {
        match self {
            ChatEvent::ApprovalRequested => "approval_requested",
            ChatEvent::ApprovalDecided { .. } => "approval_decided",
            ChatEvent::RunFailed { .. } => "run_failed",
            ChatEvent::Rollback { .. } => "rollback",
            ChatEvent::Test => "test",
        }
    }
}

/// One message, with everything both bodies need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub stack_id: StackId,
    pub stack: String,
    /// Empty for a test message.
    pub stage: String,
    /// The release's head commit (`None` for a test message).
    pub release: Option<Commit>,
    /// For an approval request: the commits that will ship, newest first
    /// (the head and the commits pushed with it).
    pub ships: Vec<Commit>,
    pub event: ChatEvent,
    /// The stage's service URL, when known.
    pub url: Option<String>,
}

/// The body to send to a webhook of `kind`.
pub fn body(kind: WebhookKind, message: &ChatMessage) -> Value {
    match kind {
        WebhookKind::Slack => slack_body(message),
        WebhookKind::Json => json_body(message),
    }
}

fn commit_json(commit: &Commit) -> Value {
    json!({ "sha": commit.sha, "message": commit.message, "author": commit.author })
}

/// The plain JSON body:
/// `{"event", "stack", "stage", "release": {sha, message, author}, "commits"?, "by"?,
///   "decision"?, "comment"?, "part"?, "error"?, "url"?}` — optional fields only when they apply.
pub fn json_body(message: &ChatMessage) -> Value {
    let mut body = Map::new();
    body.insert("event".into(), message.event.name().into());
    body.insert("stack".into(), message.stack.clone().into());
    body.insert("stage".into(), message.stage.clone().into());
    body.insert(
        "release".into(),
        message
            .release
            .as_ref()
            .map(commit_json)
            .unwrap_or(Value::Null),
    );
    match &message.event {
        ChatEvent::ApprovalRequested => {
            let commits: Vec<Value> = message.ships.iter().map(commit_json).collect();
            body.insert("commits".into(), commits.into());
        }
        ChatEvent::ApprovalDecided {
            approved,
            by,
            comment,
        } => {
            body.insert("by".into(), by.clone().into());
            body.insert(
                "decision".into(),
                if *approved { "approved" } else { "rejected" }.into(),
            );
            if !comment.is_empty() {
                body.insert("comment".into(), comment.clone().into());
            }
        }
        ChatEvent::RunFailed { part, error } => {
            body.insert("part".into(), part.as_str().into());
            body.insert("error".into(), cut(error, ERROR_CHARS).into());
        }
        ChatEvent::Rollback { by } => {
            if let Some(by) = by {
                body.insert("by".into(), by.clone().into());
            }
        }
        ChatEvent::Test => {}
    }
    if let Some(url) = &message.url {
        body.insert("url".into(), url.clone().into());
    }
    Value::Object(body)
}

/// Slack's mrkdwn treats `&`, `<` and `>` as markup.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `text` cut to `max` characters, with an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() <= max {
        line.to_string()
    } else {
        let kept: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

fn short(commit: &Commit) -> String {
    commit.short_sha().to_string()
}

/// One line per commit: `` `abc1234` message — author ``.
fn commit_lines(commits: &[Commit]) -> String {
    let mut lines: Vec<String> = commits
        .iter()
        .take(COMMITS_LISTED)
        .map(|c| {
            format!(
                "`{}` {} — {}",
                short(c),
                escape(&cut(&c.message, 120)),
                escape(&c.author)
            )
        })
        .collect();
    if commits.len() > COMMITS_LISTED {
        lines.push(format!("…and {} more", commits.len() - COMMITS_LISTED));
    }
    lines.join("\n")
}

/// The one-line summary (Slack's `text`: notifications and clients without blocks).
pub fn summary(message: &ChatMessage) -> String {
    let stack = &message.stack;
    let stage = &message.stage;
    let sha = message.release.as_ref().map(short).unwrap_or_default();
    match &message.event {
        ChatEvent::ApprovalRequested => {
            format!("{stack} · {stage}: release {sha} is waiting for approval")
        }
        ChatEvent::ApprovalDecided { approved, by, .. } => format!(
            "{stack} · {stage}: {by} {} release {sha}",
            if *approved { "approved" } else { "rejected" }
        ),
        ChatEvent::RunFailed { part, .. } => {
            format!(
                "{stack} · {stage}: the {} of release {sha} failed",
                part.as_str()
            )
        }
        ChatEvent::Rollback { .. } => {
            format!("{stack} · {stage}: rolling back to release {sha}")
        }
        ChatEvent::Test => {
            format!("Stageline test message: chat notifications of {stack} arrive here")
        }
    }
}

/// The Slack-compatible body: `{"text": summary, "blocks": [section (mrkdwn), context?]}`.
pub fn slack_body(message: &ChatMessage) -> Value {
    let stack = escape(&message.stack);
    let stage = escape(&message.stage);
    let sha = message.release.as_ref().map(short).unwrap_or_default();
    let head = message
        .release
        .as_ref()
        .map(|c| commit_lines(std::slice::from_ref(c)));
    let detail = match &message.event {
        ChatEvent::ApprovalRequested => format!(
            ":hourglass_flowing_sand: *{stack}* · *{stage}*: release `{sha}` is waiting for approval.\nWhat will ship:\n{}",
            commit_lines(&message.ships)
        ),
        ChatEvent::ApprovalDecided {
            approved,
            by,
            comment,
        } => {
            let (icon, verb) = if *approved {
                (":white_check_mark:", "approved")
            } else {
                (":no_entry:", "rejected")
            };
            let mut text = format!(
                "{icon} *{}* {verb} release `{sha}` at *{stack}* · *{stage}*.",
                escape(by)
            );
            if !comment.is_empty() {
                text.push_str(&format!("\n> {}", escape(&cut(comment, ERROR_CHARS))));
            }
            if let Some(head) = &head {
                text.push('\n');
                text.push_str(head);
            }
            text
        }
        ChatEvent::RunFailed { part, error } => {
            let mut text = format!(
                ":x: *{stack}* · *{stage}*: the *{}* of release `{sha}` failed.",
                part.as_str()
            );
            if !error.trim().is_empty() {
                text.push_str(&format!("\n```{}```", escape(&cut(error, ERROR_CHARS))));
            }
            if let Some(head) = &head {
                text.push('\n');
                text.push_str(head);
            }
            text
        }
        ChatEvent::Rollback { by } => {
            let by = by
                .as_ref()
                .map(|b| format!(" ({})", escape(b)))
                .unwrap_or_default();
            let mut text = format!(
                ":leftwards_arrow_with_hook: *{stack}* · *{stage}* is rolling back to release `{sha}`{by}."
            );
            if let Some(head) = &head {
                text.push('\n');
                text.push_str(head);
            }
            text
        }
        ChatEvent::Test => format!(
            "Stageline test message: approvals, failures and rollbacks of *{stack}* will be posted here."
        ),
    };
    let mut blocks = vec![json!({
        "type": "section",
        "text": { "type": "mrkdwn", "text": detail }
    })];
    if let Some(url) = &message.url {
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": format!("<{url}|{stage} service>") }]
        }));
    }
    json!({ "text": summary(message), "blocks": blocks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(sha: &str, message: &str, author: &str) -> Commit {
        Commit {
            sha: sha.to_string(),
            message: message.to_string(),
            author: author.to_string(),
            author_email: String::new(),
            time: 0,
        }
    }

    fn message(event: ChatEvent) -> ChatMessage {
        let head = commit("0123456789abcdef", "Fix <login> & signup", "Ada");
        ChatMessage {
            stack_id: StackId(1),
            stack: "hello-web".into(),
            stage: "prod".into(),
            release: Some(head.clone()),
            ships: vec![head, commit("fedcba9876543210", "Add tests", "Grace")],
            event,
            url: None,
        }
    }

    #[test]
    fn an_approval_request_says_what_will_ship() {
        let m = message(ChatEvent::ApprovalRequested);
        let json = json_body(&m);
        assert_eq!(json["event"], "approval_requested");
        assert_eq!(json["stack"], "hello-web");
        assert_eq!(json["stage"], "prod");
        assert_eq!(json["release"]["sha"], "0123456789abcdef");
        assert_eq!(json["release"]["author"], "Ada");
        assert_eq!(json["commits"].as_array().unwrap().len(), 2);
        assert!(json.get("by").is_none() && json.get("url").is_none());

        let slack = slack_body(&m);
        assert_eq!(
            slack["text"],
            "hello-web · prod: release 0123456 is waiting for approval"
        );
        let text = slack["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            text.contains("`0123456` Fix &lt;login&gt; &amp; signup — Ada"),
            "{text}"
        );
        assert!(text.contains("`fedcba9` Add tests — Grace"), "{text}");
    }

    #[test]
    fn a_long_list_of_commits_is_counted_not_listed() {
        let mut m = message(ChatEvent::ApprovalRequested);
        m.ships = (0..8)
            .map(|i| commit(&format!("{i:07}"), "c", "a"))
            .collect();
        let text = slack_body(&m)["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(text.matches(" — a").count(), COMMITS_LISTED);
        assert!(text.ends_with("…and 3 more"));
    }

    #[test]
    fn a_decision_says_who_and_what() {
        let m = message(ChatEvent::ApprovalDecided {
            approved: false,
            by: "grace".into(),
            comment: "not on a Friday".into(),
        });
        let json = json_body(&m);
        assert_eq!(json["event"], "approval_decided");
        assert_eq!(json["by"], "grace");
        assert_eq!(json["decision"], "rejected");
        assert_eq!(json["comment"], "not on a Friday");
        assert!(json.get("commits").is_none());
        let slack = slack_body(&m);
        assert_eq!(
            slack["text"],
            "hello-web · prod: grace rejected release 0123456"
        );
        assert!(slack["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("> not on a Friday"));
    }

    #[test]
    fn a_failure_names_the_part_and_its_first_error_line_only() {
        let long = "x".repeat(500);
        let m = message(ChatEvent::RunFailed {
            part: PartKind::Deploy,
            error: format!("ServiceUnavailable: {long}\nsecond line"),
        });
        let json = json_body(&m);
        assert_eq!(json["event"], "run_failed");
        assert_eq!(json["part"], "deploy");
        let error = json["error"].as_str().unwrap();
        assert!(error.starts_with("ServiceUnavailable: x"));
        assert_eq!(error.chars().count(), ERROR_CHARS);
        assert!(!error.contains("second line"));
        assert_eq!(
            slack_body(&m)["text"],
            "hello-web · prod: the deploy of release 0123456 failed"
        );
    }

    #[test]
    fn a_rollback_names_the_release_gone_back_to() {
        let mut m = message(ChatEvent::Rollback {
            by: Some("ada".into()),
        });
        m.url = Some("https://prod.example.com".into());
        let json = json_body(&m);
        assert_eq!(json["event"], "rollback");
        assert_eq!(json["by"], "ada");
        assert_eq!(json["url"], "https://prod.example.com");
        let slack = slack_body(&m);
        assert_eq!(
            slack["text"],
            "hello-web · prod: rolling back to release 0123456"
        );
        assert_eq!(slack["blocks"][1]["type"], "context");
    }

    #[test]
    fn a_test_message_has_no_release() {
        let mut m = message(ChatEvent::Test);
        m.release = None;
        m.stage = String::new();
        let json = body(WebhookKind::Json, &m);
        assert_eq!(json["event"], "test");
        assert!(json["release"].is_null());
        assert!(body(WebhookKind::Slack, &m)["text"]
            .as_str()
            .unwrap()
            .contains("hello-web"));
    }
}
