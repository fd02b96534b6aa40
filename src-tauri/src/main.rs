// Keeps a release build on Windows from opening a console window.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // `stageline status`, `approve`…: the command line, no window.
    if let Some(code) = stageline_app::cli::main_if_command() {
        std::process::exit(code);
    }
    // The dashboard needs no GPU compositing; without it WebKitGTK's web
    // process uses a third of the memory (measured by .ci/measure-startup).
    // Set before any thread starts; a user's own setting wins.
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
        std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    }
    stageline_app::run();
}
