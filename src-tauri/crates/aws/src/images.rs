//! Images in the stack's repositories (R3b): a tag's digest, and a tag moved
//! onto an image the repository already holds. Nothing is pushed here:
//! buildspecs push, Stageline only reads and re-tags.

use anyhow::anyhow;
use aws_sdk_ecr::types::ImageIdentifier;
use stageline_engine::ports::ImageRef;

use crate::clients::RegionClients;
use crate::errors::{error_code, SdkResultExt};

/// The image tagged `tag` in `repository` (whose URL is `repository_url`),
/// or `None` when the repository or the tag does not exist.
pub(crate) async fn find(
    clients: &RegionClients,
    repository: &str,
    repository_url: &str,
    tag: &str,
) -> anyhow::Result<Option<ImageRef>> {
    let described = clients
        .ecr
        .describe_images()
        .repository_name(repository)
        .image_ids(ImageIdentifier::builder().image_tag(tag).build())
        .send()
        .await;
    let output = match described {
        Ok(output) => output,
        Err(error)
            if matches!(
                error_code(&error),
                Some("ImageNotFoundException" | "RepositoryNotFoundException")
            ) =>
        {
            return Ok(None)
        }
        Err(error) => {
            return Err(error).aws(|| format!("Could not look up the image {repository}:{tag}"))
        }
    };
    Ok(output
        .image_details()
        .first()
        .and_then(|image| image.image_digest())
        .map(|digest| ImageRef {
            repository_url: repository_url.to_owned(),
            digest: digest.to_owned(),
        }))
}

/// Points `tag` at the image `digest` of `repository` (PutImage with the
/// image's own manifest, as `docker tag` + `docker push` would).
pub(crate) async fn retag(
    clients: &RegionClients,
    repository: &str,
    digest: &str,
    tag: &str,
) -> anyhow::Result<()> {
    let fetched = clients
        .ecr
        .batch_get_image()
        .repository_name(repository)
        .image_ids(ImageIdentifier::builder().image_digest(digest).build())
        .send()
        .await
        .aws(|| format!("Could not read the image {repository}@{digest}"))?;
    let image = fetched
        .images()
        .first()
        .ok_or_else(|| anyhow!("The image {repository}@{digest} is not in its repository"))?;
    let manifest = image
        .image_manifest()
        .ok_or_else(|| anyhow!("ECR gave no manifest for {repository}@{digest}"))?;
    let mut put = clients
        .ecr
        .put_image()
        .repository_name(repository)
        .image_manifest(manifest)
        .image_tag(tag);
    if let Some(media_type) = image.image_manifest_media_type() {
        put = put.image_manifest_media_type(media_type);
    }
    match put.send().await {
        Ok(_) => Ok(()),
        // The tag already names this image.
        Err(error) if error_code(&error) == Some("ImageAlreadyExistsException") => Ok(()),
        Err(error) => Err(error).aws(|| format!("Could not tag {repository}@{digest} as :{tag}")),
    }
}
