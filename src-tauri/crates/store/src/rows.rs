//! JSON columns to engine types and back.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::open::store_error;
use stageline_engine::PortError;

pub(crate) fn to_json(value: &impl Serialize) -> Result<String, PortError> {
    serde_json::to_string(value).map_err(|e| store_error("encode a row", e))
}

pub(crate) fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, PortError> {
    serde_json::from_str(text).map_err(|e| store_error("read a row", e))
}

/// An enum's serialized name ("running", "pending"…), for status columns.
pub(crate) fn tag(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
