//! Stageline's Git adapter: the engine's `Source` port (branch heads and real
//! checkouts), the branch watcher that turns pushes into releases (R2), and the
//! repository checks of the create-stack dialog — all through git2.
//!
//! Rules of this crate:
//! - git2 blocks: every call runs inside `tokio::task::spawn_blocking`;
//! - every commit is read from Stageline's own bare mirror of the stack's
//!   repository (under the cache dir), local (watched in place, fetched when
//!   its branch moves) or remote (`file://`, `https://`, `ssh://`, polled) —
//!   never from the user's object store while a checkout runs;
//! - a commit is checked out once; each part gets a private copy of that
//!   checkout (reflinks where the file system has them, never hard links),
//!   with submodules and Git LFS content unless a stage turns them off;
//! - credentials come in as data ([`GitCredentials`]); this crate never reads
//!   the keychain, and tokens never appear in a message, error or `Debug` output;
//! - failures reach the engine as `PortError::new(System::Git, …)` with a
//!   sentence a user understands; nothing here panics on a bad repository.

mod check;
mod checkout;
mod commit_checkout;
mod credentials;
mod history;
mod lfs;
mod location;
mod locks;
mod messages;
mod mirror;
mod ref_watch;
mod repository;
mod source;
mod submodules;
mod watcher;
mod workspace;

pub use check::{check_repository, RepoCheckError, CHECK_TIMEOUT};
pub use credentials::{CredentialLookup, GitCredentials};
pub use history::INCLUDED_LIMIT;
pub use source::GitSource;
pub use watcher::{
    ReleaseWatcher, WatchEvent, WatchHandle, WatchTarget, LOCAL_FALLBACK_POLL, LOCAL_SAFETY_RECHECK,
};
