//! Shared set-up of the flow tests: a stack on the fakes with named stages.

#![allow(dead_code)]

use stageline_engine::flow::{FlowState, Input, Reply};
use stageline_engine::order::first_stage_settings;
use stageline_engine::pipeline::Pipeline;
use stageline_engine::testing::*;
use stageline_engine::*;

pub struct Flow {
    pub fakes: Fakes,
    pub pipeline: Pipeline,
    pub stack: StackId,
}

/// Settings for a stage named `name`, with or without manual approval.
pub fn settings(name: &str, approval: bool) -> StageSettings {
    let mut settings = first_stage_settings("us-east-1");
    settings.name = name.to_string();
    settings.requires_approval = approval;
    settings
}

/// A decision from the dashboard.
pub fn by_ada(comment: &str) -> Decision {
    Decision {
        by: "ada".into(),
        at: 0,
        comment: comment.into(),
        via: DecisionSource::Dashboard,
    }
}

impl Flow {
    /// A stack `shop` with `dev` and then `stages` (name, requires approval), in order.
    pub async fn new(stages: &[(&str, bool)]) -> Flow {
        Flow::with_watch(stages, true).await
    }

    /// The same, its branch watched at once or (`watch: false`) only after
    /// `Input::WatchBranch`.
    pub async fn with_watch(stages: &[(&str, bool)], watch: bool) -> Flow {
        let fakes = Fakes::default();
        let pipeline = fakes.start().await;
        pipeline
            .send(Input::PutAccount(test_account(1)))
            .await
            .unwrap();
        let stack = test_stack(2, "shop", AccountId(1));
        pipeline
            .send(Input::CreateStack {
                stack: stack.clone(),
                first_region: "us-east-1".into(),
                watch,
            })
            .await
            .unwrap();
        let flow = Flow {
            fakes,
            pipeline,
            stack: stack.id,
        };
        for (name, approval) in stages {
            let last = flow.stage_ids().await.last().copied();
            flow.create_stage(last, settings(name, *approval))
                .await
                .unwrap();
        }
        flow
    }

    pub async fn create_stage(
        &self,
        after: Option<StageId>,
        settings: StageSettings,
    ) -> Result<Stage, EngineError> {
        match self
            .pipeline
            .send(Input::CreateStage {
                stack_id: self.stack,
                after,
                settings,
            })
            .await?
        {
            Reply::Stage(stage) => Ok(stage),
            other => panic!("unexpected reply {other:?}"),
        }
    }

    /// Restarts the engine on the same store (a crash: no shutdown).
    pub async fn restart(self) -> Flow {
        let Flow {
            fakes,
            pipeline,
            stack,
        } = self;
        drop(pipeline);
        let pipeline = fakes.start().await;
        Flow {
            fakes,
            pipeline,
            stack,
        }
    }

    pub async fn stage_ids(&self) -> Vec<StageId> {
        let stack = self.stack;
        self.pipeline
            .read(move |s| s.flow_of(stack).iter().map(|st| st.id).collect())
            .await
            .unwrap()
    }

    /// Deletes the stack (every stage with it), confirmed as the user would.
    pub async fn delete_stack(&self) {
        let input = Input::DeleteStack {
            stack_id: self.stack,
            confirmation: "delete".into(),
        };
        self.pipeline.send(input).await.unwrap();
    }

    /// Deletes a stage, confirmed as the user would.
    pub async fn delete_stage(&self, stage_id: StageId) -> Result<Reply, EngineError> {
        self.pipeline
            .send(Input::DeleteStage {
                stage_id,
                confirmation: "delete".into(),
            })
            .await
    }

    pub async fn stage(&self, name: &str) -> StageId {
        let stack = self.stack;
        let wanted = name.to_string();
        self.pipeline
            .read(move |s| {
                s.stages_of(stack)
                    .iter()
                    .find(|st| st.settings.name == wanted)
                    .map(|st| st.id)
            })
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no stage named {name}"))
    }

    /// Pushes commit `n` to the branch.
    pub async fn commit(&self, n: u32) {
        self.fakes.source.set_head(self.stack, commit(n));
        let input = Input::CommitDetected {
            stack_id: self.stack,
            head: commit(n),
            included: vec![],
            forced: false,
        };
        self.pipeline.send(input).await.unwrap();
    }

    /// The release id of commit `n`.
    pub fn release_of(&self, n: u32) -> ReleaseId {
        let sha = commit(n).sha;
        self.fakes
            .events
            .all()
            .iter()
            .find_map(|e| match e {
                PipelineEvent::ReleaseCreated { release } if release.commit.sha == sha => {
                    Some(release.id)
                }
                _ => None,
            })
            .expect("a release of that commit")
    }

    /// Waits until the stage `name` runs commit `n` (its last successful deploy).
    pub async fn wait_deployed(&self, name: &str, n: u32) {
        let stage = self.stage(name).await;
        let sha = commit(n).sha;
        let what = format!("{name} runs commit {n}");
        wait_until(&self.pipeline, &what, move |s: &FlowState| {
            s.flow(stage)
                .deployed
                .and_then(|id| s.release(id))
                .is_some_and(|r| r.commit.sha == sha)
        })
        .await;
    }

    /// Waits until the stage's newest run has this status.
    pub async fn wait_run(&self, name: &str, status: RunStatus) {
        let stage = self.stage(name).await;
        wait_until(
            &self.pipeline,
            &format!("{name}'s run is {status:?}"),
            move |s: &FlowState| s.latest_run(stage).is_some_and(|r| r.status == status),
        )
        .await;
    }

    /// Waits until the stage's newest run is running its `part`.
    pub async fn wait_part(&self, name: &str, part: PartKind) {
        let stage = self.stage(name).await;
        wait_until(
            &self.pipeline,
            &format!("{name} runs its {part:?} part"),
            move |s: &FlowState| {
                s.running_at(stage)
                    .is_some_and(|r| r.running_part() == Some(part))
            },
        )
        .await;
    }

    /// Waits until an approval for commit `n` waits at `name`, and returns it.
    pub async fn wait_approval(&self, name: &str, n: u32) -> Approval {
        let stage = self.stage(name).await;
        let sha = commit(n).sha;
        let check_sha = sha.clone();
        wait_until(
            &self.pipeline,
            &format!("commit {n} awaits approval at {name}"),
            move |s: &FlowState| {
                s.pending_at(stage)
                    .and_then(|a| s.release(a.release_id))
                    .is_some_and(|r| r.commit.sha == check_sha)
            },
        )
        .await;
        self.pipeline
            .read(move |s| s.pending_at(stage).cloned())
            .await
            .unwrap()
            .unwrap()
    }

    /// The stage's newest run.
    pub async fn latest_run(&self, name: &str) -> Option<Run> {
        let stage = self.stage(name).await;
        self.pipeline
            .read(move |s| s.latest_run(stage).cloned())
            .await
            .unwrap()
    }

    /// The commit sha the stage runs now.
    pub async fn deployed_sha(&self, name: &str) -> Option<String> {
        let stage = self.stage(name).await;
        self.pipeline
            .read(move |s| {
                s.flow(stage)
                    .deployed
                    .and_then(|id| s.release(id))
                    .map(|r| r.commit.sha.clone())
            })
            .await
            .unwrap()
    }

    /// Lets queued inputs and effects settle.
    pub async fn settle(&self) {
        for _ in 0..20 {
            tokio::task::yield_now().await;
            let _ = self.pipeline.read(|_| ()).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        let _ = self.pipeline.read(|_| ()).await;
    }
}
