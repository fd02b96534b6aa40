//! R22 across desktops: two engines, each on its own SQLite file, run one
//! team stack through the team crate on moto's S3. A commit is built and
//! deployed once per stage across both; a desktop that stops dead holding
//! prod's lease mid-deploy is taken over once its lease expires, and the
//! taker reconciles before it deploys — the release ends deployed once.
//!
//! The desktops share one AWS: one deployer (the account's stacks) and its
//! image registry — except where a desktop dies mid-deploy, which has its
//! own deployer so what it left undone stays undone.

use std::sync::Arc;
use std::time::Duration;

use stageline_engine::flow::Input;
use stageline_engine::order::first_stage_settings;
use stageline_engine::pipeline::Pipeline;
use stageline_engine::ports::Store;
use stageline_engine::team::{ApprovalPolicy, LeaseTimes};
use stageline_engine::testing::*;
use stageline_engine::*;
use stageline_integration::{deployed_sha, wait_for};
use stageline_store::SqliteStore;
use stageline_team::testing::{seen_by_another_desktop, team_prefix};
use stageline_team::{SharedDecision, StageLeases, TeamApprovals, TeamCoordinator, TeamPrefix};

const STACK: StackId = StackId(2);

/// Short leases, so a takeover happens within the test.
const TIMES: LeaseTimes = LeaseTimes {
    ttl: 2_000,
    renew_every: 400,
    safety_margin: 600,
};

/// The account the desktops deploy to: its registry, and its stacks when
/// shared (`None`: each desktop has a deployer of its own).
struct Aws {
    registry: Arc<FakeRegistry>,
    deployer: Option<Arc<FakeDeployer>>,
}

impl Aws {
    fn shared() -> Aws {
        let registry = Arc::new(FakeRegistry::default());
        let deployer = Some(Arc::new(FakeDeployer::with_registry(registry.clone())));
        Aws { registry, deployer }
    }

    /// How often the account's stack for `stage` was deployed.
    fn deploys_of(&self, stage: &str) -> usize {
        let deployer = self.deployer.as_ref().expect("a shared account");
        deployer
            .deploys()
            .iter()
            .filter(|(name, _)| name == stage)
            .count()
    }

    fn deployer_per_desktop() -> Aws {
        Aws {
            registry: Arc::new(FakeRegistry::default()),
            deployer: None,
        }
    }
}

struct Desktop {
    fakes: Fakes,
    store: SqliteStore,
    pipeline: Pipeline,
    coordinator: TeamCoordinator,
    _data: tempfile::TempDir,
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A desktop with the team stack `shop` (dev, then prod) on its own store.
async fn desktop(name: &str, aws: &Aws, team: &TeamPrefix, prod_approval: bool) -> Desktop {
    let policy = prod_approval.then(ApprovalPolicy::default);
    desktop_with(name, aws, team, policy).await
}

/// A desktop whose prod asks for approval under `prod_policy` (`None`: no
/// approval at prod).
async fn desktop_with(
    name: &str,
    aws: &Aws,
    team: &TeamPrefix,
    prod_policy: Option<ApprovalPolicy>,
) -> Desktop {
    let registry = &aws.registry;
    let data = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&data.path().join("stageline.db"))
        .await
        .unwrap();
    let fakes = Fakes {
        registry: registry.clone(),
        builder: Arc::new(FakeBuilder::with_registry(registry.clone())),
        deployer: aws
            .deployer
            .clone()
            .unwrap_or_else(|| Arc::new(FakeDeployer::with_registry(registry.clone()))),
        ..Fakes::default()
    };
    let coordinator = TeamCoordinator::new(
        name,
        TIMES,
        Duration::from_millis(100),
        Arc::new(wall_clock_ms),
    );
    coordinator.share(STACK, seen_by_another_desktop(team).await);
    let mut ports = fakes.ports();
    ports.store = Arc::new(store.clone());
    ports.coordinator = Arc::new(coordinator.clone());
    let pipeline = Pipeline::start(ports, test_config()).await.unwrap();
    pipeline
        .send(Input::PutAccount(test_account(1)))
        .await
        .unwrap();
    let stack = test_stack(STACK.0, "shop", AccountId(1));
    pipeline
        .send(Input::CreateStack {
            stack,
            first_region: "us-east-1".into(),
            watch: true,
        })
        .await
        .unwrap();
    let dev = pipeline.read(|s| s.flow_of(STACK)[0].id).await.unwrap();
    let mut prod = first_stage_settings("us-east-1");
    prod.name = "prod".into();
    prod.requires_approval = prod_policy.is_some();
    prod.approval_policy = prod_policy.unwrap_or_default();
    pipeline
        .send(Input::CreateStage {
            stack_id: STACK,
            after: Some(dev),
            settings: prod,
        })
        .await
        .unwrap();
    Desktop {
        fakes,
        store,
        pipeline,
        coordinator,
        _data: data,
    }
}

impl Desktop {
    async fn commit(&self, n: u32) {
        self.fakes.source.set_head(STACK, commit(n));
        let input = Input::CommitDetected {
            stack_id: STACK,
            head: commit(n),
            included: vec![],
            forced: false,
        };
        self.pipeline.send(input).await.unwrap();
    }

    async fn wait_deployed(&self, stage: &'static str, n: u32) {
        let sha = commit(n).sha;
        wait_for(
            &self.pipeline,
            &format!("{stage} runs commit {n}"),
            30,
            move |s| deployed_sha(s, STACK, stage).as_deref() == Some(sha.as_str()),
        )
        .await;
    }

    fn deploys_of(&self, stage: &str) -> usize {
        self.fakes
            .deployer
            .deploys()
            .iter()
            .filter(|(name, _)| name == stage)
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_is_built_and_deployed_once_per_stage_across_two_desktops() {
    let team = team_prefix("once").await;
    let aws = Aws::shared();
    let laptop = desktop("laptop", &aws, &team, false).await;
    let desk = desktop("desk", &aws, &team, false).await;
    // Both watch the branch and see the commit at once.
    tokio::join!(laptop.commit(1), desk.commit(1));
    for desktop in [&laptop, &desk] {
        desktop.wait_deployed("dev", 1).await;
        desktop.wait_deployed("prod", 1).await;
    }
    let builds =
        laptop.fakes.builder.count(PartKind::Build) + desk.fakes.builder.count(PartKind::Build);
    assert_eq!(builds, 1, "one build of the commit");
    for stage in ["dev", "prod"] {
        assert_eq!(aws.deploys_of(stage), 1, "{stage} deployed once");
    }
    // Each desktop's logs of the parts show what ran, wherever it ran: the
    // teammate's log is copied in with the result.
    let sha = &commit(1).sha[..7];
    for desktop in [&laptop, &desk] {
        let logs = desktop.fakes.logs.all_text();
        assert!(logs.contains(&format!("build of {sha} at dev")), "{logs}");
    }
    let copied = [&laptop, &desk]
        .iter()
        .filter(|d| {
            d.fakes
                .logs
                .all_text()
                .contains("The log of the teammate's desktop")
        })
        .count();
    assert!(
        copied >= 1,
        "the desktop that did not build has the builder's log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_desktop_that_stops_mid_deploy_is_taken_over_and_the_release_deploys_once() {
    let team = team_prefix("takeover").await;
    let aws = Aws::deployer_per_desktop();
    let laptop = desktop("laptop", &aws, &team, false).await;
    // The laptop alone sees the commit, and is mid-deploy of prod…
    laptop.fakes.deployer.hold("prod");
    laptop.commit(1).await;
    laptop.wait_deployed("dev", 1).await;
    wait_for(&laptop.pipeline, "prod deploys", 30, |s| {
        let prod = s
            .stages_of(STACK)
            .into_iter()
            .find(|st| st.settings.name == "prod")
            .unwrap();
        s.latest_run(prod.id)
            .is_some_and(|r| r.part(PartKind::Deploy).status == PartStatus::Running)
    })
    .await;
    // Its release part gave prod's lease up before the deploy began: the
    // lease naming the run now is the deploy's.
    let leases = StageLeases::new(seen_by_another_desktop(&team).await, "observer");
    let sha = commit(1).sha;
    let started = std::time::Instant::now();
    while leases
        .current("stages/prod")
        .await
        .unwrap()
        .and_then(|l| l.run_id)
        != Some(sha.clone())
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the laptop takes prod's lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // …when it stops dead: no more renewals, no more deploys.
    laptop.coordinator.stop_renewing();
    let laptop_deployer = laptop.fakes.deployer.clone();
    drop(laptop);

    let desk = desktop("desk", &aws, &team, false).await;
    desk.commit(1).await;
    desk.wait_deployed("dev", 1).await;
    desk.wait_deployed("prod", 1).await;
    assert_eq!(
        desk.deploys_of("dev"),
        0,
        "dev's deploy was the laptop's, adopted"
    );
    assert_eq!(
        desk.fakes.builder.count(PartKind::Build),
        0,
        "the laptop's build, adopted"
    );
    let prod_deploys = desk.deploys_of("prod")
        + laptop_deployer
            .deploys()
            .iter()
            .filter(|(n, _)| n == "prod")
            .count();
    assert_eq!(prod_deploys, 1, "prod deployed once, by the desk");
    assert_eq!(
        desk.fakes.deployer.reconciles(),
        1,
        "the desk checked what the laptop did first"
    );
}

const SAM: &str = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Release/sam@example.com";
const KIM: &str = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Release/kim@example.com";

fn by(principal: &str, approved: bool, comment: &str) -> SharedDecision {
    SharedDecision {
        approved,
        by: principal.into(),
        at: wall_clock_ms(),
        comment: comment.into(),
    }
}

async fn prod_approval(desktop: &Desktop) -> ApprovalId {
    wait_for(&desktop.pipeline, "prod asks for approval", 30, |s| {
        s.pending_approvals().next().is_some()
    })
    .await;
    desktop
        .pipeline
        .read(|s| s.pending_approvals().next().unwrap().id)
        .await
        .unwrap()
}

/// Two desktops whose prod waits for approval of commit 1, which Sam has
/// just approved on the laptop (the desk has not synced yet).
struct AtProdsGate {
    aws: Aws,
    laptop: Desktop,
    desk: Desktop,
    on_desk: TeamApprovals,
    desk_approval: ApprovalId,
}

async fn approved_by_sam_on_the_laptop(label: &str, comment: &str) -> AtProdsGate {
    let team = team_prefix(label).await;
    let aws = Aws::shared();
    let laptop = desktop("laptop", &aws, &team, true).await;
    let desk = desktop("desk", &aws, &team, true).await;
    let (on_laptop, on_desk) = (
        TeamApprovals::new(laptop.coordinator.clone()),
        TeamApprovals::new(desk.coordinator.clone()),
    );
    tokio::join!(laptop.commit(1), desk.commit(1));
    let (laptop_approval, desk_approval) =
        (prod_approval(&laptop).await, prod_approval(&desk).await);
    on_laptop
        .decide(
            &laptop.pipeline,
            laptop_approval,
            by(SAM, true, comment),
            DecisionSource::Dashboard,
        )
        .await
        .unwrap();
    AtProdsGate {
        aws,
        laptop,
        desk,
        on_desk,
        desk_approval,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approval_made_on_one_desktop_is_decided_on_the_other_within_seconds() {
    let AtProdsGate {
        aws,
        laptop,
        desk,
        on_desk,
        desk_approval,
        ..
    } = approved_by_sam_on_the_laptop("approve", "canary looks good").await;
    // The desk's sync applies Sam's approval.
    let started = std::time::Instant::now();
    loop {
        on_desk.sync_once(&desk.pipeline).await.unwrap();
        if desk
            .pipeline
            .read(|s| s.pending_approvals().next().is_none())
            .await
            .unwrap()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the desk sees the decision"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for desktop in [&laptop, &desk] {
        desktop.wait_deployed("prod", 1).await;
    }
    assert_eq!(aws.deploys_of("prod"), 1, "prod deployed once");
    // The desk records who decided, by their AWS principal, and where.
    let record = desk
        .store
        .approval(desk_approval)
        .await
        .unwrap()
        .unwrap()
        .decision
        .unwrap();
    assert_eq!(
        (record.by.as_str(), record.via, record.comment.as_str()),
        (SAM, DecisionSource::Teammate, "canary looks good")
    );
    // Kim, on the desk, comes too late: the first decision stands everywhere.
    let late = on_desk
        .decide(
            &desk.pipeline,
            desk_approval,
            by(KIM, false, "wait"),
            DecisionSource::Dashboard,
        )
        .await
        .unwrap_err();
    assert!(
        late.to_string()
            .contains("This approval was already decided"),
        "{late}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deciding_after_a_teammate_decided_applies_their_decision_and_says_so() {
    let AtProdsGate {
        aws,
        desk,
        on_desk,
        desk_approval,
        ..
    } = approved_by_sam_on_the_laptop("late", "").await;
    // The desk has not synced yet: Kim rejects, and learns Sam was first.
    let late = on_desk
        .decide(
            &desk.pipeline,
            desk_approval,
            by(KIM, false, "wait"),
            DecisionSource::Dashboard,
        )
        .await
        .unwrap_err();
    assert_eq!(
        late.to_string(),
        format!("{SAM} already approved this release on their desktop.")
    );
    desk.wait_deployed("prod", 1).await;
    let decision = desk
        .store
        .approval(desk_approval)
        .await
        .unwrap()
        .unwrap()
        .decision
        .unwrap();
    assert_eq!(
        (decision.by.as_str(), decision.via),
        (SAM, DecisionSource::Teammate)
    );
    assert_eq!(aws.deploys_of("prod"), 1, "prod deployed once");
}

/// R22: the approval policy is a setting of the stage, written into the
/// shared request, so every desktop asks the same one: an approver outside
/// it and the commit's own author are refused with clear errors and nothing
/// is decided; an approver inside it decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stages_approval_policy_refuses_outsiders_and_the_author_with_clear_errors() {
    const OUTSIDER: &str = "arn:aws:iam::123456789012:user/ci-bot";
    // `commit(1)` is Ada's (ada@example.com): her SSO session name.
    const ADA: &str =
        "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Release/ada@example.com";
    let team = team_prefix("stage-policy").await;
    let aws = Aws::shared();
    let policy = ApprovalPolicy {
        approvers: vec!["arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Release/*".into()],
        no_self_approval: true,
    };
    let laptop = desktop_with("laptop", &aws, &team, Some(policy)).await;
    let on_laptop = TeamApprovals::new(laptop.coordinator.clone());
    laptop.commit(1).await;
    let approval = prod_approval(&laptop).await;
    let approve_as = |who: &'static str| {
        on_laptop.decide(
            &laptop.pipeline,
            approval,
            by(who, true, ""),
            DecisionSource::Dashboard,
        )
    };
    assert_eq!(
        approve_as(OUTSIDER).await.unwrap_err().to_string(),
        format!("{OUTSIDER} is not one of this stage's approvers. Ask an approver, or change the stage's approval policy.")
    );
    assert_eq!(
        approve_as(ADA).await.unwrap_err().to_string(),
        format!("You started this release ({ADA}); this stage does not accept self-approval. Ask a teammate to approve it.")
    );
    let still_pending = laptop
        .pipeline
        .read(move |s| s.pending_approvals().any(|a| a.id == approval))
        .await
        .unwrap();
    assert!(still_pending, "a refused decision decides nothing");
    assert_eq!(aws.deploys_of("prod"), 0);
    approve_as(SAM).await.unwrap();
    laptop.wait_deployed("prod", 1).await;
    assert_eq!(aws.deploys_of("prod"), 1, "prod deployed once");
}

impl Desktop {
    /// The stack here is marked shared at `team` (as "Share" and "Join" do).
    async fn mark_shared(&self, team: &TeamPrefix) {
        let place = TeamPlace {
            bucket: team.bucket().to_string(),
            prefix: team.prefix().to_string(),
            region: "us-east-1".into(),
        };
        self.pipeline
            .send(Input::SetTeam {
                stack_id: STACK,
                team: Some(place),
                moved_secrets: Vec::new(),
            })
            .await
            .unwrap();
    }

    async fn stages(&self) -> Vec<Stage> {
        let read = |s: &stageline_engine::flow::FlowState| {
            s.flow_of(STACK).into_iter().cloned().collect::<Vec<_>>()
        };
        self.pipeline.read(read).await.unwrap()
    }

    async fn stage_names(&self) -> Vec<String> {
        let stages = self.stages().await;
        stages.into_iter().map(|s| s.settings.name).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stage_added_on_one_desktop_appears_on_the_other_and_deploys_once() {
    use stageline_team::definition::{change_stage, insert_stage, share_definition, SharedStack};
    use stageline_team::TeamDefinitions;

    let team = team_prefix("definition").await;
    let aws = Aws::shared();
    let laptop = desktop("laptop", &aws, &team, false).await;
    let desk = desktop("desk", &aws, &team, false).await;
    for desktop in [&laptop, &desk] {
        desktop.mark_shared(&team).await;
    }
    let stack = test_stack(STACK.0, "shop", AccountId(1));
    let settings: Vec<StageSettings> = laptop
        .stages()
        .await
        .into_iter()
        .map(|s| s.settings)
        .collect();
    share_definition(&team, &SharedStack::of(&stack, settings).unwrap())
        .await
        .unwrap();
    tokio::join!(laptop.commit(1), desk.commit(1));
    for desktop in [&laptop, &desk] {
        desktop.wait_deployed("prod", 1).await;
    }

    // Sam adds canary between dev and prod on the laptop: the team's
    // definition first, then the laptop's store.
    let on_laptop = TeamDefinitions::new(laptop.coordinator.clone());
    let on_desk = TeamDefinitions::new(desk.coordinator.clone());
    let dev = laptop.stages().await[0].id;
    let mut canary = first_stage_settings("us-east-1");
    canary.name = "canary".into();
    let here = Input::CreateStage {
        stack_id: STACK,
        after: Some(dev),
        settings: canary.clone(),
    };
    on_laptop
        .change(
            &laptop.pipeline,
            STACK,
            insert_stage(Some("dev".into()), canary),
            here,
        )
        .await
        .unwrap();
    assert_eq!(desk.stage_names().await, ["dev", "prod"], "not polled yet");
    on_desk.follow_once(&desk.pipeline).await.unwrap();
    assert_eq!(desk.stage_names().await, ["dev", "canary", "prod"]);
    for desktop in [&laptop, &desk] {
        desktop.wait_deployed("canary", 1).await;
    }
    assert_eq!(aws.deploys_of("canary"), 1, "the new stage deployed once");

    // Ada scales prod to 3 on the desk; the laptop follows and does not
    // scale it back.
    let prod = desk.stages().await[2].clone();
    let mut scaled = prod.settings.clone();
    scaled.desired_count = 3;
    let here = Input::Scale {
        stage_id: prod.id,
        count: 3,
    };
    on_desk
        .change(
            &desk.pipeline,
            STACK,
            change_stage(prod.settings, scaled),
            here,
        )
        .await
        .unwrap();
    on_laptop.follow_once(&laptop.pipeline).await.unwrap();
    let counts: Vec<u32> = laptop
        .stages()
        .await
        .iter()
        .map(|s| s.settings.desired_count)
        .collect();
    assert_eq!(counts[2], 3, "prod's count is the team's: {counts:?}");
    // Polling again with nothing new changes nothing.
    on_laptop.follow_once(&laptop.pipeline).await.unwrap();
    on_desk.follow_once(&desk.pipeline).await.unwrap();
    assert_eq!(laptop.stages().await.len(), 3);
    assert_eq!(aws.deploys_of("canary"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stage_deleted_on_one_desktop_waits_for_its_turn_is_torn_down_once_and_goes_from_the_other(
) {
    use stageline_team::definition::{read_definition, share_definition, SharedStack};
    use stageline_team::{LeaseAnswer, TeamChangeError, TeamDefinitions};

    let team = team_prefix("deletion").await;
    let aws = Aws::shared();
    let laptop = desktop("laptop", &aws, &team, false).await;
    let desk = desktop("desk", &aws, &team, false).await;
    for desktop in [&laptop, &desk] {
        desktop.mark_shared(&team).await;
    }
    let stack = test_stack(STACK.0, "shop", AccountId(1));
    let settings: Vec<StageSettings> = laptop
        .stages()
        .await
        .into_iter()
        .map(|s| s.settings)
        .collect();
    share_definition(&team, &SharedStack::of(&stack, settings).unwrap())
        .await
        .unwrap();
    tokio::join!(laptop.commit(1), desk.commit(1));
    for desktop in [&laptop, &desk] {
        desktop.wait_deployed("prod", 1).await;
    }
    let on_laptop = TeamDefinitions::new(laptop.coordinator.clone());
    let on_desk = TeamDefinitions::new(desk.coordinator.clone());
    let prod = laptop.stages().await[1].id;

    // A mistyped confirmation is refused before any S3 call.
    let refused = on_laptop
        .delete_stage(&laptop.pipeline, prod, "yes".into())
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("Type the word delete"),
        "{refused}"
    );

    // While the desk runs a part of prod (it holds prod's lease), the
    // laptop's deletion is refused and nothing changes anywhere.
    let desks_leases = StageLeases::with_times(seen_by_another_desktop(&team).await, "desk", TIMES);
    let LeaseAnswer::Held { lease, .. } = desks_leases
        .acquire("stages/prod", Some(&commit(2).sha), wall_clock_ms())
        .await
        .unwrap()
    else {
        panic!("the desk takes prod's lease");
    };
    let refused = on_laptop
        .delete_stage(&laptop.pipeline, prod, "delete".into())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, TeamChangeError::StageBusy(_)),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("running prod now"),
        "{refused}"
    );
    assert_eq!(laptop.stage_names().await, ["dev", "prod"]);
    let shared = read_definition(&team).await.unwrap().unwrap();
    assert_eq!(shared.stages.len(), 2, "the team still has prod");
    assert!(aws.deployer.as_ref().unwrap().deleted().is_empty());
    desks_leases
        .release("stages/prod", lease.fencing)
        .await
        .unwrap();

    // Once the desk's part ended: torn down here, gone from the team.
    let deletion = on_laptop
        .delete_stage(&laptop.pipeline, prod, "delete".into())
        .await
        .unwrap();
    // While the laptop deletes, prod's turn is the laptop's.
    let asked = desks_leases
        .acquire("stages/prod", Some(&commit(2).sha), wall_clock_ms())
        .await
        .unwrap();
    assert!(
        matches!(asked, LeaseAnswer::HeldElsewhere { .. }),
        "{asked:?}"
    );
    tokio::time::timeout(Duration::from_secs(30), deletion.finish(&laptop.pipeline))
        .await
        .expect("the deletion ends");
    assert_eq!(laptop.stage_names().await, ["dev"]);
    let shared = read_definition(&team).await.unwrap().unwrap();
    let names: Vec<&str> = shared.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["dev"], "the team's definition lost prod");

    on_desk.follow_once(&desk.pipeline).await.unwrap();
    assert_eq!(desk.stage_names().await, ["dev"], "the desk forgot prod");
    let deleted = aws.deployer.as_ref().unwrap().deleted();
    assert_eq!(
        deleted
            .iter()
            .filter(|name| name.as_str() == "prod")
            .count(),
        1,
        "prod's AWS stack torn down once: {deleted:?}"
    );
    // The lease was given up: the desk may take it at once.
    let asked = desks_leases
        .acquire("stages/prod", Some("next"), wall_clock_ms())
        .await
        .unwrap();
    assert!(matches!(asked, LeaseAnswer::Held { .. }), "{asked:?}");
}

/// Which part of prod's current run a teammate's desktop runs, as this
/// desktop's dashboard shows it.
fn prods_teammate_part(s: &stageline_engine::flow::FlowState) -> Option<PartKind> {
    s.dashboard()
        .into_iter()
        .flat_map(|stack| stack.stages)
        .find(|v| v.stage.settings.name == "prod")
        .and_then(|v| v.teammate_runs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_part_a_teammates_desktop_runs_is_shown_so_until_its_result_comes() {
    let team = team_prefix("waiting").await;
    let aws = Aws::shared();
    let laptop = desktop("laptop", &aws, &team, false).await;
    aws.deployer.as_ref().unwrap().hold("prod");
    laptop.commit(1).await;
    wait_for(&laptop.pipeline, "prod deploys on the laptop", 30, |s| {
        let prod = s
            .stages_of(STACK)
            .into_iter()
            .find(|st| st.settings.name == "prod")
            .unwrap();
        s.latest_run(prod.id)
            .is_some_and(|r| r.part(PartKind::Deploy).status == PartStatus::Running)
    })
    .await;

    let desk = desktop("desk", &aws, &team, false).await;
    desk.commit(1).await;
    wait_for(
        &desk.pipeline,
        "the desk shows that the laptop deploys prod",
        30,
        |s| prods_teammate_part(s) == Some(PartKind::Deploy),
    )
    .await;
    let on_laptop = laptop.pipeline.read(prods_teammate_part).await.unwrap();
    assert_eq!(on_laptop, None, "the laptop runs it itself");

    aws.deployer.as_ref().unwrap().release("prod");
    desk.wait_deployed("prod", 1).await;
    let on_desk = desk.pipeline.read(prods_teammate_part).await.unwrap();
    assert_eq!(on_desk, None, "the result came: nobody runs it now");
    assert_eq!(aws.deploys_of("prod"), 1, "prod deployed once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollback_made_on_one_desktop_is_in_the_teams_history_and_followed_by_the_other() {
    use stageline_team::TeamHistory;

    let team = team_prefix("history").await;
    let aws = Aws::shared();
    let laptop = desktop("laptop", &aws, &team, false).await;
    let desk = desktop("desk", &aws, &team, false).await;
    for desktop in [&laptop, &desk] {
        desktop.mark_shared(&team).await;
    }
    // The desktops' clocks move on between releases, as the runs' ends do.
    for n in [1, 2] {
        tokio::join!(laptop.commit(n), desk.commit(n));
        for desktop in [&laptop, &desk] {
            desktop.wait_deployed("prod", n).await;
            desktop.fakes.clock.advance(60_000);
        }
    }
    // Sam redeploys commit 1 to dev on the laptop alone (a rollback): a run
    // the desk's own pipeline never makes.
    let dev = laptop.stages().await[0].id;
    let release = laptop
        .store
        .release_of_commit(STACK, &commit(1).sha)
        .await
        .unwrap()
        .expect("the laptop has commit 1's release");
    laptop
        .pipeline
        .send(Input::Redeploy {
            stage_id: dev,
            release,
            image: None,
            decision: Decision {
                by: "sam".into(),
                at: wall_clock_ms(),
                comment: "back to 1".into(),
                via: DecisionSource::Dashboard,
            },
        })
        .await
        .unwrap();
    wait_for(&laptop.pipeline, "the redeploy ends", 30, move |s| {
        s.latest_run(dev)
            .is_some_and(|r| r.trigger != RunTrigger::Flow && r.status.is_finished())
    })
    .await;

    let on_desk = TeamHistory::new(desk.coordinator.clone());
    let (first, second) = (commit(1).sha, commit(2).sha);
    let started = std::time::Instant::now();
    let runs = loop {
        let runs = on_desk.runs(STACK, "dev", 50).await.unwrap();
        if runs.len() == 3 || started.elapsed() > Duration::from_secs(10) {
            break runs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let keys: Vec<&str> = runs.iter().map(|r| r.run_key.as_str()).collect();
    assert_eq!(
        runs.len(),
        3,
        "each flow run once, and the redeploy: {keys:?}"
    );
    assert!(
        runs[0].run_key.starts_with(&format!("{first}-here-")),
        "newest first: {keys:?}"
    );
    assert_ne!(runs[0].trigger, RunTrigger::Flow);
    assert_eq!([keys[1], keys[2]], [second.as_str(), first.as_str()]);
    assert!(runs.iter().all(|r| r.status == RunStatus::Succeeded));
    // Read again: from what was read (summaries never change), the same.
    assert_eq!(on_desk.runs(STACK, "dev", 50).await.unwrap(), runs);
    assert_eq!(on_desk.runs(STACK, "dev", 1).await.unwrap().len(), 1);

    // The desk follows it: its dev runs commit 1 too, without deploying.
    let deploys_before = aws.deploys_of("dev");
    on_desk
        .follow_once(&desk.pipeline, &desk.store)
        .await
        .unwrap();
    assert_eq!(
        deployed_sha_of(&desk, "dev").await.as_deref(),
        Some(first.as_str()),
        "the desk's dev shows the laptop's rollback"
    );
    assert_eq!(
        deployed_sha_of(&desk, "prod").await.as_deref(),
        Some(second.as_str())
    );
    assert_eq!(
        aws.deploys_of("dev"),
        deploys_before,
        "followed, not redeployed"
    );
    // Following again records nothing more.
    let desks_dev = desk.stages().await[0].id;
    let runs_here = desk.store.run_history(desks_dev, 50).await.unwrap().len();
    on_desk
        .follow_once(&desk.pipeline, &desk.store)
        .await
        .unwrap();
    let again = desk.store.run_history(desks_dev, 50).await.unwrap().len();
    assert_eq!(again, runs_here);
}

async fn deployed_sha_of(desktop: &Desktop, stage: &'static str) -> Option<String> {
    desktop
        .pipeline
        .read(move |s| deployed_sha(s, STACK, stage))
        .await
        .unwrap()
}

/// A small deterministic generator (no dependency): the interleavings of a
/// seed are the same on every run, so a failure can be replayed.
struct Interleaving(u64);

impl Interleaving {
    fn next_ms(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_engines_on_their_own_sqlite_files_race_for_every_stage_and_each_part_runs_once() {
    for seed in 1..=4u64 {
        let team = team_prefix(&format!("race-{seed}")).await;
        let aws = Aws::shared();
        let mut desktops = Vec::new();
        for name in ["laptop", "desk", "tower"] {
            desktops.push(desktop(name, &aws, &team, false).await);
        }
        // Each desktop sees the commit after its own pause: the order in
        // which they ask for each stage's lease differs from seed to seed.
        let mut interleaving = Interleaving(seed);
        let pauses: Vec<u64> = desktops.iter().map(|_| interleaving.next_ms(400)).collect();
        let commit_after = |i: usize| {
            let (desktop, pause) = (&desktops[i], pauses[i]);
            async move {
                tokio::time::sleep(Duration::from_millis(pause)).await;
                desktop.commit(1).await;
            }
        };
        tokio::join!(commit_after(0), commit_after(1), commit_after(2));
        for desktop in &desktops {
            desktop.wait_deployed("dev", 1).await;
            desktop.wait_deployed("prod", 1).await;
        }
        let builds: usize = desktops
            .iter()
            .map(|d| d.fakes.builder.count(PartKind::Build))
            .sum();
        assert_eq!(builds, 1, "seed {seed} ({pauses:?} ms): one build");
        for stage in ["dev", "prod"] {
            assert_eq!(
                aws.deploys_of(stage),
                1,
                "seed {seed} ({pauses:?} ms): {stage} deployed once"
            );
        }
    }
}
