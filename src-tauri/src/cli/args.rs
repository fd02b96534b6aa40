//! The command line's words: what a user typed, checked before anything
//! runs. Bad arguments get a message saying which and how, and exit 2.

use stageline_engine::PartKind;

use super::protocol::Request;

/// What the user asked for: something of the app (the same request goes
/// over the control socket), or help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ask(Request),
    /// `--help`, for one command or all.
    Help(Option<&'static str>),
}

/// A command with the options every command takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub command: Command,
    /// Machine-readable output (one JSON value, or JSON lines for `logs`).
    pub json: bool,
}

/// The words that start the command line instead of the app.
pub const COMMANDS: [&str; 6] = ["status", "approve", "reject", "logs", "retry", "help"];

pub const USAGE: &str = "Stageline: every check-in flows through your stages.

Usage: stageline [COMMAND] [OPTIONS]

Without a command the desktop app starts. Commands:
  status                          stacks, their stages, what each runs, pending approvals
  approve STACK STAGE [--comment TEXT]   approve the release waiting at a stage
  reject STACK STAGE [--comment TEXT]    reject it
  logs STACK STAGE [--part build|release|deploy|verify] [--follow]   a stage's newest run's log
  retry STACK STAGE [--comment TEXT]     run the stage's failed run again

Every command takes --json (output for scripts) and --help.
Exit codes: 0 done, 1 refused or failed (the message says why), 2 bad arguments,
3 Stageline is not running (approve, reject, retry and logs --follow need it),
4 no such stack, stage or approval.";

fn help_of(command: &str) -> &'static str {
    match command {
        "status" => "Usage: stageline status [--json]\n\nEvery stack, its stages in order, the release each runs, runs in progress and\npending approvals. Works while the app is closed (reads its database).",
        "approve" => "Usage: stageline approve STACK STAGE [--comment TEXT] [--json]\n\nApproves the release waiting for approval at STAGE of STACK; it starts at once.\nRecorded as decided from the command line, by you. Needs the app running.",
        "reject" => "Usage: stageline reject STACK STAGE [--comment TEXT] [--json]\n\nRejects the release waiting for approval at STAGE of STACK; it goes no further.\nNeeds the app running.",
        "logs" => "Usage: stageline logs STACK STAGE [--part build|release|deploy|verify] [--follow] [--json]\n\nThe log of the newest run at STAGE (by default its last part that started).\n--follow keeps printing until the part ends (needs the app running).",
        "retry" => "Usage: stageline retry STACK STAGE [--comment TEXT] [--json]\n\nRuns the stage's failed (or cancelled) newest run again. Needs the app running.",
        _ => USAGE,
    }
}

/// The help text of `command` (or of every command).
pub fn help(command: Option<&'static str>) -> &'static str {
    command.map_or(USAGE, help_of)
}

fn static_name(command: &str) -> Option<&'static str> {
    COMMANDS.iter().copied().find(|c| *c == command)
}

/// Reads `args` (without the program name); `Err` is the message for a user.
pub fn parse(args: &[String]) -> Result<Invocation, String> {
    let Some((first, rest)) = args.split_first() else {
        return Ok(Invocation {
            command: Command::Help(None),
            json: false,
        });
    };
    let name = static_name(first).ok_or_else(|| {
        format!("stageline: \"{first}\" is not a command. Run `stageline --help` for the list.")
    })?;
    let mut json = false;
    let mut comment = String::new();
    let mut part = None;
    let mut follow = false;
    let mut words = Vec::new();
    let mut options = rest.iter();
    while let Some(arg) = options.next() {
        match arg.as_str() {
            "--help" | "-h" => {
                return Ok(Invocation {
                    command: Command::Help(Some(name)),
                    json,
                })
            }
            "--json" => json = true,
            "--follow" | "-f" if name == "logs" => follow = true,
            "--part" if name == "logs" => {
                let value = options
                    .next()
                    .ok_or("stageline logs: --part needs build, release, deploy or verify.")?;
                part = Some(part_kind(value)?);
            }
            "--comment" | "-m" if matches!(name, "approve" | "reject" | "retry") => {
                comment = options
                    .next()
                    .ok_or_else(|| format!("stageline {name}: --comment needs a text."))?
                    .clone();
            }
            option if option.starts_with('-') => {
                return Err(format!(
                    "stageline {name}: unknown option {option}. Run `stageline {name} --help`."
                ))
            }
            word => words.push(word.to_string()),
        }
    }
    let command = match name {
        "help" => Command::Help(words.first().and_then(|w| static_name(w))),
        "status" => {
            expect_words(name, &words, 0)?;
            Command::Ask(Request::Status)
        }
        _ => {
            expect_words(name, &words, 2)?;
            let (stack, stage) = (words[0].clone(), words[1].clone());
            Command::Ask(match name {
                "approve" | "reject" => Request::Decide {
                    stack,
                    stage,
                    approve: name == "approve",
                    comment,
                },
                "retry" => Request::Retry {
                    stack,
                    stage,
                    comment,
                },
                _ => Request::Logs {
                    stack,
                    stage,
                    part,
                    follow,
                },
            })
        }
    };
    Ok(Invocation { command, json })
}

fn expect_words(name: &str, words: &[String], count: usize) -> Result<(), String> {
    if words.len() == count {
        return Ok(());
    }
    Err(if count == 0 {
        format!(
            "stageline {name}: takes no arguments (got \"{}\").",
            words.join(" ")
        )
    } else {
        format!(
            "stageline {name}: needs STACK and STAGE (got {} argument{}). Run `stageline {name} --help`.",
            words.len(),
            if words.len() == 1 { "" } else { "s" }
        )
    })
}

fn part_kind(value: &str) -> Result<PartKind, String> {
    PartKind::ALL
        .into_iter()
        .find(|kind| kind.as_str() == value)
        .ok_or_else(|| {
            format!("stageline logs: --part is build, release, deploy or verify, not \"{value}\".")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(line: &str) -> Result<Invocation, String> {
        let args: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        parse(&args)
    }

    #[test]
    fn commands_read_their_words_and_options() {
        assert_eq!(
            parse_words("approve shop prod --comment ok --json").unwrap(),
            Invocation {
                command: Command::Ask(Request::Decide {
                    stack: "shop".into(),
                    stage: "prod".into(),
                    approve: true,
                    comment: "ok".into()
                }),
                json: true
            }
        );
        assert_eq!(
            parse_words("logs shop dev --part build -f")
                .unwrap()
                .command,
            Command::Ask(Request::Logs {
                stack: "shop".into(),
                stage: "dev".into(),
                part: Some(PartKind::Build),
                follow: true
            })
        );
        assert_eq!(
            parse_words("status --help").unwrap().command,
            Command::Help(Some("status"))
        );
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        assert!(parse_words("deploy")
            .unwrap_err()
            .contains("is not a command"));
        assert!(parse_words("approve shop")
            .unwrap_err()
            .contains("needs STACK and STAGE"));
        assert!(parse_words("logs a b --part test")
            .unwrap_err()
            .contains("--part is build"));
        assert!(parse_words("status --follow")
            .unwrap_err()
            .contains("unknown option"));
    }
}
