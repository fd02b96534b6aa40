//! Who the person at this desktop is to AWS: approvals are recorded by
//! principal ARN, never by a name typed in.

use aws_sdk_sts::error::DisplayErrorContext;
use aws_sdk_sts::Client;

use crate::objects::ObjectError;

/// The caller's principal ARN (`sts:GetCallerIdentity`, which needs no
/// permission).
pub async fn caller_arn(client: &Client) -> Result<String, ObjectError> {
    let identity = client.get_caller_identity().send().await.map_err(|e| {
        ObjectError(format!(
            "Could not ask AWS who you are (sts:GetCallerIdentity): {}",
            DisplayErrorContext(&e)
        ))
    })?;
    identity
        .arn()
        .map(str::to_string)
        .ok_or_else(|| ObjectError("AWS did not say who you are (no ARN).".into()))
}
