//! `stageline status` as a person reads it, and as a script does (`--json`).

use serde::Serialize;
use stageline_engine::flow::StackView;
use stageline_engine::{Millis, Release, RunStatus};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub stacks: Vec<StackStatus>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackStatus {
    pub name: String,
    pub branch: String,
    pub account: String,
    pub warnings: Vec<String>,
    pub stages: Vec<StageStatus>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageStatus {
    pub name: String,
    pub region: String,
    pub deployed: Option<ReleaseStatus>,
    /// The newest run: its release, its status and (while running) its part.
    pub run: Option<RunStatusLine>,
    pub pending_approval: Option<PendingStatus>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseStatus {
    pub sha: String,
    pub message: String,
    pub author: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunStatusLine {
    pub release: ReleaseStatus,
    pub status: RunStatus,
    pub part: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingStatus {
    pub release: ReleaseStatus,
    pub requested_at: Millis,
}

fn release(release: &Release) -> ReleaseStatus {
    ReleaseStatus {
        sha: release.commit.short_sha().to_string(),
        message: release.commit.message.clone(),
        author: release.commit.author.clone(),
    }
}

/// The report of the dashboard's stacks.
pub fn status(stacks: &[StackView]) -> StatusReport {
    StatusReport {
        stacks: stacks
            .iter()
            .map(|stack| StackStatus {
                name: stack.stack.name.clone(),
                branch: stack.stack.branch.clone(),
                account: stack.account_name.clone(),
                warnings: stack.warnings.clone(),
                stages: stack
                    .stages
                    .iter()
                    .map(|view| StageStatus {
                        name: view.stage.settings.name.clone(),
                        region: view.stage.settings.region.clone(),
                        deployed: view.deployed.as_ref().map(release),
                        run: view
                            .latest_run
                            .as_ref()
                            .zip(view.latest_release.as_ref())
                            .map(|(run, r)| RunStatusLine {
                                release: release(r),
                                status: run.status,
                                part: run.running_part().map(|p| p.as_str().to_string()),
                            }),
                        pending_approval: view.pending_approval.as_ref().map(|p| PendingStatus {
                            release: release(&p.release),
                            requested_at: p.approval.requested_at,
                        }),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "running",
        RunStatus::Succeeded => "deployed",
        RunStatus::Failed => "failed",
        RunStatus::Cancelled => "cancelled",
        RunStatus::Superseded => "superseded",
    }
}

fn ago(at: Millis, now: Millis) -> String {
    let minutes = (now - at).max(0) / 60_000;
    match minutes {
        0 => "just now".into(),
        1..=59 => format!("{minutes} min ago"),
        60..=2879 => format!("{} h ago", minutes / 60),
        _ => format!("{} days ago", minutes / 1440),
    }
}

/// The report as text for a terminal.
pub fn render(report: &StatusReport, now: Millis) -> String {
    if report.stacks.is_empty() {
        return "No stacks yet: create one in the Stageline app.\n".into();
    }
    let mut out = String::new();
    let pending: usize = report
        .stacks
        .iter()
        .flat_map(|s| &s.stages)
        .filter(|s| s.pending_approval.is_some())
        .count();
    if pending > 0 {
        out.push_str(&format!(
            "{pending} release{} awaiting approval (stageline approve STACK STAGE)\n\n",
            if pending == 1 { "" } else { "s" }
        ));
    }
    for stack in &report.stacks {
        out.push_str(&format!(
            "{}  ({} · {})\n",
            stack.name, stack.branch, stack.account
        ));
        for warning in &stack.warnings {
            out.push_str(&format!("  ! {warning}\n"));
        }
        let width = stack.stages.iter().map(|s| s.name.len()).max().unwrap_or(0);
        for stage in &stack.stages {
            let runs = match &stage.deployed {
                Some(r) => format!("runs {} {}", r.sha, r.message),
                None => "nothing deployed yet".into(),
            };
            out.push_str(&format!(
                "  {:width$}  {:<14} {runs}\n",
                stage.name, stage.region
            ));
            if let Some(run) = &stage.run {
                if run.status != RunStatus::Succeeded || stage.deployed.is_none() {
                    let part = run
                        .part
                        .as_deref()
                        .map(|p| format!(" ({p})"))
                        .unwrap_or_default();
                    out.push_str(&format!(
                        "  {:width$}  {:<14} {} {}{part}: {}\n",
                        "",
                        "",
                        word(run.status),
                        run.release.sha,
                        run.release.message
                    ));
                }
            }
            if let Some(pending) = &stage.pending_approval {
                out.push_str(&format!(
                    "  {:width$}  {:<14} awaiting approval: {} {} ({})\n",
                    "",
                    "",
                    pending.release.sha,
                    pending.release.message,
                    ago(pending.requested_at, now)
                ));
            }
        }
        out.push('\n');
    }
    out
}
