//! Team stacks (R22): the pure rules several desktops follow to share one
//! stack — who may run a stage (the lease and its fencing number) and who may
//! decide an approval (the stage's approval policy). The team crate stores
//! these in S3 with conditional writes; nothing here does IO or reads a clock.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::ids::Millis;
use crate::validation::FieldErrors;

/// How long a lease lasts from its last renewal. A holder renews it every
/// [`LEASE_RENEW_EVERY`] while it runs, so a desktop that sleeps or crashes
/// frees its stages within this time.
pub const LEASE_TTL: Millis = 60_000;
/// How often a holder renews its leases.
pub const LEASE_RENEW_EVERY: Millis = 15_000;
/// A holder starts no effect when less than this is left of its lease: the
/// effect's first request must reach AWS while the lease is certainly held.
pub const LEASE_SAFETY_MARGIN: Millis = 20_000;

/// How long leases last and when their holder stops starting effects
/// (the constants above; tests shorten them to run a takeover in seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimes {
    pub ttl: Millis,
    pub renew_every: Millis,
    pub safety_margin: Millis,
}

impl Default for LeaseTimes {
    fn default() -> Self {
        LeaseTimes {
            ttl: LEASE_TTL,
            renew_every: LEASE_RENEW_EVERY,
            safety_margin: LEASE_SAFETY_MARGIN,
        }
    }
}

/// The right of one desktop to run one stage, as stored in the team's bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// The desktop holding it (its install id, not a person).
    pub holder: String,
    /// Grows by one each time the lease changes hands (never on renewal):
    /// written on every change set the holder makes, so a CloudFormation stack
    /// tells which holder touched it last, and a stale holder is refused.
    pub fencing: u64,
    /// The holder's clock when it last took or renewed the lease, plus the TTL.
    pub expires_at: Millis,
    /// The run it is for, so a desktop taking over knows what to reconcile.
    #[serde(default)]
    pub run_id: Option<String>,
}

/// What a desktop does next about a stage's lease, given what it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseStep {
    /// Nobody ever held it: create it (create-only write).
    Create(Lease),
    /// It holds it: write the renewed lease over the one it read.
    Renew(Lease),
    /// The holder let it expire: write a lease with the next fencing number
    /// over the one read, then reconcile the stage with CloudFormation before
    /// any effect (R17 across machines).
    TakeOver { lease: Lease, from: String },
    /// Someone else holds it: ask again after `until`.
    Wait { holder: String, until: Millis },
}

/// The next step for desktop `me` on a stage whose lease is `current`
/// (`None`: the lease object does not exist).
///
/// A lease is taken over only once `now` is past its `expires_at`; a desktop
/// whose clock runs ahead could take it early, which is why every effect is
/// also fenced (see [`may_start_effect`]) and CloudFormation refuses a change
/// set whose fencing number is below the stack's.
pub fn next_lease_step(
    current: Option<&Lease>,
    me: &str,
    run_id: Option<&str>,
    now: Millis,
    ttl: Millis,
) -> LeaseStep {
    let lease = |fencing| Lease {
        holder: me.to_string(),
        fencing,
        expires_at: now + ttl,
        run_id: run_id.map(str::to_string),
    };
    match current {
        None => LeaseStep::Create(lease(1)),
        Some(held) if held.holder == me => LeaseStep::Renew(lease(held.fencing)),
        Some(held) if now > held.expires_at => LeaseStep::TakeOver {
            lease: lease(held.fencing + 1),
            from: held.holder.clone(),
        },
        Some(held) => LeaseStep::Wait {
            holder: held.holder.clone(),
            until: held.expires_at,
        },
    }
}

/// Whether the holder of `lease` with fencing number `fencing` may start an
/// effect at `now` (a change set, an execute, a scale): only with the lease it
/// was granted, and with enough of it left.
pub fn may_start_effect(
    lease: &Lease,
    me: &str,
    fencing: u64,
    now: Millis,
    safety_margin: Millis,
) -> bool {
    lease.holder == me && lease.fencing == fencing && now + safety_margin < lease.expires_at
}

/// Whether a change set written by fencing number `mine` may run on a stack
/// whose last change was made under `stack_fencing` (`None`: never fenced).
pub fn fence_admits(mine: u64, stack_fencing: Option<u64>) -> bool {
    stack_fencing.is_none_or(|last| mine >= last)
}

/// Who may decide a stage's approvals on a team stack. Empty `approvers`
/// means anyone with access to the team's bucket.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ApprovalPolicy {
    /// AWS principal ARN patterns; `*` matches any run of characters
    /// (`arn:aws:sts::123456789012:assumed-role/Release/*`).
    #[serde(default)]
    pub approvers: Vec<String>,
    /// The principal who started the release, or whose name is the commit
    /// author's e-mail, cannot approve it.
    #[serde(default)]
    pub no_self_approval: bool,
}

impl ApprovalPolicy {
    /// The policy as typed, without blank lines or spaces around each ARN.
    pub fn tidied(self) -> Self {
        ApprovalPolicy {
            approvers: self
                .approvers
                .iter()
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect(),
            ..self
        }
    }
}

/// Most approver patterns a stage may list.
pub const MAX_APPROVER_PATTERNS: usize = 50;

/// Checks a policy, field by field (`approvalPolicy.approvers.N`).
pub fn check_approval_policy(policy: &ApprovalPolicy, errors: &mut FieldErrors) {
    if policy.approvers.len() > MAX_APPROVER_PATTERNS {
        errors.add(
            "approvalPolicy.approvers",
            format!("List at most {MAX_APPROVER_PATTERNS} approvers."),
        );
    }
    for (index, pattern) in policy.approvers.iter().enumerate() {
        let field = format!("approvalPolicy.approvers.{index}");
        if !pattern.starts_with("arn:") || pattern.split(':').count() < 6 {
            errors.add(
                field,
                "An approver is an AWS principal ARN such as arn:aws:iam::123456789012:user/alice (a * matches any part).",
            );
        } else if pattern.chars().any(char::is_whitespace) {
            errors.add(field, "An approver ARN has no spaces.");
        }
    }
}

/// The AWS principal deciding, and who the release came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequestParties<'a> {
    /// The decider's ARN (`sts:GetCallerIdentity`).
    pub approver: &'a str,
    /// The principal of the desktop that made the release, if known.
    pub release_started_by: Option<&'a str>,
    /// The commit author's e-mail.
    pub commit_author_email: &'a str,
}

/// Why a decision is refused by the stage's policy (shown to the user as is).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefusal {
    #[error("You started this release ({0}); this stage does not accept self-approval. Ask a teammate to approve it.")]
    SelfApproval(String),
    #[error("{0} is not one of this stage's approvers. Ask an approver, or change the stage's approval policy.")]
    NotAnApprover(String),
}

/// Whether the policy lets `parties.approver` approve. Rejecting is always
/// allowed (anyone may stop a release), so this is asked only for approvals.
pub fn check_approver(
    policy: &ApprovalPolicy,
    parties: &ApprovalRequestParties<'_>,
) -> Result<(), PolicyRefusal> {
    let approver = parties.approver;
    if policy.no_self_approval {
        let started_it = parties.release_started_by == Some(approver);
        let authored_it = !parties.commit_author_email.is_empty()
            && principal_name(approver).eq_ignore_ascii_case(parties.commit_author_email);
        if started_it || authored_it {
            return Err(PolicyRefusal::SelfApproval(approver.to_string()));
        }
    }
    if !policy.approvers.is_empty() && !policy.approvers.iter().any(|p| arn_matches(p, approver)) {
        return Err(PolicyRefusal::NotAnApprover(approver.to_string()));
    }
    Ok(())
}

/// The last part of a principal ARN: the user name, or an assumed role's
/// session name (an e-mail for IAM Identity Center sign-ins).
pub fn principal_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Glob match where `*` matches any run of characters (IAM's own rule for
/// ARNs in policies), case-sensitive as ARNs are.
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = (parts[0], &parts[1..]);
    let Some(mut remaining) = arn.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for part in middle {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.ends_with(last)
}

/// One part of one run, named as every desktop of the team names it: by the
/// stage's name and the release's commit, never by local ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SharedPart {
    pub stack_id: crate::ids::StackId,
    /// Which lease the part needs: a stage's (`stages/<name>`) or the
    /// stack's builds (`builds`), one build at a time across desktops.
    pub lease: String,
    /// The run, as others know it: the commit for a run the flow started
    /// (every desktop starts it), or a key only this desktop knows (a retry
    /// or redeploy someone asked for here).
    pub run_key: String,
    pub kind: crate::domain::PartKind,
}

/// A part's result, as another desktop adopts it instead of running the part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SharedResult {
    Built {
        image: String,
    },
    Released {
        image: String,
        access: crate::domain::BuildAccess,
    },
    Deployed {
        unchanged: bool,
    },
    Verified,
    Failed {
        message: String,
    },
}

/// R22: the lease a part of a team stack runs under. A deploy tags the
/// stage's CloudFormation stack with its number and, just before it
/// executes a change set, asks whether the lease is still held and whether
/// the stack was touched under a later lease: a desktop that slept past its
/// lease never executes a stale change set.
#[derive(Clone)]
pub struct Fence {
    /// The lease's fencing number.
    pub number: u64,
    /// Whether this desktop still holds the lease, with time to spare.
    pub held: std::sync::Arc<dyn Fn() -> bool + Send + Sync>,
}

impl std::fmt::Debug for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fence")
            .field("number", &self.number)
            .finish()
    }
}

impl PartialEq for Fence {
    fn eq(&self, other: &Self) -> bool {
        self.number == other.number
    }
}

impl Eq for Fence {}

/// The stack tag holding the fencing number of the last change set made.
pub const FENCING_TAG: &str = "stageline:fencing";

/// Why a fenced change set is not executed, if it may not be.
pub fn fence_refusal(fence: &Fence, stack_tags: &[(String, String)]) -> Option<String> {
    if !(fence.held)() {
        return Some(
            "This desktop's lease on the stage ran out before its change set could run (a teammate's desktop may have taken over); the change set is not executed.".into(),
        );
    }
    let last = stack_tags
        .iter()
        .find(|(key, _)| key == FENCING_TAG)
        .and_then(|(_, value)| value.parse::<u64>().ok());
    (!fence_admits(fence.number, last)).then(|| {
        format!(
            "A teammate's desktop changed this stage's stack under a later lease ({} > {}); this desktop's change set is not executed.",
            last.unwrap_or_default(),
            fence.number
        )
    })
}

/// Whose turn a part is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// This desktop runs it. `taken_over`: from a desktop whose lease
    /// expired mid-run, so a deploy first finds out what that one did (R17).
    /// `fence`: the lease it runs under (`None` for a solo stack).
    Mine {
        taken_over: bool,
        fence: Option<Fence>,
    },
    /// Another desktop ran it: adopt its result.
    Theirs(SharedResult),
}

/// R22: which desktop runs each part of a team stack. For a solo stack the
/// answer is always this one, at once.
pub trait PartCoordinator: Send + Sync {
    /// Waits until this desktop holds the part's lease (renewed while it
    /// runs), or until another desktop's result of the part is known.
    /// `waiting` is called when it starts waiting for a teammate's desktop.
    fn turn(
        &self,
        part: SharedPart,
        log: std::sync::Arc<dyn crate::ports::LogSink>,
        waiting: WaitingNotice,
    ) -> crate::ports::BoxFuture<'static, Result<Turn, crate::PortError>>;
    /// Shares this desktop's result of a part it ran, with its log (the
    /// end of it, as `Logs::text` gives it), and gives the lease up.
    fn finished(
        &self,
        part: SharedPart,
        result: SharedResult,
        log: Option<String>,
    ) -> crate::ports::BoxFuture<'static, Result<(), crate::PortError>>;
    /// Shares the summary of a team stack's run that ended on this desktop
    /// (`stack_id`'s history). Solo stacks share nothing.
    fn run_finished(
        &self,
        _stack_id: crate::ids::StackId,
        _summary: SharedRunSummary,
    ) -> crate::ports::BoxFuture<'static, Result<(), crate::PortError>> {
        Box::pin(async { Ok(()) })
    }
}

/// A finished run of a team stack as its desktop shares it, so teammates'
/// stage windows show runs their own desktops did not make (a rollback or a
/// retry asked for there, a release that passed while they were offline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SharedRunSummary {
    /// The run as every desktop names it (`run_key`).
    pub run_key: String,
    pub stage_name: String,
    pub commit: crate::domain::Commit,
    pub status: crate::domain::RunStatus,
    pub trigger: crate::domain::RunTrigger,
    pub parts: Vec<crate::domain::Part>,
    pub created_at: Millis,
    pub finished_at: Millis,
    /// The image it deployed (`repo@sha256:…`), when it got that far.
    pub image: Option<String>,
}

/// A run as every desktop names it: runs the flow started are started by
/// every desktop alike (the commit names them); a retry, redeploy or
/// rollback asked for on a desktop is known by that desktop's run id.
pub fn run_key(run: &crate::domain::Run, sha: &str) -> String {
    if let Some(key) = &run.followed_from {
        return key.clone();
    }
    match run.trigger {
        crate::domain::RunTrigger::Flow | crate::domain::RunTrigger::NewStage => sha.to_string(),
        _ => format!("{sha}-here-{}", run.id),
    }
}

/// Told once when a part's turn waits for a teammate's desktop.
pub type WaitingNotice = std::sync::Arc<dyn Fn() + Send + Sync>;

/// How much of a part's log is shared with the team when it ends (its end:
/// where a failure is).
pub const SHARED_LOG_BYTES: usize = 4 * 1024 * 1024;

/// Every stack is solo: every part is this desktop's.
#[derive(Debug, Clone, Copy, Default)]
pub struct SoloCoordinator;

impl PartCoordinator for SoloCoordinator {
    fn turn(
        &self,
        _part: SharedPart,
        _log: std::sync::Arc<dyn crate::ports::LogSink>,
        _waiting: WaitingNotice,
    ) -> crate::ports::BoxFuture<'static, Result<Turn, crate::PortError>> {
        Box::pin(async {
            Ok(Turn::Mine {
                taken_over: false,
                fence: None,
            })
        })
    }

    fn finished(
        &self,
        _part: SharedPart,
        _result: SharedResult,
        _log: Option<String>,
    ) -> crate::ports::BoxFuture<'static, Result<(), crate::PortError>> {
        Box::pin(async { Ok(()) })
    }
}

/// How far a desktop's clock may be off S3's before it runs no team stage:
/// half the leases' safety margin, so a desktop that runs is never off by
/// as much as the margin a holder keeps before its lease's end.
pub const MAX_CLOCK_SKEW: Millis = 10_000;

/// Why this desktop takes and renews no lease, given how far its clock is
/// ahead of S3's (`skew`, negative when behind; `None` before S3 answered).
/// It still syncs, shows, approves and rejects: only running waits.
pub fn clock_refusal(skew: Option<Millis>) -> Option<String> {
    let skew = skew?;
    if skew.abs() <= MAX_CLOCK_SKEW {
        return None;
    }
    let (seconds, way) = (
        (skew.abs() + 500) / 1_000,
        if skew > 0 { "ahead of" } else { "behind" },
    );
    Some(format!(
        "This computer's clock is {seconds} s {way} AWS's; your teammates' desktops run this team stack's stages until it is set right (turn on automatic time)."
    ))
}

/// How often a desktop looks at the team's state while one of its team
/// stacks runs a part or waits for a decision: a teammate's result,
/// decision or new stage matters within seconds.
pub const TEAM_POLL_BUSY: Millis = 3_000;

/// How often it looks while every team stack is idle: each look is a paid
/// request (the README's cost), and nothing a teammate does then is urgent.
pub const TEAM_POLL_IDLE: Millis = 30_000;

/// How often a desktop reads the team's run history to follow what
/// teammates' desktops redeployed, rolled back or retried (one listing per
/// stage: rare events, so seldom).
pub const TEAM_HISTORY_EVERY: Millis = 120_000;

/// Whether the team's state is due to be read again, `since_last` after the
/// last read, given whether a team stack here is busy (runs or waits).
pub fn team_poll_due(busy: bool, since_last: Millis) -> bool {
    since_last >= if busy { TEAM_POLL_BUSY } else { TEAM_POLL_IDLE }
}
