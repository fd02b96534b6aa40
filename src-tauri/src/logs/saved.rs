//! A log as a plain-text file of its own: saved to the Downloads folder, or
//! copied and opened in the program the system opens text files with.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use stageline_engine::{PartKind, RunId};

use super::read::export;
use super::view::SavedLog;
use super::LogFiles;

/// `stageline-run-12-build.log`.
pub fn saved_name(run: RunId, part: PartKind) -> String {
    format!("stageline-run-{run}-{}.log", part.as_str())
}

/// A path in `folder` named `name`, or `name (2)`… when that is taken, as a
/// browser names downloads.
fn free_path(folder: &Path, name: &str) -> PathBuf {
    let first = folder.join(name);
    if !first.exists() {
        return first;
    }
    let (stem, extension) = name.rsplit_once('.').unwrap_or((name, ""));
    (2..)
        .map(|n| folder.join(format!("{stem} ({n}).{extension}")))
        .find(|path| !path.exists())
        .unwrap_or(first)
}

/// Saves the plain text of the log in `folder`, never over another file.
pub fn save(files: &LogFiles, folder: &Path, name: &str) -> io::Result<SavedLog> {
    std::fs::create_dir_all(folder)?;
    let path = free_path(folder, name);
    let lines = export(files, &path)?;
    Ok(SavedLog {
        path: path.to_string_lossy().into_owned(),
        lines,
    })
}

/// The program that opens a file as the user's desktop would.
fn opener(path: &Path) -> Command {
    if cfg!(target_os = "macos") {
        let mut command = Command::new("open");
        command.args(["-t"]).arg(path);
        command
    } else if cfg!(target_os = "windows") {
        let mut command = Command::new("cmd");
        command.args(["/C", "start", ""]).arg(path);
        command
    } else {
        let mut command = Command::new("xdg-open");
        command.arg(path);
        command
    }
}

/// Writes a fresh plain-text copy of the log to `folder` and opens it.
pub fn open_in_editor(
    files: &LogFiles,
    folder: &Path,
    name: &str,
) -> Result<SavedLog, crate::error::AppError> {
    use crate::error::AppError;
    std::fs::create_dir_all(folder).map_err(|e| {
        AppError::internal(format!("The copy of the log could not be written: {e}"))
    })?;
    let path = folder.join(name);
    let lines = export(files, &path).map_err(|e| {
        AppError::internal(format!("The copy of the log could not be written: {e}"))
    })?;
    let mut command = opener(&path);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match command.spawn() {
        Ok(mut child) => {
            // Reaped in the background; the editor may stay open for long.
            std::thread::spawn(move || child.wait());
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(AppError::internal(format!(
                "No program is set up to open text files here. The log was copied to {}.",
                path.display()
            )))
        }
        Err(error) => {
            return Err(AppError::internal(format!(
                "The log could not be opened ({error}). It was copied to {}.",
                path.display()
            )))
        }
    }
    Ok(SavedLog {
        path: path.to_string_lossy().into_owned(),
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saving_twice_keeps_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let logs = super::super::FileLogs::new(dir.path().join("logs"));
        let sink = stageline_engine::ports::Logs::open(&logs, RunId(3), PartKind::Build);
        sink.line("\u{1b}[32mbuilt\u{1b}[0m");
        drop(sink);
        let files = logs.files(RunId(3), PartKind::Build).unwrap();
        let downloads = dir.path().join("Downloads");
        let name = saved_name(RunId(3), PartKind::Build);
        let first = save(&files, &downloads, &name).unwrap();
        let second = save(&files, &downloads, &name).unwrap();
        assert!(first.path.ends_with("stageline-run-3-build.log"));
        assert!(second.path.ends_with("stageline-run-3-build (2).log"));
        assert_eq!(std::fs::read_to_string(&second.path).unwrap(), "built\n");
        assert_eq!(second.lines, 1);
    }
}
