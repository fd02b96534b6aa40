//! Native notifications: a release awaiting approval (with an Approve
//! action that approves it, recorded as coming from the notification; a click
//! on the body opens the approval dialog), and a failed run (a click opens
//! the stage window with its log).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use stageline_engine::{
    ApprovalId, DecisionSource, PipelineEvent, ReleaseId, RunStatus, RunTrigger, StageId,
};
use tauri::{AppHandle, Manager};
use tauri_plugin_notification::{Action, ActionType, NotificationExt};

use crate::core::Core;
use crate::windows;

const APPROVAL_TYPE: &str = "stageline-approval";
const FAILURE_TYPE: &str = "stageline-failure";

/// Registers the notification actions and what they do.
pub fn register(app: &AppHandle) -> tauri::Result<()> {
    let notifications = app.notification();
    let approve = Action::builder("approve", "Approve").build();
    let types = vec![
        ActionType::builder(APPROVAL_TYPE)
            .actions(vec![approve])
            .build(),
        ActionType::builder(FAILURE_TYPE).build(),
    ];
    let _ = notifications.register_action_types(types);
    app.manage(ShownApprovals::default());
    let handle = app.clone();
    let _ = notifications.on_action(move |performed| {
        let Some(notification) = performed.notification() else {
            return;
        };
        let number = |key: &str| notification.extra().get(key).and_then(|v| v.as_i64());
        match (
            performed.action_id(),
            number("approvalId"),
            number("stageId"),
        ) {
            ("approve", Some(approval), _) => {
                approve_from_notification(&handle, ApprovalId(approval))
            }
            (_, Some(approval), _) => windows::show_approval(&handle, approval),
            (_, None, Some(stage)) => open_stage(&handle, StageId(stage)),
            _ => windows::show_main(&handle),
        }
    });
    Ok(())
}

fn approve_from_notification(app: &AppHandle, approval: ApprovalId) {
    let Some(core) = app.try_state::<Arc<Core>>().map(|c| c.inner().clone()) else {
        return;
    };
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let decided = crate::services::team::decide(
            &core,
            approval,
            true,
            String::new(),
            DecisionSource::Notification,
        )
        .await;
        if let Err(error) = decided {
            // Superseded or already decided: show the dashboard, which says why.
            let _ = app
                .notification()
                .builder()
                .title("Not approved")
                .body(error.to_string())
                .show();
        }
    });
}

fn open_stage(app: &AppHandle, stage: StageId) {
    let Some(core) = app.try_state::<Arc<Core>>().map(|c| c.inner().clone()) else {
        return;
    };
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Ok(Some(title)) = crate::services::stages::window_title(&core, stage).await {
            let _ = windows::open_stage_window(&app, stage, &title);
        }
    });
}

/// The approval notifications on screen, by stage (one approval waits per stage, R16).
#[derive(Default)]
pub struct ShownApprovals(Mutex<HashMap<StageId, (ApprovalId, ReleaseId)>>);

fn shown(app: &AppHandle) -> std::sync::MutexGuard<'_, HashMap<StageId, (ApprovalId, ReleaseId)>> {
    app.state::<ShownApprovals>()
        .inner()
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// The notification id of an approval, so it can be withdrawn.
fn notification_id(approval: ApprovalId) -> i32 {
    (approval.0 % i64::from(i32::MAX)) as i32
}

/// Closes the approval notification shown for a stage (only if it is about
/// `release`, when given).
fn withdraw(app: &AppHandle, stage: StageId, release: Option<ReleaseId>) {
    let mut shown = shown(app);
    let matches = shown
        .get(&stage)
        .is_some_and(|(_, r)| release.is_none_or(|wanted| wanted == *r));
    if let (true, Some((approval, _))) = (matches, shown.remove(&stage)) {
        let _ = app
            .notification()
            .remove_active(vec![notification_id(approval)]);
    }
}

/// Shows the notification an event deserves, if any.
pub fn notify(app: &AppHandle, event: &PipelineEvent) {
    let Some(core) = app.try_state::<Arc<Core>>().map(|c| c.inner().clone()) else {
        return;
    };
    match event {
        // A decided or superseded approval's notification no longer offers anything.
        PipelineEvent::ApprovalDecided { approval } => {
            withdraw(app, approval.stage_id, Some(approval.release_id))
        }
        PipelineEvent::ReleaseSuperseded {
            stage_id,
            release_id,
            ..
        } => withdraw(app, *stage_id, Some(*release_id)),
        PipelineEvent::ApprovalRequested { approval, release } => {
            let approval = approval.clone();
            let release = release.clone();
            withdraw(app, approval.stage_id, None);
            shown(app).insert(approval.stage_id, (approval.id, approval.release_id));
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let stage_id = approval.stage_id;
                let Ok(Some(where_)) = core
                    .pipeline
                    .read(move |s| {
                        let stage = s.stage(stage_id)?;
                        Some(format!(
                            "{} · {}",
                            s.stack(stage.stack_id)?.name,
                            stage.settings.name
                        ))
                    })
                    .await
                else {
                    return;
                };
                let _ = app
                    .notification()
                    .builder()
                    .title(format!("Approve release to {where_}?"))
                    .body(format!(
                        "{} {}",
                        release.commit.short_sha(),
                        release.commit.message
                    ))
                    .id(notification_id(approval.id))
                    .action_type_id(APPROVAL_TYPE)
                    .extra("approvalId", approval.id.0)
                    .show();
            });
        }
        PipelineEvent::RunFinished { run } if run.status == RunStatus::Failed => {
            let run = run.clone();
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let stage_id = run.stage_id;
                let Ok(Some(title)) = crate::services::stages::window_title(&core, stage_id).await
                else {
                    return;
                };
                let reason = run
                    .parts
                    .iter()
                    .find_map(|p| p.message.clone())
                    .unwrap_or_default();
                let _ = app
                    .notification()
                    .builder()
                    .title(format!("Run failed: {title}"))
                    .body(reason)
                    .action_type_id(FAILURE_TYPE)
                    .extra("stageId", stage_id.0)
                    .show();
            });
        }
        // R19: the stage rolled back by itself; clicking opens the stage,
        // whose history shows the failed run's verify log.
        PipelineEvent::RunStarted { run } => {
            let RunTrigger::Rollback { reason, .. } = &run.trigger else {
                return;
            };
            let (stage_id, reason) = (run.stage_id, reason.clone());
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let Ok(Some(title)) = crate::services::stages::window_title(&core, stage_id).await
                else {
                    return;
                };
                let _ = app
                    .notification()
                    .builder()
                    .title(format!("Rolled back: {title}"))
                    .body(reason)
                    .action_type_id(FAILURE_TYPE)
                    .extra("stageId", stage_id.0)
                    .show();
            });
        }
        _ => {}
    }
}
