//! The Git adapter against real repositories in temp dirs.

mod check;
mod history;
mod sign_in;
mod source;
mod support;
mod watch_local;
mod watch_remote;
