//! R3b: which image a stage deploys once its release part has run. The build
//! pushed `:<commit sha>` to the stack's repository; release.yml tags
//! `:$STAGE_NAME` (copied from `:$PREVIOUS_STAGE_NAME`), in the stack's
//! repository and, for a stage outside the home region, perhaps in its
//! regional one. The deploy runs one image, pinned to its digest.

use crate::ports::ImageRef;

/// What the repositories hold after a release part, as the deployer found it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaggedImages {
    /// `:$STAGE_NAME` in the stage's regional repository (stages outside the home region).
    pub regional: Option<ImageRef>,
    /// `:$STAGE_NAME` in the stack's repository.
    pub stack: Option<ImageRef>,
    /// `:$PREVIOUS_STAGE_NAME` in the stack's repository (what release.yml copies).
    pub previous: Option<ImageRef>,
}

/// The image a stage deploys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageImage {
    /// Deploy this image; `note` says something worth a log line.
    Deploy {
        image: ImageRef,
        note: Option<String>,
    },
    /// release.yml copied `:$PREVIOUS_STAGE_NAME` after it had moved on to a
    /// newer release: deploy this release's own build and point the stage's
    /// tag at it, so the stage never ships another release's image.
    DeployBuild { image: ImageRef, note: String },
    /// No image carries the stage's tag: the run fails with this message.
    Missing(String),
}

/// Chooses the image for stage `stage_tag` from what release.yml left and
/// what the build pushed (`None` for releases built before digests were kept).
pub fn choose_stage_image(
    stage_tag: &str,
    previous_tag: &str,
    found: TaggedImages,
    build: Option<ImageRef>,
) -> StageImage {
    let same =
        |a: &Option<ImageRef>, b: &ImageRef| a.as_ref().is_some_and(|a| a.digest == b.digest);
    if let Some(build) = &build {
        // The normal case: release.yml copied this release's image.
        for image in [&found.regional, &found.stack].into_iter().flatten() {
            if image.digest == build.digest {
                return StageImage::Deploy {
                    image: image.clone(),
                    note: None,
                };
            }
        }
    }
    let Some(tagged) = found.regional.clone().or_else(|| found.stack.clone()) else {
        return StageImage::Missing(format!(
            "release.yml pushed no image tagged :{stage_tag}. Stageline deploys the image \
             release.yml tags :$STAGE_NAME in $ECR_IMAGE_URL (or $REGIONAL_ECR_IMAGE_URL) — \
             TinyStacks' release.yml pulls :$PREVIOUS_STAGE_NAME, tags it :$STAGE_NAME and pushes it"
        ));
    };
    let Some(build) = build else {
        return StageImage::Deploy {
            image: tagged,
            note: None,
        };
    };
    if same(&found.previous, &tagged) {
        return StageImage::DeployBuild {
            note: format!(
                ":{previous_tag} had moved on to a newer release ({}) when release.yml copied it; \
                 deploying this release's own image ({}) and tagging it :{stage_tag}",
                short_digest(&tagged.digest),
                short_digest(&build.digest)
            ),
            image: build,
        };
    }
    StageImage::Deploy {
        note: Some(format!(
            "release.yml tagged :{stage_tag} with an image of its own ({}), not the build's ({}): \
             deploying what release.yml tagged",
            short_digest(&tagged.digest),
            short_digest(&build.digest)
        )),
        image: tagged,
    }
}

/// `sha256:0123456789ab` (12 hex digits), as logs show a digest.
pub fn short_digest(digest: &str) -> &str {
    let end = digest.find(':').map_or(0, |i| i + 1) + 12;
    &digest[..end.min(digest.len())]
}
