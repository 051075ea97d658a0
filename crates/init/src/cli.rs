//! The command line: `hookinit [OPTIONS] [--] PROGRAM [ARGS...]`.
//!
//! Every option can also be set from the environment (as tini's `TINI_*`) or from
//! `/etc/hookinit.toml`; precedence is flags > environment > file.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgAction, Parser};

/// Everything `--help` says after the flags: the environment, the DEBUG options (from the
/// parser's own tables), the exit status and the subcommands.
fn after_help() -> String {
    format!(
        "\
Environment (each overridden by the flag of the same meaning):
  HOOKINIT_DEBUG, DEBUG      debug options, e.g. verbose,stayalive,fstree=URL,plugin=PATH
                             (HOOKINIT_DEBUG wins, is hookinit's alone, and leaves DEBUG to
                             your application)
  HOOKINIT_VERBOSITY=N       like -v: 0 errors, 1 warnings (default), 2 lifecycle, 3 debug
  HOOKINIT_KILL_PROCESS_GROUP=1   like -g
  HOOKINIT_REMAP_EXIT=143,130     like -e, comma-separated
  HOOKINIT_PDEATHSIG=SIG          like -p
  HOOKINIT_SUBREAPER=1            like -s
  HOOKINIT_REWRITE=TERM:QUIT,USR1:0   like -r, comma-separated
  HOOKINIT_GRACE=2s          grace between SIGTERM and SIGKILL for the main process's group
  HOOKINIT_CONFIG=PATH       configuration file (default /etc/hookinit.toml, optional)
  HOOKINIT_CACHE_DIR=DIR     where compiled plugins are cached (default /tmp/hookinit-cache)
  HOOKINIT_RUN_DIR=DIR       hookinit's own directory (default /run/hookinit): stayalive writes
                             `env` there for exec'd shells, and `hookinit ctl` talks to PID 1
                             through its socket `ctl.sock`
  HOOKINIT_TERMINATION_LOG=PATH   failure reason for Kubernetes (default /dev/termination-log,
                             written only if it exists)

DEBUG options, comma-separated; sub-options follow the option they modify:
{debug}
Exit status: the main process's, or 128+N when signal N killed it; 127 when PROGRAM is not
found, 126 when it cannot be executed, 2 for a usage or configuration error.

Subcommands, for operators inside the container (`docker exec CTR hookinit ctl status`;
`hookinit ctl --help`):
  hookinit ctl status                       the main process, restarts, plugins, stay on/off
  hookinit ctl restart                      end the main process as a stop would, start it again
  hookinit ctl stay on|off                  whether a coming crash stays
  hookinit ctl stop                         what `docker stop` does
and for image builds and plugin authors (`hookinit plugin SUBCOMMAND --help`):
  hookinit plugin compile FILE [-o DIR]     precompile a plugin into the compile cache
  hookinit plugin inspect FILE              what a plugin is: sha256, WIT version, hooks
  hookinit plugin check FILE [GRANTS...]    whether this hookinit runs it with these grants
  hookinit plugin list                      the built-in plugins",
        debug = crate::config::debug::help()
    )
}

/// The one usage line, printed under every command-line error.
pub const USAGE: &str =
    "usage: hookinit [OPTIONS] [--] PROGRAM [ARGS...]  (`hookinit --help` lists the options)";

/// A container init (PID 1) that makes start-up failures debuggable.
///
/// Runs PROGRAM as the main process, forwards signals to it, reaps zombies and exits with its
/// status. With DEBUG=stayalive it stays up after a crash so that you can `docker exec` in.
#[derive(Debug, Default, Parser)]
#[command(name = "hookinit", version, max_term_width = 100)]
pub struct Cli {
    /// Forward signals to the main process's whole process group, not only to the process
    /// (reaches grandchildren behind a shell).
    #[arg(short = 'g', long = "process-group")]
    pub process_group: bool,

    /// Report exit status CODE as 0 (repeatable), e.g. `-e 143` for a stopped Java program.
    #[arg(short = 'e', long = "remap-exit", value_name = "CODE", value_parser = exit_status)]
    pub remap_exit: Vec<u8>,

    /// Ask the kernel to send SIG to hookinit when its parent dies (forwarded like any signal).
    #[arg(short = 'p', long = "pdeathsig", value_name = "SIG")]
    pub pdeathsig: Option<String>,

    /// Register as a child subreaper. Automatic when hookinit is not PID 1; accepted for tini
    /// compatibility.
    #[arg(short = 's', long = "subreaper")]
    pub subreaper: bool,

    /// Rewrite signal FROM to TO before forwarding it (repeatable); TO=0 drops FROM.
    #[arg(short = 'r', long = "rewrite", value_name = "FROM:TO")]
    pub rewrite: Vec<String>,

    /// More output: -v lifecycle events, -vv debugging detail.
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,

    /// Grace period between SIGTERM and SIGKILL for what is left of the main process's group.
    #[arg(long, value_name = "DURATION")]
    pub grace: Option<String>,

    /// Debug options, same grammar as DEBUG (overrides HOOKINIT_DEBUG and DEBUG).
    #[arg(long, value_name = "OPTIONS")]
    pub debug: Option<String>,

    /// Configuration file (default: $HOOKINIT_CONFIG, else /etc/hookinit.toml if it exists).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// The main process and its arguments. An option before PROGRAM is hookinit's (an unknown
    /// one is refused); from PROGRAM on, or after `--`, everything is the program's.
    #[arg(value_name = "PROGRAM", trailing_var_arg = true)]
    pub command: Vec<OsString>,
}

fn exit_status(text: &str) -> Result<u8, String> {
    text.trim()
        .parse()
        .map_err(|_| "not an exit status from 0 to 255".to_owned())
}

/// What the command line asks for: run, or exit at once with this status (after `--help`,
/// `--version`, or a usage error already reported).
pub enum Parsed {
    Run(Cli),
    Exit(u8),
}

/// Parses the command line. `--help` and `--version` print and exit 0; a mistake is one
/// `hookinit: error:` line, the usage line, and status 2, like every configuration error.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Parsed {
    use clap::error::ErrorKind;
    match Cli::try_parse_from(args) {
        Ok(cli) => Parsed::Run(cli),
        // The long text after the flags is built only when asked for, not at every start.
        Err(err) if err.kind() == ErrorKind::DisplayHelp => {
            use clap::CommandFactory;
            let _ = Cli::command().after_help(after_help()).print_long_help();
            Parsed::Exit(0)
        }
        Err(err) if err.kind() == ErrorKind::DisplayVersion => {
            let _ = err.print();
            Parsed::Exit(0)
        }
        Err(err) => {
            crate::error!("{}", describe(&err));
            eprintln!("{USAGE}");
            Parsed::Exit(2)
        }
    }
}

/// A parser error in one line for people: what was wrong, and what to do.
fn describe(err: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let context = |kind| match err.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    let arg = context(ContextKind::InvalidArg).unwrap_or_default();
    // clap names an option with its value (`--grace <DURATION>`): people wrote the name.
    let option = arg.split(' ').next().unwrap_or_default().to_owned();
    match err.kind() {
        ErrorKind::UnknownArgument => {
            let hint = match context(ContextKind::SuggestedArg) {
                Some(suggested) => format!("did you mean `{suggested}`? "),
                None => String::new(),
            };
            format!(
                "unknown option `{arg}`: {hint}(if it is the program's own, put `--` before the program: hookinit [OPTIONS] -- PROGRAM {arg})"
            )
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let value = context(ContextKind::InvalidValue).unwrap_or_default();
            let why = match std::error::Error::source(err) {
                Some(reason) => reason.to_string(),
                None if value.is_empty() => "it needs a value".to_owned(),
                None => "not a valid value".to_owned(),
            };
            if value.is_empty() {
                format!("`{option}` needs a value: {why}")
            } else {
                format!("`{}` for `{option}` is {why}", crate::log::clip(&value))
            }
        }
        ErrorKind::ArgumentConflict | ErrorKind::TooManyValues => {
            format!("`{option}` given more than once or with a conflicting option")
        }
        _ => {
            // clap's own first line, without its `error: ` tag.
            let text = err.to_string();
            let first = text.lines().next().unwrap_or_default();
            first.strip_prefix("error: ").unwrap_or(first).to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(args: &[&str]) -> String {
        let args = std::iter::once("hookinit").chain(args.iter().copied());
        describe(&Cli::try_parse_from(args).unwrap_err())
    }

    #[test]
    fn program_options_are_the_programs() {
        for (args, command) in [
            (&["sh", "-c", "exit 3"][..], &["sh", "-c", "exit 3"][..]),
            (&["--", "-weird", "--verbos"], &["-weird", "--verbos"]),
            (&["-v", "--", "ls", "-l"], &["ls", "-l"]),
            (&["ls", "--", "-l"], &["ls", "--", "-l"]),
        ] {
            let cli = Cli::try_parse_from(std::iter::once("hookinit").chain(args.iter().copied()))
                .unwrap();
            assert_eq!(cli.command, command, "{args:?}");
        }
    }

    #[test]
    fn mistakes_are_one_line_for_people() {
        let unknown = error_of(&["--verbos", "true"]);
        assert!(
            unknown.starts_with("unknown option `--verbos`: did you mean `--verbose`?"),
            "{unknown}"
        );
        assert!(unknown.contains("-- PROGRAM --verbos"), "{unknown}");
        assert_eq!(
            error_of(&["-e", "abc", "true"]),
            "`abc` for `--remap-exit` is not an exit status from 0 to 255"
        );
        for args in [
            &["--grace"][..],
            &["-x", "true"],
            &["--debug"],
            &["-e", "300", "true"],
        ] {
            let line = error_of(args);
            assert!(!line.contains('\n') && !line.is_empty(), "{args:?}: {line}");
            assert!(!line.starts_with("error:"), "{args:?}: {line}");
        }
    }

    #[test]
    fn help_lists_every_debug_word_and_the_subcommands() {
        let help = after_help();
        use crate::config::debug::{FSTREE_SUBS, OPTIONS, PLUGIN_SUBS};
        for word in OPTIONS.iter().chain(&FSTREE_SUBS).chain(&PLUGIN_SUBS) {
            assert!(help.contains(word.form), "{}", word.form);
        }
        for sub in [
            "compile",
            "inspect",
            "check",
            "list",
            "config.KEY=VALUE",
            "ctl status",
            "ctl restart",
            "ctl stay on|off",
            "ctl stop",
        ] {
            assert!(help.contains(sub), "{sub}");
        }
    }
}
