//! The buildspec file: the CodeBuild (version 0.2) subset Stageline runs, parsed
//! with every unsupported construct named in a clear error.

use serde_yaml::{Mapping, Value};

/// A parsed `build.yml` or `release.yml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buildspec {
    /// `env.variables`, in file order.
    pub variables: Vec<(String, String)>,
    /// The phases present in the file, in the order they run.
    pub phases: Vec<Phase>,
    /// Keys that are read but have no effect here, each with a sentence for the log.
    pub ignored: Vec<String>,
}

/// One phase of a buildspec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    pub name: PhaseName,
    /// Run one at a time, in order; the first failing one ends the list.
    pub commands: Vec<String>,
    /// Run after `commands` whatever happened to them.
    pub finally: Vec<String>,
    /// `on-failure`, if the file sets it (see the crate doc for the unset case).
    pub on_failure: Option<OnFailure>,
}

/// The four phases, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PhaseName {
    Install,
    PreBuild,
    Build,
    PostBuild,
}

impl PhaseName {
    /// Every phase, in run order.
    pub const ALL: [PhaseName; 4] = [
        PhaseName::Install,
        PhaseName::PreBuild,
        PhaseName::Build,
        PhaseName::PostBuild,
    ];

    /// The key under `phases:` in the file.
    pub fn key(self) -> &'static str {
        match self {
            PhaseName::Install => "install",
            PhaseName::PreBuild => "pre_build",
            PhaseName::Build => "build",
            PhaseName::PostBuild => "post_build",
        }
    }

    /// The name CodeBuild's logs use (`PRE_BUILD`).
    pub fn label(self) -> &'static str {
        match self {
            PhaseName::Install => "INSTALL",
            PhaseName::PreBuild => "PRE_BUILD",
            PhaseName::Build => "BUILD",
            PhaseName::PostBuild => "POST_BUILD",
        }
    }

    fn from_key(key: &str) -> Option<PhaseName> {
        PhaseName::ALL.into_iter().find(|phase| phase.key() == key)
    }
}

/// What a failed phase does to the phases after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// No later phase runs.
    Abort,
    /// The next phase runs (the part still fails in the end).
    Continue,
}

/// Why a buildspec cannot be run. The text names no file: callers prefix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildspecError {
    /// The text is not YAML.
    #[error("not valid YAML at line {line}, column {column}: {detail}")]
    Syntax {
        line: usize,
        column: usize,
        detail: String,
    },
    /// The YAML is not a buildspec Stageline can run.
    #[error("{0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> BuildspecError {
    BuildspecError::Invalid(message.into())
}

/// The largest buildspec read: far above any real one, small enough that no
/// file can make the parser take long or much memory.
pub const MAX_BUILDSPEC_BYTES: usize = 1 << 20;

/// The deepest nesting of `[` and `{` accepted (the YAML parser's own
/// recursion limit): past it, libyaml's time grows with the square of the depth.
const MAX_FLOW_DEPTH: usize = 128;

/// Parses a buildspec, rejecting what Stageline cannot run.
pub fn parse_buildspec(text: &str) -> Result<Buildspec, BuildspecError> {
    if text.len() > MAX_BUILDSPEC_BYTES {
        return Err(invalid(format!(
            "the file is {} KB; a buildspec may be at most {} KB",
            text.len().div_ceil(1024),
            MAX_BUILDSPEC_BYTES / 1024
        )));
    }
    // A byte-order mark (editors on Windows write one) is not content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    check_flow_depth(text)?;
    let mut root: Value = serde_yaml::from_str(text).map_err(syntax_error)?;
    root.apply_merge().map_err(syntax_error)?;
    let root = match root {
        Value::Mapping(map) => map,
        Value::Null => {
            return Err(invalid(
                "the file is empty; it needs `version: 0.2` and `phases` with commands",
            ))
        }
        _ => {
            return Err(invalid(
                "the file must be a mapping with `version: 0.2` and `phases`",
            ))
        }
    };

    let mut spec = Buildspec {
        variables: Vec::new(),
        phases: Vec::new(),
        ignored: Vec::new(),
    };
    let mut version_seen = false;
    let mut phases_seen = false;
    for (key, value) in &root {
        match key_text(key, "a top-level key")? {
            "version" => {
                check_version(value)?;
                version_seen = true;
            }
            "env" => read_env(value, &mut spec)?,
            "phases" => {
                spec.phases = read_phases(value, &mut spec.ignored)?;
                phases_seen = true;
            }
            "artifacts" => spec.ignored.push(
                "`artifacts` is ignored: Stageline keeps no build artifacts (push images to ECR from the commands)".into(),
            ),
            "cache" => spec.ignored.push("`cache` is ignored: builds run in the checkout on this machine".into()),
            "reports" => spec.ignored.push("`reports` is ignored: Stageline has no CodeBuild report groups".into()),
            "proxy" => spec.ignored.push("`proxy` is ignored: builds use this machine's network settings".into()),
            "run-as" => {
                return Err(invalid(
                    "`run-as` is not supported: commands run as the user running Stageline",
                ))
            }
            "batch" => return Err(invalid("`batch` (batch builds) is not supported")),
            other => {
                return Err(invalid(format!(
                    "unknown top-level key `{other}` (a buildspec has `version`, `env`, `phases`, and optionally `artifacts`, `cache`, `reports`)"
                )))
            }
        }
    }
    if !version_seen {
        return Err(invalid("`version: 0.2` is missing"));
    }
    if !phases_seen {
        return Err(invalid(
            "`phases` is missing; add at least a `build` phase with `commands`",
        ));
    }
    Ok(spec)
}

/// Refuses brackets nested past [`MAX_FLOW_DEPTH`] before YAML sees them,
/// at the line and column where the limit is passed. Brackets are counted
/// wherever they are (also in quoted text): only an absurd command comes near.
fn check_flow_depth(text: &str) -> Result<(), BuildspecError> {
    let mut depth: usize = 0;
    let (mut line, mut column) = (1, 0);
    for c in text.chars() {
        column += 1;
        match c {
            '\n' => {
                line += 1;
                column = 0;
            }
            '[' | '{' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Err(BuildspecError::Syntax {
                        line,
                        column,
                        detail: format!(
                            "lists or mappings nested more than {MAX_FLOW_DEPTH} levels deep"
                        ),
                    });
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn syntax_error(error: serde_yaml::Error) -> BuildspecError {
    let detail = error.to_string();
    match error.location() {
        Some(at) => {
            // serde_yaml repeats the location in its text; say it once.
            let repeated = format!(" at line {} column {}", at.line(), at.column());
            BuildspecError::Syntax {
                line: at.line(),
                column: at.column(),
                detail: detail.replacen(&repeated, "", 1),
            }
        }
        None => invalid(format!("not valid YAML: {detail}")),
    }
}

fn key_text<'a>(key: &'a Value, what: &str) -> Result<&'a str, BuildspecError> {
    match key {
        Value::String(text) => Ok(text),
        _ => Err(invalid(format!(
            "{what} must be text, found {}",
            describe(key)
        ))),
    }
}

fn check_version(value: &Value) -> Result<(), BuildspecError> {
    let text = match value {
        Value::Number(number) => number.to_string(),
        Value::String(text) => text.trim().to_string(),
        other => describe(other),
    };
    if text == "0.2" {
        Ok(())
    } else {
        Err(invalid(format!(
            "`version` must be 0.2 (found {text}): Stageline runs CodeBuild buildspec version 0.2"
        )))
    }
}

fn read_env(value: &Value, spec: &mut Buildspec) -> Result<(), BuildspecError> {
    let env = as_mapping(value, "`env`")?;
    for (key, value) in env {
        match key_text(key, "a key under `env`")? {
            "variables" => spec.variables = read_variables(value)?,
            "shell" => {
                if scalar_text(value).as_deref() != Some("bash") {
                    return Err(invalid(
                        "`env.shell` must be `bash`: Stageline runs commands in bash",
                    ));
                }
            }
            "exported-variables" => spec.ignored.push(
                "`env.exported-variables` is ignored: there is no CodePipeline to export to".into(),
            ),
            "git-credential-helper" => spec.ignored.push(
                "`env.git-credential-helper` is ignored: git uses this machine's credentials"
                    .into(),
            ),
            "parameter-store" | "secrets-manager" => {
                let key = key_text(key, "a key under `env`")?;
                return Err(invalid(format!(
                    "`env.{key}` is not supported: set the value as a stack or stage variable in Stageline (marked secret if it is one)"
                )));
            }
            other => {
                return Err(invalid(format!(
                    "unknown key `env.{other}` (Stageline supports `env.variables`)"
                )))
            }
        }
    }
    Ok(())
}

fn read_variables(value: &Value) -> Result<Vec<(String, String)>, BuildspecError> {
    if value.is_null() {
        return Ok(Vec::new());
    }
    let map = as_mapping(value, "`env.variables`")?;
    let mut variables = Vec::new();
    for (key, value) in map {
        let name = key_text(key, "a variable name under `env.variables`")?;
        if !is_variable_name(name) {
            return Err(invalid(format!(
                "`env.variables`: `{name}` is not a valid variable name (letters, digits and _, not starting with a digit)"
            )));
        }
        let Some(text) = scalar_text(value) else {
            return Err(invalid(format!(
                "`env.variables.{name}` must be a single value, found {} (write {name}: \"\" for an empty value)",
                describe(value)
            )));
        };
        variables.push((name.to_string(), text));
    }
    Ok(variables)
}

fn read_phases(value: &Value, ignored: &mut Vec<String>) -> Result<Vec<Phase>, BuildspecError> {
    let map = as_mapping(value, "`phases`")?;
    let mut phases = Vec::new();
    for (key, value) in map {
        let key = key_text(key, "a phase name")?;
        let name = PhaseName::from_key(key).ok_or_else(|| {
            invalid(format!(
                "unknown phase `{key}` (phases are install, pre_build, build, post_build)"
            ))
        })?;
        phases.push(read_phase(name, value, ignored)?);
    }
    if phases.is_empty() {
        return Err(invalid(
            "`phases` is empty; add at least a `build` phase with `commands`",
        ));
    }
    phases.sort_by_key(|phase| phase.name);
    Ok(phases)
}

fn read_phase(
    name: PhaseName,
    value: &Value,
    ignored: &mut Vec<String>,
) -> Result<Phase, BuildspecError> {
    let key = name.key();
    if value.is_null() {
        return Err(invalid(format!("phase `{key}` has no `commands`")));
    }
    let map = as_mapping(value, &format!("phase `{key}`"))?;
    let mut phase = Phase {
        name,
        commands: Vec::new(),
        finally: Vec::new(),
        on_failure: None,
    };
    let mut commands_seen = false;
    for (field, value) in map {
        match key_text(field, &format!("a key in phase `{key}`"))? {
            "commands" => {
                phase.commands = read_commands(value, &format!("phases.{key}.commands"))?;
                commands_seen = true;
            }
            "finally" => phase.finally = read_commands(value, &format!("phases.{key}.finally"))?,
            "on-failure" => {
                phase.on_failure = Some(match scalar_text(value).as_deref() {
                    Some("ABORT") => OnFailure::Abort,
                    Some("CONTINUE") => OnFailure::Continue,
                    _ => {
                        return Err(invalid(format!(
                            "`phases.{key}.on-failure` must be ABORT or CONTINUE"
                        )))
                    }
                })
            }
            "runtime-versions" if name == PhaseName::Install => ignored.push(
                "`phases.install.runtime-versions` is ignored: commands use the tools installed on this machine".into(),
            ),
            "run-as" => {
                return Err(invalid(format!(
                    "`phases.{key}.run-as` is not supported: commands run as the user running Stageline"
                )))
            }
            other => {
                return Err(invalid(format!(
                    "unknown key `{other}` in phase `{key}` (a phase has `commands`, `finally`, `on-failure`)"
                )))
            }
        }
    }
    if !commands_seen {
        return Err(invalid(format!("phase `{key}` has no `commands`")));
    }
    Ok(phase)
}

fn read_commands(value: &Value, path: &str) -> Result<Vec<String>, BuildspecError> {
    let Value::Sequence(items) = value else {
        return Err(invalid(format!(
            "`{path}` must be a list of commands (lines starting with `- `), found {}",
            describe(value)
        )));
    };
    let mut commands = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let number = index + 1;
        let command = match item {
            Value::Mapping(_) => {
                return Err(invalid(format!(
                    "`{path}`, command {number}, reads as a mapping: a `: ` inside a command makes YAML see a key; put the command in quotes"
                )))
            }
            other => scalar_text(other).ok_or_else(|| {
                invalid(format!(
                    "`{path}`, command {number}, must be text, found {}",
                    describe(other)
                ))
            })?,
        };
        if command.trim().is_empty() {
            return Err(invalid(format!("`{path}`, command {number}, is empty")));
        }
        if command.contains('\0') {
            return Err(invalid(format!(
                "`{path}`, command {number}, contains a NUL character"
            )));
        }
        commands.push(command);
    }
    Ok(commands)
}

fn as_mapping<'a>(value: &'a Value, what: &str) -> Result<&'a Mapping, BuildspecError> {
    match value {
        Value::Mapping(map) => Ok(map),
        other => Err(invalid(format!(
            "{what} must be a mapping, found {}",
            describe(other)
        ))),
    }
}

/// The text of a scalar, as a shell would see it (`8080`, `true`).
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".into(),
        Value::Bool(flag) => format!("`{flag}`"),
        Value::Number(number) => format!("`{number}`"),
        Value::String(text) => format!("`{text}`"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(tagged) => format!("a value tagged {}", tagged.tag),
    }
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(first) if first == '_' || first.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_come_out_in_run_order_whatever_the_file_order() {
        let spec = parse_buildspec(
            "version: 0.2\nphases:\n  post_build:\n    commands: [c]\n  build:\n    commands: [b]\n  install:\n    commands: [a]\n",
        )
        .unwrap();
        let names: Vec<_> = spec.phases.iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [PhaseName::Install, PhaseName::Build, PhaseName::PostBuild]
        );
    }

    #[test]
    fn block_scalar_command_is_one_command() {
        let spec = parse_buildspec(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - |\n        if true; then\n          echo yes\n        fi\n      - echo two\n",
        )
        .unwrap();
        assert_eq!(spec.phases[0].commands.len(), 2);
        assert_eq!(
            spec.phases[0].commands[0],
            "if true; then\n  echo yes\nfi\n"
        );
    }

    #[test]
    fn scalar_variable_values_become_text() {
        let spec = parse_buildspec(
            "version: \"0.2\"\nenv:\n  variables:\n    PORT: 8080\n    DEBUG: true\n    NAME: web\nphases:\n  build:\n    commands: [echo]\n",
        )
        .unwrap();
        assert_eq!(
            spec.variables,
            [
                ("PORT".to_string(), "8080".to_string()),
                ("DEBUG".to_string(), "true".to_string()),
                ("NAME".to_string(), "web".to_string())
            ]
        );
    }

    #[test]
    fn on_failure_values_are_read() {
        let spec = parse_buildspec(
            "version: 0.2\nphases:\n  install:\n    on-failure: CONTINUE\n    commands: [a]\n  build:\n    on-failure: ABORT\n    commands: [b]\n    finally: [c]\n",
        )
        .unwrap();
        assert_eq!(spec.phases[0].on_failure, Some(OnFailure::Continue));
        assert_eq!(spec.phases[1].on_failure, Some(OnFailure::Abort));
        assert_eq!(spec.phases[1].finally, ["c"]);
    }

    #[test]
    fn artifacts_cache_and_reports_are_ignored_with_a_note() {
        let spec = parse_buildspec(
            "version: 0.2\nphases:\n  build:\n    commands: [b]\nartifacts:\n  files: ['**/*']\ncache:\n  paths: [x]\nreports: {}\n",
        )
        .unwrap();
        assert_eq!(spec.ignored.len(), 3);
    }

    #[test]
    fn unknown_top_level_key_is_an_error() {
        let error =
            parse_buildspec("version: 0.2\nphase:\n  build:\n    commands: [b]\n").unwrap_err();
        assert!(error.to_string().contains("unknown top-level key `phase`"));
    }

    #[test]
    fn unsupported_constructs_are_named() {
        let cases = [
            ("version: 0.1\nphases:\n  build:\n    commands: [b]\n", "`version` must be 0.2"),
            ("version: 0.2\nenv:\n  parameter-store:\n    A: /x\nphases:\n  build:\n    commands: [b]\n", "`env.parameter-store` is not supported"),
            ("version: 0.2\nphases:\n  build:\n    run-as: nobody\n    commands: [b]\n", "`phases.build.run-as` is not supported"),
            ("version: 0.2\nphases:\n  bild:\n    commands: [b]\n", "unknown phase `bild`"),
            ("version: 0.2\nphases:\n  build:\n    commands: [b]\n    on-failure: RETRY\n", "must be ABORT or CONTINUE"),
            ("version: 0.2\nphases:\n  build:\n    finally: [b]\n", "phase `build` has no `commands`"),
            ("version: 0.2\nphases:\n  build:\n    commands:\n      - echo a: b\n", "put the command in quotes"),
            ("version: 0.2\n", "`phases` is missing"),
            ("", "the file is empty"),
        ];
        for (text, expected) in cases {
            let error = parse_buildspec(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?} gave {error:?}");
        }
    }

    #[test]
    fn malformed_yaml_reports_line_and_column_once() {
        let error = parse_buildspec("version: 0.2\nphases:\n  build:\n    commands: [a\n  x: y\n")
            .unwrap_err();
        match &error {
            BuildspecError::Syntax {
                line,
                column,
                detail,
            } => {
                assert!(*line >= 4, "line {line}");
                assert!(*column >= 1);
                assert!(!detail.contains(&format!("at line {line} column {column}")));
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }
}
