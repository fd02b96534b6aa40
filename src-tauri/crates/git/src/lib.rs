//! Stageline's Git adapter: the engine's `Source` port (branch heads and real
//! checkouts), the branch watcher that turns pushes into releases (R2), and the
//! repository checks of the create-stack dialog — all through git2.
//!
//! Rules of this crate:
//! - git2 blocks: every call runs inside `tokio::task::spawn_blocking`;
//! - local repositories are read in place; remote ones (`file://`, `https://`,
//!   `ssh://`) through a bare mirror per stack under the cache dir;
//! - credentials come in as data ([`GitCredentials`]); this crate never reads
//!   the keychain, and tokens never appear in a message, error or `Debug` output;
//! - failures reach the engine as `PortError::new(System::Git, …)` with a
//!   sentence a user understands; nothing here panics on a bad repository.

mod check;
mod checkout;
mod credentials;
mod history;
mod location;
mod messages;
mod mirror;
mod ref_watch;
mod repository;
mod source;
mod watcher;

pub use check::{check_repository, RepoCheckError, CHECK_TIMEOUT};
pub use credentials::{CredentialLookup, GitCredentials};
pub use history::INCLUDED_LIMIT;
pub use source::GitSource;
pub use watcher::{
    ReleaseWatcher, WatchEvent, WatchHandle, WatchTarget, LOCAL_FALLBACK_POLL, LOCAL_SAFETY_RECHECK,
};
