//! The Git adapter against real repositories in temp dirs.

mod check;
mod history;
mod sign_in;
mod source;
mod submodules_and_lfs;
mod support;
mod watch_local;
mod watch_remote;
mod workspaces;
