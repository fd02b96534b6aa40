//! Credentials and secret values in the OS keychain (keyring, Secret Service).
//!
//! Rules of this crate:
//! - secret values only ever go to the keychain; callers keep the entry's
//!   name (a "keychain reference"), never the value;
//! - nothing here logs or formats a secret: `Debug` of secret-holding types
//!   is redacted;
//! - the keyring API is blocking, so every call runs in `spawn_blocking`.

mod keychain;
mod profile;

pub use keychain::{AwsKeys, Keychain};
pub use profile::{check_profile_readable, ProfileFiles};
