//! The app shell: wires the adapters into the engine and exposes thin commands.
pub fn run() {
    tauri::Builder::default()
        .run(tauri::generate_context!("../tauri.conf.json"))
        .expect("error while running Stageline");
}
