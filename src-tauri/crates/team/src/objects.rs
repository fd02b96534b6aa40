//! The team's objects under one prefix of one bucket, written only
//! conditionally: create-only (`If-None-Match: *`) or compare-and-swap on the
//! ETag read (`If-Match`). S3 makes each check and its write one step.

use std::time::Duration;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

/// One version of an object: its bytes and the ETag that names that version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub bytes: Vec<u8>,
    pub etag: String,
}

/// What a read that names the version seen last found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fresh {
    /// The object is still the version seen.
    Unchanged,
    /// There is no such object.
    Gone,
    /// A version other than the one seen (or the first look).
    Changed(Versioned),
}

/// What a conditional write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Written; the new version's ETag.
    Done { etag: String },
    /// The condition failed: the object exists (create) or changed or went
    /// away since it was read (swap). Nothing was written.
    Refused,
}

/// A failure to reach S3 or a refusal other than the condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ObjectError(pub String);

/// How often a write that overlapped another on the same key (409
/// ConditionalRequestConflict) is tried again, and how long between tries.
const CONFLICT_RETRIES: u32 = 8;
const CONFLICT_BACKOFF: Duration = Duration::from_millis(25);

/// Where a team stack's state lives.
#[derive(Debug, Clone)]
pub struct TeamPrefix {
    client: Client,
    bucket: String,
    prefix: String,
}

impl TeamPrefix {
    /// The objects under `prefix` (no leading or trailing slash) in `bucket`.
    pub fn new(client: Client, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        TeamPrefix {
            client,
            bucket: bucket.into(),
            prefix: prefix.into().trim_matches('/').to_string(),
        }
    }

    /// The same objects, reached with `client`.
    pub fn with_client(&self, client: Client) -> Self {
        TeamPrefix {
            client,
            ..self.clone()
        }
    }

    /// The S3 client the objects are reached with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.prefix)
    }

    /// The current version of `name`, or `None` when there is none.
    pub async fn read(&self, name: &str) -> Result<Option<Versioned>, ObjectError> {
        Ok(match self.read_if_changed(name, None).await? {
            Fresh::Changed(version) => Some(version),
            Fresh::Unchanged | Fresh::Gone => None,
        })
    }

    /// The current version of `name` unless it is still `seen` (the ETag of
    /// the version read last): S3 answers `304 Not Modified` without the
    /// bytes then (`If-None-Match`), so looking costs one small request.
    pub async fn read_if_changed(
        &self,
        name: &str,
        seen: Option<&str>,
    ) -> Result<Fresh, ObjectError> {
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .set_if_none_match(seen.map(str::to_string))
            .send()
            .await;
        let output = match got {
            Ok(output) => output,
            Err(error) if status(&error) == Some(404) => return Ok(Fresh::Gone),
            Err(error) if status(&error) == Some(304) => return Ok(Fresh::Unchanged),
            Err(error) => return Err(failure("read", name, &error)),
        };
        let etag = output.e_tag().unwrap_or_default().to_string();
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|e| ObjectError(format!("Reading {name} from S3 was cut off: {e}")))?;
        Ok(Fresh::Changed(Versioned {
            bytes: bytes.to_vec(),
            etag,
        }))
    }

    /// Writes `name` only if it does not exist.
    pub async fn create(&self, name: &str, bytes: &[u8]) -> Result<Written, ObjectError> {
        self.put(name, bytes, None).await
    }

    /// Writes `name` only if its current version is `etag`.
    pub async fn swap(&self, name: &str, etag: &str, bytes: &[u8]) -> Result<Written, ObjectError> {
        self.put(name, bytes, Some(etag)).await
    }

    async fn put(
        &self,
        name: &str,
        bytes: &[u8],
        if_match: Option<&str>,
    ) -> Result<Written, ObjectError> {
        for attempt in 0..=CONFLICT_RETRIES {
            let request = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(self.key(name))
                .content_type(content_type(name))
                .body(ByteStream::from(bytes.to_vec()));
            let request = match if_match {
                Some(etag) => request.if_match(etag),
                None => request.if_none_match("*"),
            };
            match request.send().await {
                Ok(output) => {
                    let etag = output.e_tag().unwrap_or_default().to_string();
                    return Ok(Written::Done { etag });
                }
                // 404: an If-Match on an object that went away.
                Err(error) if matches!(status(&error), Some(412 | 404)) => {
                    return Ok(Written::Refused)
                }
                Err(error) if status(&error) == Some(409) && attempt < CONFLICT_RETRIES => {
                    tokio::time::sleep(CONFLICT_BACKOFF * (attempt + 1)).await;
                }
                Err(error) => return Err(failure("write", name, &error)),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// The names (relative to the prefix) of the first `max` objects under
    /// `folder`, in key order (one `ListObjectsV2`, whatever the folder holds).
    pub async fn list_first(&self, folder: &str, max: i32) -> Result<Vec<String>, ObjectError> {
        let page = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.key(folder))
            .max_keys(max)
            .send()
            .await
            .map_err(|e| failure("list", folder, &e))?;
        let start = self.prefix.len() + 1;
        Ok(page
            .contents()
            .iter()
            .filter_map(|object| object.key().map(|key| key[start..].to_string()))
            .collect())
    }

    /// The names (relative to the prefix) of every object under `folder`.
    pub async fn list(&self, folder: &str) -> Result<Vec<String>, ObjectError> {
        let mut names = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.key(folder))
            .into_paginator()
            .send();
        let start = self.prefix.len() + 1;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failure("list", folder, &e))?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    names.push(key[start..].to_string());
                }
            }
        }
        Ok(names)
    }
}

fn status<E>(error: &SdkError<E>) -> Option<u16> {
    error.raw_response().map(|r| r.status().as_u16())
}

fn failure<E: ProvideErrorMetadata + std::error::Error + 'static>(
    what: &str,
    name: &str,
    error: &SdkError<E>,
) -> ObjectError {
    ObjectError(format!(
        "Could not {what} the team's {name} in S3: {}",
        describe(error)
    ))
}

/// What S3 said, or why it could not be reached, in a user's words.
pub(crate) fn describe<E: ProvideErrorMetadata + std::error::Error + 'static>(
    error: &SdkError<E>,
) -> String {
    match error {
        SdkError::ServiceError(service) => service
            .err()
            .message()
            .or(service.err().code())
            .unwrap_or("refused")
            .to_string(),
        other => format!("S3 could not be reached ({})", DisplayErrorContext(other)),
    }
}

/// Logs are text; every other team object is JSON.
fn content_type(name: &str) -> &'static str {
    if name.ends_with(".log") {
        "text/plain; charset=utf-8"
    } else {
        "application/json"
    }
}

/// A team object's bytes.
pub(crate) fn to_json(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("team objects always serialize")
}

impl TeamPrefix {
    /// The current version of `name` read as JSON, with its ETag.
    pub async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<(T, String)>, ObjectError> {
        let Some(Versioned { bytes, etag }) = self.read(name).await? else {
            return Ok(None);
        };
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| ObjectError(format!("The team's {name} in S3 is not readable: {e}")))?;
        Ok(Some((value, etag)))
    }
}
