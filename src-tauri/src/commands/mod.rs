//! Tauri commands: arguments in, one call into the core, errors mapped.

pub mod accounts;
pub mod chat;
pub mod logs;
pub mod pipeline;
pub mod stacks;
pub mod stage_window;
pub mod team;

use std::sync::Arc;

use crate::core::Core;

/// The core, as commands receive it.
pub type CoreState<'a> = tauri::State<'a, Arc<Core>>;
