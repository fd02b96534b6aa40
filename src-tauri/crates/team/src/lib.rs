//! Team stacks (R22): the shared state of a stack that several desktops run,
//! kept in the account's own S3 and written only with conditional writes.
//! The design — what is shared, the lease protocol, every conflict and what
//! it costs — is this crate's README.md.
//!
//! Rules of this crate:
//! - every write is conditional (create-only or compare-and-swap on the
//!   ETag read); nothing here overwrites blindly;
//! - the rules (who holds a lease, who may approve) are the engine's
//!   (`stageline_engine::team`); this crate only stores and reads them;
//! - no secret value is ever written to S3 (team stacks keep them in Secrets
//!   Manager, referenced by ARN).

pub mod approvals;
pub mod bucket;
pub mod clock_watch;
pub mod coordinator;
pub mod definition;
pub mod deletion;
pub mod follow;
pub mod history;
pub mod identity;
pub mod leases;
pub mod objects;
pub mod stage_hold;
pub mod sync;
#[cfg(feature = "testing")]
pub mod testing;

pub use approvals::{
    DecideError, DecideOutcome, SharedApprovalRequest, SharedApprovals, SharedDecision,
};
pub use clock_watch::ClockWatch;
pub use coordinator::{TeamCoordinator, WallClock};
pub use deletion::TeamDeletion;
pub use follow::{TeamChangeError, TeamDefinitions};
pub use history::TeamHistory;
pub use leases::{LeaseAnswer, StageLeases};
pub use objects::{Fresh, ObjectError, TeamPrefix, Versioned, Written};
pub use stage_hold::{HoldAnswer, StageHold};
pub use sync::{TeamApprovals, TeamDecideError};
