//! A deploy interrupted at any of its AWS calls resumes after a restart
//! (R17): the real pipeline (engine with in-memory store and fake builds)
//! deploys through the real CloudFormation deployer to moto, behind the fault
//! proxy, which holds a chosen call — never passed on, or passed on and never
//! answered — while the pipeline is dropped as a crash would. A new pipeline
//! on the same store then finishes the release: deployed exactly once (one
//! execution per change set, read back from the proxy's log), or failed with
//! CloudFormation's real reason when the release's own update rolled back.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stageline_engine::flow::Input;
use stageline_engine::pipeline::Pipeline;
use stageline_engine::ports::Deployer;
use stageline_engine::testing::*;
use stageline_engine::*;
use support::fault_proxy::{described_events, described_stack, FaultProxy, Reply};
use support::*;

/// How the proxy treats the chosen call before the crash.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// The call never leaves Stageline.
    Before,
    /// AWS acts on it; Stageline never hears back.
    After,
}

/// What the proxy does, changed by the test between the crash and the restart.
struct Script {
    /// The action held before the crash, and how.
    hold: Mutex<Option<(&'static str, Cut)>>,
    /// Set once the held call arrived.
    held: AtomicBool,
    /// After the restart: DescribeStacks answers this many times "in progress".
    in_progress_looks: AtomicUsize,
    /// After the restart: the stack reports this (status, this run's change set).
    rolled_back: Mutex<Option<(String, String)>>,
    /// The name of the change set the held run created (read from its request).
    change_set: Mutex<Option<String>>,
    stack: String,
}

impl Script {
    fn reply(&self, request: &support::fault_proxy::Request) -> Reply {
        let action = request.action();
        if action == "CreateChangeSet" {
            *self.change_set.lock().unwrap() = request.form_field("ChangeSetName");
        }
        if let Some((held, cut)) = *self.hold.lock().unwrap() {
            if action == held {
                self.held.store(true, Ordering::SeqCst);
                return match cut {
                    Cut::Before => Reply::Hold,
                    Cut::After => Reply::ForwardThenHold,
                };
            }
        }
        if action == "DescribeStacks" {
            if self
                .in_progress_looks
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                let change_set = self.change_set.lock().unwrap().clone().unwrap_or_default();
                let body = described_stack(&self.stack, "CREATE_IN_PROGRESS", "", &change_set, &[]);
                return Reply::Respond { status: 200, body };
            }
            if let Some((status, change_set)) = self.rolled_back.lock().unwrap().clone() {
                let body = described_stack(
                    &self.stack,
                    &status,
                    "The following resource(s) failed to update: [Service].",
                    &change_set,
                    &[],
                );
                return Reply::Respond { status: 200, body };
            }
        }
        if action == "DescribeStackEvents" && self.rolled_back.lock().unwrap().is_some() {
            let stack: &'static str = Box::leak(self.stack.clone().into_boxed_str());
            let events = [
                (
                    stack,
                    "AWS::CloudFormation::Stack",
                    "UPDATE_IN_PROGRESS",
                    "User Initiated",
                ),
                (
                    "Service",
                    "AWS::ECS::Service",
                    "UPDATE_FAILED",
                    "The tasks did not become healthy",
                ),
                (
                    stack,
                    "AWS::CloudFormation::Stack",
                    "UPDATE_ROLLBACK_COMPLETE",
                    "",
                ),
            ];
            return Reply::Respond {
                status: 200,
                body: described_events(&self.stack, "after-restart", &events),
            };
        }
        Reply::Forward
    }
}

/// A pipeline whose deploys go through `proxy` to moto, on `fakes` (whose
/// store outlives a crash).
async fn pipeline(fakes: &Fakes, deployer: &stageline_aws::CloudFormationDeployer) -> Pipeline {
    let mut ports = fakes.ports();
    ports.deployer = Arc::new(deployer.clone());
    Pipeline::start(ports, test_config()).await.unwrap()
}

struct World {
    url: String,
    fakes: Fakes,
    deployer: stageline_aws::CloudFormationDeployer,
    proxy: FaultProxy,
    script: Arc<Script>,
    stack: Stack,
}

/// A stack with one stage `dev` in us-east-1 whose account goes through the proxy.
async fn world(prefix: &str) -> World {
    let url = moto_url();
    let mut stack = unique_stack(prefix);
    stack.id = StackId(2);
    let script = Arc::new(Script {
        hold: Mutex::new(None),
        held: AtomicBool::new(false),
        in_progress_looks: AtomicUsize::new(0),
        rolled_back: Mutex::new(None),
        change_set: Mutex::new(None),
        stack: format!("{}-dev", stack.name),
    });
    let handler = script.clone();
    let proxy = FaultProxy::start(&url, move |request| handler.reply(request)).await;
    let fakes = Fakes::default();
    // Builds and releases push nothing: the test pushes their images to moto's ECR.
    fakes.builder.push_nothing(PartKind::Build);
    fakes.builder.push_nothing(PartKind::Release);
    World {
        url,
        fakes,
        deployer: deployer(),
        proxy,
        script,
        stack,
    }
}

impl World {
    fn account(&self) -> Account {
        let mut account = account(&self.proxy.url);
        account.id = AccountId(1);
        account
    }

    async fn start(&self) -> Pipeline {
        let pipeline = pipeline(&self.fakes, &self.deployer).await;
        if pipeline.read(|s| s.stacks().count()).await.unwrap() == 0 {
            pipeline
                .send(Input::PutAccount(self.account()))
                .await
                .unwrap();
            pipeline
                .send(Input::CreateStack {
                    stack: self.stack.clone(),
                    first_region: "us-east-1".into(),
                    watch: true,
                })
                .await
                .unwrap();
            let dev = pipeline
                .read(|s| s.flow_of(StackId(2))[0].clone())
                .await
                .unwrap();
            let mut settings = dev.settings.clone();
            settings.routing = Routing::LoadBalancer;
            pipeline
                .send(Input::UpdateStage {
                    stage_id: dev.id,
                    settings,
                })
                .await
                .unwrap();
        }
        pipeline
    }

    /// Pushes commit `n`'s image as its build and dev's release would: `:<sha>`, `:latest`, `:dev`.
    async fn push_images(&self, n: u32) {
        let dev = stage(&self.stack, settings("dev", "us-east-1"));
        self.deployer
            .prepare_stage(
                self.account(),
                self.stack.clone(),
                dev,
                release(&self.stack, 1, &sha("prep")),
                Arc::new(KeptLog::default()),
            )
            .await
            .unwrap();
        let ecr = aws_sdk_ecr::Client::new(&sdk_config(&self.url, "us-east-1").await);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": { "mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": format!("sha256:{n:0>64}") },
            "layers": [{ "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1, "digest": format!("sha256:{n:0>64}") }],
        })
        .to_string();
        for tag in [commit(n).sha, "latest".into(), "dev".into()] {
            ecr.put_image()
                .repository_name(stageline_aws::repository_name(&self.stack.name))
                .image_tag(tag)
                .image_manifest(&manifest)
                .send()
                .await
                .unwrap();
        }
    }

    async fn commit(&self, pipeline: &Pipeline, n: u32) {
        self.push_images(n).await;
        self.fakes.source.set_head(StackId(2), commit(n));
        pipeline
            .send(Input::CommitDetected {
                stack_id: StackId(2),
                head: commit(n),
                included: vec![],
                forced: false,
            })
            .await
            .unwrap();
    }

    async fn wait_dev(
        &self,
        pipeline: &Pipeline,
        what: &str,
        check: impl Fn(&Run) -> bool + Send + Sync + Clone + 'static,
    ) {
        wait_until(pipeline, what, move |s| {
            let dev = s.flow_of(StackId(2))[0].id;
            s.latest_run(dev).is_some_and(&check)
        })
        .await;
    }

    /// Runs commit `n` until the proxy holds `action`, then crashes.
    async fn crash_at(&self, n: u32, action: &'static str, cut: Cut) {
        *self.script.hold.lock().unwrap() = Some((action, cut));
        self.script.held.store(false, Ordering::SeqCst);
        let pipeline = self.start().await;
        self.commit(&pipeline, n).await;
        for _ in 0..2400 {
            if self.script.held.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !self.script.held.load(Ordering::SeqCst) {
            let state = pipeline
                .read(|s| format!("{:#?}", s.dashboard()))
                .await
                .unwrap();
            panic!(
                "the deploy never reached {action}: {state}\n{}",
                self.fakes.logs.all_text()
            );
        }
        drop(pipeline);
        *self.script.hold.lock().unwrap() = None;
    }

    /// Restarts and waits for dev's run of commit `n` to end; returns it.
    async fn resume(&self, n: u32) -> Run {
        let pipeline = self.start().await;
        let sha = commit(n).sha;
        self.wait_dev(&pipeline, "dev's run ends", |run| run.status.is_finished())
            .await;
        let run = pipeline
            .read(|s| s.latest_run(s.flow_of(StackId(2))[0].id).cloned())
            .await
            .unwrap()
            .unwrap();
        let deployed = pipeline
            .read(|s| {
                s.flow(s.flow_of(StackId(2))[0].id)
                    .deployed
                    .and_then(|r| s.release(r))
                    .map(|r| r.commit.sha.clone())
            })
            .await
            .unwrap();
        if run.status == RunStatus::Succeeded {
            assert_eq!(deployed, Some(sha), "dev runs the commit");
        }
        run
    }

    /// Runs of dev for commit `n`, in the store.
    fn runs_of(&self, n: u32) -> usize {
        let events = self.fakes.events.all();
        let release_of_commit = |id: ReleaseId| {
            events.iter().any(|e| {
                matches!(e, PipelineEvent::ReleaseCreated { release }
                    if release.id == id && release.commit.sha == commit(n).sha)
            })
        };
        self.fakes
            .store
            .runs()
            .iter()
            .filter(|r| release_of_commit(r.release_id))
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_stopped_before_its_change_set_was_created_creates_it_and_goes_on() {
    let world = world("cut-create").await;
    world.crash_at(1, "CreateChangeSet", Cut::Before).await;
    let run = world.resume(1).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(world.proxy.count("ExecuteChangeSet"), 1);
    assert_eq!(world.runs_of(1), 1, "one run in the history");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_set_created_but_never_executed_is_executed_once_after_the_restart() {
    let world = world("cut-execute").await;
    world.crash_at(1, "ExecuteChangeSet", Cut::Before).await;
    let creates_before = world.proxy.count("CreateChangeSet");
    let run = world.resume(1).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(
        world.proxy.count("CreateChangeSet"),
        creates_before,
        "the change set made before the restart is the one executed"
    );
    // Two ExecuteChangeSet requests reached the proxy: the held one never went on.
    assert_eq!(world.proxy.count("ExecuteChangeSet"), 2);
    let log = world.fakes.logs.lines(run.id, PartKind::Deploy).join("\n");
    assert!(log.contains("Resuming: executing the change set"), "{log}");
    assert_eq!(world.runs_of(1), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_set_executed_while_stageline_was_down_is_waited_on_and_confirmed() {
    let world = world("cut-executing").await;
    world.crash_at(1, "ExecuteChangeSet", Cut::After).await;
    // After the restart the stack is still at work for a few looks.
    world.script.in_progress_looks.store(3, Ordering::SeqCst);
    let executes_before = world.proxy.count("ExecuteChangeSet");
    let run = world.resume(1).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(
        world.proxy.count("ExecuteChangeSet"),
        executes_before,
        "executed once, before the restart"
    );
    let log = world.fakes.logs.lines(run.id, PartKind::Deploy).join("\n");
    assert!(log.contains("in progress"), "{log}");
    assert_eq!(world.runs_of(1), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_that_finished_while_stageline_was_down_is_confirmed_without_a_second_deploy() {
    let world = world("cut-finished").await;
    world.crash_at(1, "ExecuteChangeSet", Cut::After).await;
    let creates_before = world.proxy.count("CreateChangeSet");
    let run = world.resume(1).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(
        world.proxy.count("CreateChangeSet"),
        creates_before,
        "no second change set"
    );
    assert_eq!(world.runs_of(1), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_of_this_release_that_rolled_back_while_stageline_was_down_fails_with_its_reason()
{
    let world = world("cut-rollback").await;
    // Commit 1 deploys; commit 2's update is executed, then Stageline dies.
    let pipeline = world.start().await;
    world.commit(&pipeline, 1).await;
    world
        .wait_dev(&pipeline, "commit 1 deployed", |r| {
            r.status == RunStatus::Succeeded
        })
        .await;
    drop(pipeline);
    world.crash_at(2, "ExecuteChangeSet", Cut::After).await;
    let change_set = world.script.change_set.lock().unwrap().clone().unwrap();
    *world.script.rolled_back.lock().unwrap() =
        Some(("UPDATE_ROLLBACK_COMPLETE".into(), change_set));
    let run = world.resume(2).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:#?}");
    let message = run.part(PartKind::Deploy).message.clone().unwrap();
    assert!(
        message.starts_with(
            "Service (AWS::ECS::Service) UPDATE_FAILED: The tasks did not become healthy"
        ),
        "the real reason, not the interruption: {message}"
    );
}
