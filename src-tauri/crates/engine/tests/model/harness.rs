//! One run of a sequence: the engine on the in-memory store with a
//! simulated outside world (branch, builder, AWS) that completes the builds,
//! releases and deploys when the sequence says so. Effects nobody controls
//! (reading the head, scaling, deleting stacks, reconciling, re-applying a
//! result) complete at once, in the order they were asked for.

use std::collections::HashMap;
use std::sync::Arc;

use stageline_engine::flow::{Effect, FlowState, Input, Reply};
use stageline_engine::pipeline::Engine;
use stageline_engine::testing::{test_account, test_stack, FixedClock, MemStore};
use stageline_engine::*;

use super::check::Checker;
use super::Op;

/// The stack every sequence runs on.
pub const STACK: StackId = StackId(2);

/// What outlives every restart: the store, the clock, the branch and AWS.
pub struct World {
    pub store: Arc<MemStore>,
    pub clock: Arc<FixedClock>,
    /// The release each stage's AWS stack runs.
    pub aws: HashMap<StageId, ReleaseId>,
    /// Deploys AWS completed, per run.
    pub deploys: HashMap<RunId, u32>,
    /// The desired count each stage's service was last scaled to.
    pub scaled: HashMap<StageId, u32>,
    pub head: Option<Commit>,
    pub commits: u32,
    pub delete_fails: bool,
    pub scale_fails: bool,
    /// AWS cannot be reached: after each start, each run's reconcile fails
    /// this many times.
    pub reconcile_trouble: u32,
    pub reconcile_failures: HashMap<RunId, u32>,
}

/// Why a step stopped early.
pub enum Stop {
    /// The engine died mid-step (an armed restart).
    Crashed,
    /// A rule was broken.
    Broken(String),
}

impl From<String> for Stop {
    fn from(message: String) -> Self {
        Stop::Broken(message)
    }
}

/// One run of a sequence.
pub struct Harness {
    /// The run without restarts, lost writes or clock steps.
    pub reference: bool,
    pub world: World,
    pub engine: Engine,
    /// Effects started and not finished, in the order they were asked for.
    pub pending: Vec<Effect>,
    pub check: Checker,
    /// Stage names by id, also of stages that are gone.
    pub names: HashMap<StageId, String>,
    /// An armed restart: after this many more transitions, and whether the
    /// clock steps back then.
    pub(super) crash_after: Option<(u32, bool)>,
    pub(super) created: u32,
}

impl Harness {
    /// A world with one account and the stack `shop` (its `dev` stage).
    pub async fn new(reference: bool) -> Harness {
        let store = Arc::new(MemStore::default());
        let clock = Arc::new(FixedClock::default());
        let engine = Engine::open(store.clone(), clock.clone()).await.unwrap();
        let mut harness = Harness {
            reference,
            world: World {
                store,
                clock,
                aws: HashMap::new(),
                deploys: HashMap::new(),
                scaled: HashMap::new(),
                head: None,
                commits: 0,
                delete_fails: false,
                scale_fails: false,
                reconcile_trouble: 0,
                reconcile_failures: HashMap::new(),
            },
            engine,
            pending: Vec::new(),
            check: Checker::default(),
            names: HashMap::new(),
            crash_after: None,
            created: 0,
        };
        let setup = [
            Input::Started,
            Input::PutAccount(test_account(1)),
            Input::CreateStack {
                stack: test_stack(STACK.0, "shop", AccountId(1)),
                first_region: "us-east-1".into(),
                watch: true,
            },
        ];
        for input in setup {
            assert!(matches!(harness.apply(input, false).await, Ok(Ok(_))));
        }
        harness
    }

    pub fn state(&self) -> &FlowState {
        self.engine.state()
    }

    /// Applies an input, records what it asked for and checks its events.
    /// `Ok(Err(_))` is a command the engine refused (nothing changed).
    pub(super) async fn apply(
        &mut self,
        input: Input,
        unattended: bool,
    ) -> Result<Result<Reply, EngineError>, Stop> {
        let applied = match self.engine.apply(input, unattended).await {
            Ok(applied) => applied,
            Err(error) => return Ok(Err(error)),
        };
        for stage in self.engine.state().stages_of(STACK) {
            self.names.insert(stage.id, stage.settings.name.clone());
        }
        self.check
            .events(&applied.events, self.engine.state(), &self.world.store)?;
        for effect in applied.effects {
            self.started(effect)?;
        }
        // A restart lands between transitions, but not while a result waits
        // to be written again: that result would die with the process and its
        // part run again (correct, but no longer in step with the run
        // without restarts).
        let unsaved = self
            .pending
            .iter()
            .any(|e| matches!(e, Effect::ApplyLater { .. }));
        if let Some((left, _)) = self.crash_after.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 && !unsaved {
                return Err(Stop::Crashed);
            }
        }
        Ok(Ok(applied.reply))
    }

    /// An effect starts; a cancel stops the effects it names.
    fn started(&mut self, effect: Effect) -> Result<(), String> {
        match &effect {
            Effect::CancelRun(run_id) => {
                self.pending.retain(|e| run_of(e) != Some(*run_id));
                Ok(())
            }
            Effect::CancelBuild(release_id) => {
                self.pending.retain(|e| build_of(e) != Some(*release_id));
                Ok(())
            }
            _ => {
                self.check
                    .effect_started(&effect, &self.world.store, &self.world.deploys)?;
                self.pending.push(effect);
                Ok(())
            }
        }
    }

    /// One op, everything that follows from it at once, then every check.
    pub async fn step(&mut self, op: Op, step: usize) -> Result<(), String> {
        let outcome = match self.op(op, step).await {
            Ok(()) => self.drain().await,
            Err(stop) => Err(stop),
        };
        self.settle(outcome).await?;
        self.verify().await
    }

    /// Every invariant of a settled step.
    async fn verify(&mut self) -> Result<(), String> {
        let mut check = std::mem::take(&mut self.check);
        let result = check.after_step(self).await;
        self.check = check;
        result
    }

    /// After a step's outcome: a crash restarts the engine (and settles again).
    async fn settle(&mut self, mut outcome: Result<(), Stop>) -> Result<(), String> {
        loop {
            match outcome {
                Ok(()) => return Ok(()),
                Err(Stop::Broken(message)) => return Err(message),
                Err(Stop::Crashed) => {
                    let clock_back = self.crash_after.take().is_some_and(|(_, back)| back);
                    outcome = self.restart(false, clock_back).await;
                }
            }
        }
    }

    /// Applies every effect that completes on its own, until none is left.
    pub(super) async fn drain(&mut self) -> Result<(), Stop> {
        for _ in 0..2000 {
            // Soonest first (a reconcile tried again waits its backoff), then
            // in the order asked for.
            let next = self
                .pending
                .iter()
                .enumerate()
                .filter(|(_, e)| completes_at_once(e))
                .min_by_key(|(i, e)| (delay_of(e), *i))
                .map(|(i, _)| i);
            let Some(index) = next else {
                return Ok(());
            };
            let effect = self.pending.remove(index);
            let input = self.complete_at_once(effect);
            if let Err(error) = self.apply(input, true).await? {
                return Err(Stop::Broken(format!("a result was refused: {error}")));
            }
        }
        Err(Stop::Broken("the flow never settles".into()))
    }

    /// The engine dies and starts again on the same store (R17).
    /// `aws_finishes`: the deploys in flight completed in AWS meanwhile.
    pub(super) async fn restart(
        &mut self,
        aws_finishes: bool,
        clock_back: bool,
    ) -> Result<(), Stop> {
        if aws_finishes {
            for effect in &self.pending {
                if let Effect::Deploy { run, .. } = effect {
                    self.world.aws.insert(run.stage_id, run.release_id);
                    *self.world.deploys.entry(run.id).or_default() += 1;
                }
            }
        }
        self.pending.clear();
        self.crash_after = None;
        // After every start each interrupted deploy's reconcile fails as many
        // times (so the answers keep the order the reconciles were asked in).
        self.world.reconcile_failures.clear();
        if clock_back {
            self.world.clock.set_next_id(1000);
        }
        self.engine = Engine::open(self.world.store.clone(), self.world.clock.clone())
            .await
            .map_err(|e| format!("the engine does not start again: {e}"))?;
        if let Err(error) = self.apply(Input::Started, true).await? {
            return Err(Stop::Broken(format!("the start failed: {error}")));
        }
        self.drain().await
    }

    /// Completes every build, release and deploy well until nothing runs,
    /// stage by stage in flow order (the same order in both runs, whatever
    /// order the effects were asked for in).
    pub async fn quiesce(&mut self) -> Result<(), String> {
        self.crash_after = None;
        for _ in 0..500 {
            let busy = self
                .state()
                .flow_of(STACK)
                .iter()
                .position(|s| self.state().running_at(s.id).is_some());
            let Some(stage) = busy else {
                return self.verify().await;
            };
            let op = Op::Finish {
                stage: stage as u8,
                ok: true,
                write_fails: false,
            };
            let outcome = match self.op(op, usize::MAX).await {
                Ok(()) => self.drain().await,
                Err(stop) => Err(stop),
            };
            self.settle(outcome).await?;
        }
        Err("the flow never quiesces".into())
    }
}

/// The run an effect works for (a build works for a release).
pub fn run_of(effect: &Effect) -> Option<RunId> {
    match effect {
        Effect::Release { run, .. }
        | Effect::Deploy { run, .. }
        | Effect::Verify { run, .. }
        | Effect::ReconcileDeploy { run, .. } => Some(run.id),
        _ => None,
    }
}

/// The release a build effect builds.
pub fn build_of(effect: &Effect) -> Option<ReleaseId> {
    match effect {
        Effect::Build { context, .. } => Some(context.release.id),
        _ => None,
    }
}

fn delay_of(effect: &Effect) -> std::time::Duration {
    match effect {
        Effect::ReconcileDeploy { delay, .. } => *delay,
        Effect::ApplyLater { after, .. } => *after,
        _ => std::time::Duration::ZERO,
    }
}

/// Effects the sequence does not steer: they complete at once. An
/// approval's expiry is a timer of days: within a sequence it never fires.
fn completes_at_once(effect: &Effect) -> bool {
    !matches!(
        effect,
        Effect::Build { .. }
            | Effect::Release { .. }
            | Effect::Deploy { .. }
            | Effect::Verify { .. }
            | Effect::ExpireApproval { .. }
    )
}
