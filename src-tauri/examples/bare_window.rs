//! A bare Tauri window showing a static page: the floor `.ci/measure-startup`
//! compares Stageline's idle memory and CPU with. Built from the app's crate,
//! so it has the same tauri version and features, and it sets WebKit as the
//! app's `main` does (no GPU compositing). No plugins, no tray, no engine.
//!   cargo build -p stageline --example bare_window

fn main() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
        std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    }
    tauri::Builder::default()
        .run(tauri::generate_context!(
            "examples/bare_window/tauri.conf.json"
        ))
        .expect("error while running the bare window");
}
