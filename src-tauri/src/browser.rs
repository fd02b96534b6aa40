//! Opens a stage's service URL in the user's browser. Only URLs the stage's
//! own stack reported are opened (the UI names the stage, not the URL), and
//! only http(s) ones.

use std::process::{Command, Stdio};

use crate::error::{AppError, AppResult};

/// Hands `url` to the desktop's URL opener, without waiting for the browser.
pub fn open(url: &str) -> AppResult<()> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(AppError::internal(format!("{url} is not a web address.")));
    }
    let mut command = if cfg!(target_os = "macos") {
        Command::new("open")
    } else if cfg!(target_os = "windows") {
        let mut command = Command::new("cmd");
        command.args(["/C", "start", ""]);
        command
    } else {
        Command::new("xdg-open")
    };
    command
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match command.spawn() {
        Ok(mut child) => {
            // Reaped in the background: xdg-open may wait for the browser.
            std::thread::spawn(move || child.wait());
            Ok(())
        }
        Err(error) => Err(AppError::internal(format!(
            "No browser could be started ({error}). The stage's address is {url}."
        ))),
    }
}
