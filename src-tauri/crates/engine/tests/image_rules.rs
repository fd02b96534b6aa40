//! R3a/R3b on the fakes: the AWS context every part gets, and the image each
//! stage deploys — the one its release.yml tagged, pinned to its digest,
//! never another release's.

mod common;

use common::*;
use stageline_engine::images::{choose_stage_image, StageImage, TaggedImages};
use stageline_engine::ports::ImageRef;
use stageline_engine::testing::*;
use stageline_engine::*;

fn var(call: &BuilderCall, name: &str) -> Option<String> {
    call.injected
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn image(repository: &str, digest: &str) -> ImageRef {
    ImageRef {
        repository_url: repository.to_string(),
        digest: digest.to_string(),
    }
}

#[tokio::test]
async fn r3a_every_part_gets_the_stacks_aws_context_and_session_credentials() {
    let flow = Flow::new(&[]).await;
    let mut prod = settings("prod", false);
    prod.region = "us-west-2".into();
    let dev = flow.stage("dev").await;
    flow.create_stage(Some(dev), prod).await.unwrap();
    flow.commit(1).await;
    flow.wait_deployed("prod", 1).await;
    let calls = flow.fakes.builder.calls();
    let repository = "123456789012.dkr.ecr.us-east-1.amazonaws.com/stageline/shop";
    for call in &calls {
        assert_eq!(var(call, "AWS_REGION").as_deref(), Some("us-east-1"));
        assert_eq!(
            var(call, "AWS_DEFAULT_REGION").as_deref(),
            Some("us-east-1")
        );
        assert_eq!(var(call, "AWS_ACCOUNT_ID").as_deref(), Some("123456789012"));
        assert_eq!(var(call, "ECR_IMAGE_URL").as_deref(), Some(repository));
        assert_eq!(var(call, "SERVICE_NAME").as_deref(), Some("placeholder"));
        assert!(var(call, "AWS_SESSION_TOKEN").is_some());
        assert!(var(call, "TASK_ROLE_ARN").is_some_and(|arn| arn.starts_with("arn:aws:iam::")));
    }
    let prod_release = calls
        .iter()
        .find(|c| c.part == PartKind::Release && c.stage == "prod")
        .unwrap();
    assert_eq!(
        var(prod_release, "STAGE_REGION").as_deref(),
        Some("us-west-2")
    );
    assert_eq!(
        var(prod_release, "REGIONAL_ECR_IMAGE_URL").as_deref(),
        Some("123456789012.dkr.ecr.us-west-2.amazonaws.com/stageline/shop")
    );
    let dev_release = calls
        .iter()
        .find(|c| c.part == PartKind::Release && c.stage == "dev")
        .unwrap();
    assert_eq!(
        var(dev_release, "REGIONAL_ECR_IMAGE_URL").as_deref(),
        Some("")
    );
}

#[tokio::test]
async fn r3b_each_stage_deploys_its_releases_image_pinned_to_its_digest() {
    let flow = Flow::new(&[("prod", false)]).await;
    flow.commit(1).await;
    flow.wait_deployed("prod", 1).await;
    let expected = format!(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/stageline/shop@{}",
        fake_digest(&commit(1).sha)
    );
    let deployed = flow.fakes.deployer.deployed_images();
    assert_eq!(
        deployed,
        [
            ("dev".to_string(), expected.clone()),
            ("prod".to_string(), expected.clone())
        ]
    );
    let run = flow.latest_run("prod").await.unwrap();
    assert_eq!(
        run.image.as_deref(),
        Some(expected.as_str()),
        "recorded on the run"
    );
}

#[tokio::test]
async fn r3b_a_build_that_pushes_no_image_fails_and_names_the_tag() {
    let flow = Flow::new(&[]).await;
    flow.fakes.builder.push_nothing(PartKind::Build);
    flow.commit(1).await;
    flow.wait_run("dev", RunStatus::Failed).await;
    let run = flow.latest_run("dev").await.unwrap();
    let message = run.part(PartKind::Build).message.clone().unwrap();
    assert!(
        message.contains(&format!(":{}", commit(1).sha)),
        "{message}"
    );
    assert!(flow.fakes.deployer.deploys().is_empty());
}

#[tokio::test]
async fn r3b_a_release_that_tags_nothing_fails_at_once_naming_the_stage_tag() {
    let flow = Flow::new(&[]).await;
    flow.fakes.builder.push_nothing(PartKind::Release);
    flow.commit(1).await;
    flow.wait_run("dev", RunStatus::Failed).await;
    let run = flow.latest_run("dev").await.unwrap();
    assert_eq!(run.part(PartKind::Release).status, PartStatus::Failed);
    let message = run.part(PartKind::Release).message.clone().unwrap();
    assert!(message.contains(":dev"), "{message}");
    assert_eq!(run.part(PartKind::Deploy).status, PartStatus::Pending);
    assert!(flow.fakes.deployer.deploys().is_empty(), "nothing deployed");
}

#[tokio::test]
async fn r3b_a_previous_tag_that_moved_on_never_ships_another_release() {
    // dev has moved on to commit 2 (tagged :dev) while commit 1 waits at prod.
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    let approval = flow.wait_approval("prod", 1).await;
    flow.fakes.deployer.hold("dev");
    flow.commit(2).await;
    flow.wait_part("dev", PartKind::Deploy).await;
    flow.pipeline
        .decide(approval.id, true, by_ada("ship 1"))
        .await
        .unwrap();
    flow.wait_deployed("prod", 1).await;
    let prod = flow.latest_run("prod").await.unwrap();
    let image = ImageRef::parse(prod.image.as_deref().unwrap()).unwrap();
    assert_eq!(
        image.digest,
        fake_digest(&commit(1).sha),
        "prod runs commit 1's image"
    );
    let repository = FakeDeployer::repository_url(&test_stack(2, "shop", AccountId(1)));
    assert_eq!(
        flow.fakes.registry.digest(&repository, "prod"),
        Some(fake_digest(&commit(1).sha)),
        ":prod points at what prod runs"
    );
    flow.fakes.deployer.release("dev");
    flow.wait_deployed("dev", 2).await;
}

#[tokio::test]
async fn r3b_a_redeploy_runs_exactly_the_earlier_image_without_release_yml() {
    let flow = Flow::new(&[]).await;
    flow.commit(1).await;
    flow.wait_deployed("dev", 1).await;
    flow.commit(2).await;
    flow.wait_deployed("dev", 2).await;
    let releases_before = flow.fakes.builder.count(PartKind::Release);
    let dev = flow.stage("dev").await;
    flow.pipeline
        .redeploy(dev, flow.release_of(1), by_ada("roll back"))
        .await
        .unwrap();
    flow.wait_deployed("dev", 1).await;
    assert_eq!(flow.fakes.builder.count(PartKind::Release), releases_before);
    let (_, last) = flow.fakes.deployer.deployed_images().pop().unwrap();
    assert!(last.ends_with(&fake_digest(&commit(1).sha)), "{last}");
    let run = flow.latest_run("dev").await.unwrap();
    assert_eq!(run.part(PartKind::Release).status, PartStatus::Reused);
}

#[test]
fn r3b_the_regional_copy_of_the_build_is_preferred_then_the_stacks() {
    let build = image("home/shop", "sha256:b");
    let found = TaggedImages {
        regional: Some(image("west/shop", "sha256:b")),
        stack: Some(image("home/shop", "sha256:b")),
        previous: Some(image("home/shop", "sha256:b")),
    };
    assert_eq!(
        choose_stage_image("prod", "dev", found, Some(build.clone())),
        StageImage::Deploy {
            image: image("west/shop", "sha256:b"),
            note: None
        }
    );
    // A regional tag left over from another image loses to the stack's copy of the build.
    let stale_regional = TaggedImages {
        regional: Some(image("west/shop", "sha256:old")),
        stack: Some(image("home/shop", "sha256:b")),
        previous: None,
    };
    assert_eq!(
        choose_stage_image("prod", "dev", stale_regional, Some(build)),
        StageImage::Deploy {
            image: image("home/shop", "sha256:b"),
            note: None
        }
    );
}

#[test]
fn r3b_an_image_of_release_ymls_own_is_deployed_with_a_note() {
    let found = TaggedImages {
        regional: None,
        stack: Some(image("home/shop", "sha256:custom")),
        previous: Some(image("home/shop", "sha256:b")),
    };
    match choose_stage_image("prod", "dev", found, Some(image("home/shop", "sha256:b"))) {
        StageImage::Deploy { image, note } => {
            assert_eq!(image.digest, "sha256:custom");
            assert!(note.unwrap().contains("of its own"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn r8_a_release_approved_before_the_new_stage_before_it_tagged_anything_still_ships() {
    let flow = Flow::new(&[("prod", true)]).await;
    flow.commit(1).await;
    let approval = flow.wait_approval("prod", 1).await;
    // canary is inserted before prod and holds in its release part: :canary does not exist.
    flow.fakes.builder.hold(PartKind::Release);
    let dev = flow.stage("dev").await;
    flow.create_stage(Some(dev), settings("canary", false))
        .await
        .unwrap();
    flow.wait_part("canary", PartKind::Release).await;
    flow.pipeline
        .decide(approval.id, true, by_ada("ship it"))
        .await
        .unwrap();
    flow.wait_part("prod", PartKind::Release).await;
    flow.fakes.builder.release(PartKind::Release);
    flow.wait_deployed("prod", 1).await;
    flow.wait_deployed("canary", 1).await;
    let prod = flow.latest_run("prod").await.unwrap();
    assert!(prod.image.unwrap().ends_with(&fake_digest(&commit(1).sha)));
}
