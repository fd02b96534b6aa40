//! The environment a part's commands start with, layered by precedence.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use stageline_engine::ports::ResolvedVar;

/// Variables taken from Stageline's own environment; nothing else of it
/// reaches the commands. Docker's own variables pass through so a build
/// reaches the user's Docker daemon as a terminal would (a rootless daemon's
/// socket is under `XDG_RUNTIME_DIR`); AWS settings never do: parts get the
/// stage's account from Stageline (R3a), never the user's default profile.
pub(crate) const INHERITED: [&str; 10] = [
    "PATH",
    "HOME",
    "LANG",
    "TMPDIR",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "DOCKER_CONTEXT",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
    "XDG_RUNTIME_DIR",
];

/// Later layers win: inherited, then the buildspec's `env.variables`, then
/// the user's variables, then the CodeBuild compatibility variables, then
/// Stageline's injected variables (which therefore nothing can override).
pub(crate) fn compose(
    inherited: impl Fn(&str) -> Option<OsString>,
    buildspec: &[(String, String)],
    user: &[ResolvedVar],
    workdir: &Path,
    injected: &[ResolvedVar],
) -> BTreeMap<String, OsString> {
    let mut env = BTreeMap::new();
    for name in INHERITED {
        if let Some(value) = inherited(name) {
            env.insert(name.to_string(), value);
        }
    }
    for (name, value) in buildspec {
        env.insert(name.clone(), value.into());
    }
    for var in user {
        env.insert(var.name.clone(), (&var.value).into());
    }
    // CodeBuild's own variables that buildspecs commonly read.
    env.insert("CODEBUILD_SRC_DIR".into(), workdir.as_os_str().to_owned());
    env.insert("CODEBUILD_BUILD_SUCCEEDING".into(), "1".into());
    for var in injected {
        env.insert(var.name.clone(), (&var.value).into());
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, value: &str) -> ResolvedVar {
        ResolvedVar {
            name: name.into(),
            value: value.into(),
            secret: false,
        }
    }

    #[test]
    fn later_layers_win_and_injected_wins_over_all() {
        let env = compose(
            |name| (name == "PATH").then(|| OsString::from("/bin")),
            &[
                ("A".into(), "spec".into()),
                ("B".into(), "spec".into()),
                ("PATH".into(), "/spec".into()),
            ],
            &[var("B", "user"), var("C", "user")],
            Path::new("/w"),
            &[var("C", "stageline")],
        );
        assert_eq!(env["A"], "spec");
        assert_eq!(env["B"], "user");
        assert_eq!(env["C"], "stageline");
        assert_eq!(env["PATH"], "/spec");
        assert_eq!(env["CODEBUILD_SRC_DIR"], "/w");
        assert!(!env.contains_key("HOME"));
    }
}
