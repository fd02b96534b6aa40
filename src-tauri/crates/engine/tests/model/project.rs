//! What two runs of a sequence must agree on, without ids or times (a
//! restart legitimately mints other ids): stages by name, releases by their
//! place in the order they were made, runs and approvals as multisets.

use std::collections::{BTreeMap, HashMap};

use stageline_engine::ports::Request;
use stageline_engine::*;

use super::harness::{Harness, STACK};

/// The state of one run of a sequence, as both runs must see it.
#[derive(Debug, PartialEq, Eq)]
pub struct Projection {
    /// Per stage in position order: name, lifecycle, approval, desired count,
    /// deployed, waiting, reached, pending approval, running run.
    stages: Vec<String>,
    runs: Vec<String>,
    approvals: Vec<String>,
    requests: Vec<String>,
    releases: Vec<String>,
    /// What AWS runs per stage, and how many deploys it completed per stage and release.
    aws: BTreeMap<String, String>,
    deploys: BTreeMap<String, u32>,
    scaled: BTreeMap<String, u32>,
}

fn trigger(t: &RunTrigger) -> String {
    match t {
        RunTrigger::Flow => "flow".into(),
        RunTrigger::NewStage => "newStage".into(),
        RunTrigger::Retry { flows_on, decision } => {
            format!("retry(flows {flows_on}, {})", decision.comment)
        }
        RunTrigger::Redeploy { decision } => format!("redeploy({})", decision.comment),
        RunTrigger::Rollback { reason, .. } => format!("rollback({reason})"),
    }
}

/// The projection of a harness.
pub fn project(h: &Harness) -> Projection {
    let store = &h.world.store;
    let state = h.state();
    let mut releases = store.releases();
    releases.sort_by_key(|r| r.id);
    let labels: HashMap<ReleaseId, String> = releases
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                r.id,
                format!("r{i}:{}", &r.commit.sha[r.commit.sha.len() - 3..]),
            )
        })
        .collect();
    let label = |id: Option<ReleaseId>| {
        id.map(|id| {
            labels
                .get(&id)
                .cloned()
                .unwrap_or_else(|| format!("unknown {id}"))
        })
        .unwrap_or_else(|| "-".into())
    };
    let name = |id: StageId| {
        h.names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("unnamed {id}"))
    };
    let run_text = |r: &Run| {
        let parts: Vec<String> = r.parts.iter().map(|p| format!("{:?}", p.status)).collect();
        format!(
            "{} {} {} {:?} [{}]",
            name(r.stage_id),
            label(Some(r.release_id)),
            trigger(&r.trigger),
            r.status,
            parts.join(" ")
        )
    };
    let stages = state
        .stages_of(STACK)
        .iter()
        .map(|s| {
            let flow = state.flow(s.id);
            format!(
                "{} {:?} manual={} count={} deployed={} waiting={} reached={} pending={} running={}",
                s.settings.name,
                s.lifecycle,
                s.settings.requires_approval,
                s.settings.desired_count,
                label(flow.deployed),
                label(flow.waiting),
                label(state.reached(s.id)),
                label(state.pending_at(s.id).map(|a| a.release_id)),
                state
                    .running_at(s.id)
                    .map(&run_text)
                    .unwrap_or_else(|| "-".into()),
            )
        })
        .collect();
    let mut runs: Vec<String> = store.runs().iter().map(run_text).collect();
    runs.sort();
    let mut approvals: Vec<String> = store
        .approvals()
        .iter()
        .map(|a| {
            format!(
                "{} {} {:?} {:?}",
                name(a.stage_id),
                label(Some(a.release_id)),
                a.status,
                a.decision.as_ref().map(|d| (&d.by, &d.comment, d.via))
            )
        })
        .collect();
    approvals.sort();
    let mut requests: Vec<String> = store
        .requests()
        .iter()
        .map(|r| match r {
            Request::FirstDeploy { stage_id } => format!("{} first deploy", name(*stage_id)),
            Request::Scale { stage_id, count } => format!("{} scale to {count}", name(*stage_id)),
        })
        .collect();
    requests.sort();
    let mut deploys = BTreeMap::new();
    let all_runs = store.runs();
    for (run_id, count) in &h.world.deploys {
        if let Some(run) = all_runs.iter().find(|r| r.id == *run_id) {
            let key = format!("{} {}", name(run.stage_id), label(Some(run.release_id)));
            *deploys.entry(key).or_insert(0) += count;
        }
    }
    Projection {
        stages,
        runs,
        approvals,
        requests,
        releases: releases
            .iter()
            .map(|r| format!("{} built={}", label(Some(r.id)), r.artifact.is_some()))
            .collect(),
        aws: h
            .world
            .aws
            .iter()
            .map(|(stage, release)| (name(*stage), label(Some(*release))))
            .collect(),
        deploys,
        scaled: h
            .world
            .scaled
            .iter()
            .map(|(stage, count)| (name(*stage), *count))
            .collect(),
    }
}

/// R17: the run with restarts ends every step as the run without them.
pub fn compare(reference: &Harness, subject: &Harness) -> Result<(), String> {
    let (a, b) = (project(reference), project(subject));
    if a == b {
        return Ok(());
    }
    let (a, b) = (format!("{a:#?}"), format!("{b:#?}"));
    let first = a
        .lines()
        .zip(b.lines())
        .find(|(x, y)| x != y)
        .map(|(x, y)| {
            format!(
                "without restarts: {}\n   with restarts: {}",
                x.trim(),
                y.trim()
            )
        })
        .unwrap_or_default();
    Err(format!(
        "after restarts the state differs from the run without them:\n{first}\n\nwithout restarts {a}\nwith restarts {b}"
    ))
}
