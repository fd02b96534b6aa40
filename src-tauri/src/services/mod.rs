//! What the commands do, beyond one engine call: input checks that need an
//! adapter (keychain, Git), secrets to the keychain, watchers.

pub mod accounts;
pub mod alarms;
pub mod approvals;
pub mod chat;
pub mod env;
pub mod stacks;
pub mod stages;
pub mod team;
pub mod team_stages;
