//! The Store port on a SQLite file (sqlx).
//!
//! Rules of this crate:
//! - one file in the app data dir, opened in WAL mode with a busy timeout and
//!   foreign keys on; migrations run at open;
//! - every `apply` is one transaction: a transition is written whole or not
//!   at all (an insert-at-position renumbers in the same transaction);
//! - row structs stay private: callers see the engine's types;
//! - nothing secret is ever written (rows name keychain entries only).

mod history;
mod insights;
mod open;
mod rows;
mod snapshot;
mod write;

pub use history::RunRecord;
pub use insights::{DayFigures, DurationPoint, StackInsights, StageInsights};
pub use open::SqliteStore;
