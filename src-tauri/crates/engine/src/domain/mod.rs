//! The things a user configures (accounts, stacks, stages) and the things the
//! pipeline records (releases, runs, approvals).

mod configured;
mod recorded;

pub use configured::*;
pub use recorded::*;
