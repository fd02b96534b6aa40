//! Stageline's engine: the domain, the input rules, and the flow rules of
//! SPEC.md (R1–R17) as an explicit state machine.
//!
//! Rules of this crate:
//! - pure logic plus port traits: no Tauri, AWS SDK, sqlx, git2 or keyring
//!   anywhere in its dependency tree (adapters implement the ports);
//! - time and ids come from the `Clock` port, never read implicitly;
//! - every transition writes its changes through the `Store` port in one
//!   transaction before any effect runs, and emits one `PipelineEvent`;
//! - there is no operation that reorders stages (R1).

pub mod domain;
pub mod drift;
pub mod error;
pub mod events;
pub mod flow;
pub mod ids;
pub mod images;
pub mod keychain_names;
pub mod order;
pub mod pipeline;
pub mod ports;
pub mod regions;
pub mod team;
#[cfg(feature = "fakes")]
pub mod testing;
pub mod validation;
pub mod verification;
pub mod window;

pub use domain::*;
pub use error::{EngineError, ErrorCode, PortError, System};
pub use events::PipelineEvent;
pub use ids::*;
pub use verification::{Freeze, StageService, Verification};
pub use window::{DeployWindow, Weekday};
