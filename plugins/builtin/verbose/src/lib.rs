//! verbose: the built-in plugin behind `DEBUG=verbose` (the host adds the lifecycle trace).
//!
//! Before the main process starts it
//! - logs the main process's environment, one variable a line, with the value of every variable
//!   whose name looks secret (`TOKEN`, `PASSWORD`, `SECRET`, `KEY`, ...) shown as `<hidden>`,
//!   and the password of any `scheme://user:password@host` value hidden too;
//! - makes the entrypoint's shell commands traced, like `set -x`, however the script is reached
//!   (`hookinit -- script`, a `PATH` lookup, `sh script`, `bash -c ...`, `#!/usr/bin/env bash`):
//!   - bash: `SHELLOPTS=xtrace` in the environment, and a `PS4` that names file and line
//!     (`+ ${BASH_SOURCE:-$0}:${LINENO}: `). bash ignores `PS4` from the environment when it
//!     runs as root, so the same `PS4` is also set by a `BASH_ENV` file in the scratch
//!     directory the host gives this plugin (its `TMPDIR`, removed when the plugin ends). Every
//!     bash the entrypoint starts is traced the same way.
//!   - POSIX sh (dash, busybox sh, ash): run as `sh -x SCRIPT`, with a `PS4` naming the script
//!     and, where the shell knows it (busybox; Debian's dash does not), the line.
//!   - An operator's `PS4` or `BASH_ENV` is left alone.
//!
//! It never fails the start: what it cannot trace, it says and leaves as it was.
//!
//! Its grants, declared in `PluginSpec::builtin` (crates/init/src/config/plan.rs) like an
//! operator plugin's: every variable (`env=*`), `process.resolve-executable` for any program
//! (the `#!` line of executables, nothing else of the file system) and a scratch directory.

use hookinit_sdk::prelude::*;

/// The `PS4` given to bash: file and line of every traced command.
const BASH_PS4: &str = "+ ${BASH_SOURCE:-$0}:${LINENO}: ";
/// execvp's search path when the environment has no `PATH`.
const DEFAULT_PATH: &str = "/bin:/usr/bin";
/// Parts of variable names whose values are never printed.
const SECRET_WORDS: &[&str] = &[
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "SECRET",
    "KEY",
    "CREDENTIAL",
    "AUTH",
    "PRIVATE",
    "COOKIE",
    "SESSION",
    "SIGNATURE",
    "SALT",
];

#[derive(Default)]
struct Verbose {
    scratch: Option<String>,
}

impl Plugin for Verbose {
    const HOOKS: Hooks = Hooks::PRE_EXEC;

    fn init(&mut self, _config: &Config) -> Result<Hooks, String> {
        // The scratch directory the host made for this plugin, if it could.
        self.scratch = std::env::var("TMPDIR").ok().filter(|d| !d.is_empty());
        Ok(Self::HOOKS)
    }

    fn pre_exec(&mut self, mut cmd: Command) -> Result<Command, String> {
        log_environment(&cmd);
        let what = trace(&mut cmd, self.scratch.as_deref());
        info!("{what}");
        Ok(cmd)
    }
}

export_plugin!(Verbose);

/// Whether the value of variable `name` must not be printed.
pub fn is_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|w| upper.contains(w))
        || upper.ends_with("PASS")
        || upper.ends_with("_PWD")
}

/// `value` with the password of a `scheme://user:password@host` URL hidden.
pub fn mask_url_password(value: &str) -> String {
    let Some(scheme_end) = value.find("://") else {
        return value.to_string();
    };
    let rest = &value[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!(
                "{}{}:<hidden>{}",
                &value[..scheme_end + 3],
                &authority[..colon],
                &value[scheme_end + 3 + at..]
            ),
            None => value.to_string(),
        },
        None => value.to_string(),
    }
}

/// Control characters shown as escapes, so that one variable stays on one log line.
fn printable(value: &str) -> String {
    value
        .chars()
        .fold(String::with_capacity(value.len()), |mut s, c| {
            match c {
                '\n' => s.push_str("\\n"),
                '\t' => s.push_str("\\t"),
                '\r' => s.push_str("\\r"),
                c if c.is_control() => s.push_str(&format!("\\x{:02x}", c as u32)),
                c => s.push(c),
            }
            s
        })
}

fn log_environment(cmd: &Command) {
    let mut lines = vec![format!(
        "environment of the main process ({} variables; secret-looking values hidden):",
        cmd.env.len()
    )];
    for (name, value) in &cmd.env {
        let shown = if is_secret(name) {
            "<hidden>".to_string()
        } else {
            printable(&mask_url_password(value))
        };
        lines.push(format!("  {}={shown}", printable(name)));
    }
    info!("{}", lines.join("\n"));
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shell {
    Bash,
    Posix,
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn shell_named(name: &str) -> Option<Shell> {
    match basename(name) {
        "bash" => Some(Shell::Bash),
        "sh" | "dash" | "ash" | "ksh" | "mksh" => Some(Shell::Posix),
        _ => None,
    }
}

/// What a shell's arguments run: `-c` command, or the script (first operand).
fn describe_shell_args(args: &[String]) -> String {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "-c" || (arg.starts_with('-') && !arg.starts_with("--") && arg.contains('c')) {
            return "-c command".to_string();
        }
        if arg == "--" {
            return iter
                .next()
                .map_or("commands from standard input".into(), |s| {
                    format!("script {s}")
                });
        }
        if arg == "-o" || arg == "+o" || arg == "-O" || arg == "+O" {
            iter.next();
            continue;
        }
        if !(arg.starts_with('-') || arg.starts_with('+')) {
            return format!("script {arg}");
        }
    }
    "commands from standard input".to_string()
}

/// Edits `cmd` so that its shell commands are traced; returns the line to log.
fn trace(cmd: &mut Command, scratch: Option<&str>) -> String {
    let program = cmd.program.clone();
    // `sh ...`, `bash ...`, `busybox sh ...`: the shell is named on the command line.
    if let Some(shell) = shell_named(&program) {
        let what = describe_shell_args(&cmd.args);
        return match shell {
            Shell::Bash => format!("tracing bash {what}{}", trace_bash(cmd, scratch)),
            Shell::Posix => {
                let script = script_operand(&cmd.args);
                cmd.args.insert(0, "-x".into());
                format!(
                    "tracing sh {what} as `{program} -x ...`{}",
                    set_posix_ps4(cmd, script)
                )
            }
        };
    }
    if basename(&program) == "busybox"
        && let Some(applet) = cmd.args.first().cloned()
        && shell_named(&applet) == Some(Shell::Posix)
    {
        let what = describe_shell_args(&cmd.args[1..]);
        let script = script_operand(&cmd.args[1..]);
        cmd.args.insert(1, "-x".into());
        return format!(
            "tracing busybox sh {what} as `{program} {applet} -x ...`{}",
            set_posix_ps4(cmd, script)
        );
    }
    // A program found by execve: a script is run by its #! interpreter.
    let search = cmd.env("PATH").unwrap_or(DEFAULT_PATH).to_string();
    let Some(exe) = host::resolve_executable(&program, &search, &cmd.cwd) else {
        return format!("`{program}` not found (or not executable): nothing to trace");
    };
    let Some(line) = exe.interpreter.clone() else {
        return format!(
            "{} is not a script (no #! line): nothing to trace",
            exe.path
        );
    };
    // The kernel splits the #! line once: interpreter, then one optional argument.
    let (interp, interp_arg) = match line.split_once([' ', '\t']) {
        Some((i, a)) => (i.to_string(), Some(a.trim().to_string())),
        None => (line.clone(), None),
    };
    // `#!/usr/bin/env bash`, `#!/bin/busybox sh`: the shell is the argument.
    let via = basename(&interp);
    let shell = if via == "env" || via == "busybox" {
        // `env -S bash -e`: the first word that is not an option.
        let named = interp_arg
            .as_deref()
            .and_then(|a| a.split_whitespace().find(|w| !w.starts_with('-')))
            .and_then(shell_named);
        let split = interp_arg
            .as_deref()
            .is_some_and(|a| a.contains([' ', '\t']));
        match named {
            // Adding -x to a split `env -S` line is not worth guessing at.
            Some(Shell::Posix) if split => None,
            other => other,
        }
    } else {
        shell_named(&interp)
    };
    match shell {
        Some(Shell::Bash) => format!(
            "tracing bash script {}{}",
            exe.path,
            trace_bash(cmd, scratch)
        ),
        Some(Shell::Posix) => {
            // What the kernel would run (`INTERP [ARG] SCRIPT ARGS`), with -x before SCRIPT.
            let mut args = Vec::new();
            args.extend(interp_arg.clone());
            args.push("-x".to_string());
            args.push(exe.path.clone());
            args.append(&mut cmd.args);
            cmd.program = interp.clone();
            cmd.args = args;
            let shown = match &interp_arg {
                Some(a) => format!("{interp} {a}"),
                None => interp.clone(),
            };
            let ps4 = set_posix_ps4(cmd, Some(exe.path.clone()));
            format!(
                "tracing sh script {} as `{shown} -x {}`{ps4}",
                exe.path, exe.path
            )
        }
        None => format!(
            "{} is run by `#!{line}`, not a shell: nothing to trace",
            exe.path
        ),
    }
}

/// The script a POSIX shell's arguments name, if any.
fn script_operand(args: &[String]) -> Option<String> {
    let what = describe_shell_args(args);
    what.strip_prefix("script ").map(str::to_string)
}

/// bash: `SHELLOPTS` gains `xtrace`; `PS4` (unless the operator set one) in the environment and
/// in a `BASH_ENV` file (for bash run as root). Returns the details to log.
fn trace_bash(cmd: &mut Command, scratch: Option<&str>) -> String {
    let shellopts = match cmd.env("SHELLOPTS") {
        Some(v) if v.split(':').any(|o| o == "xtrace") => v.to_string(),
        Some(v) if !v.is_empty() => format!("{v}:xtrace"),
        _ => "xtrace".to_string(),
    };
    cmd.set_env("SHELLOPTS", shellopts);
    if cmd.env("PS4").is_some() {
        return " (SHELLOPTS=xtrace; your PS4 is kept)".to_string();
    }
    cmd.set_env("PS4", BASH_PS4);
    if cmd.env("BASH_ENV").is_some() {
        return " (SHELLOPTS=xtrace, PS4 with file:line; BASH_ENV is yours, so bash run as root \
                 shows no file:line)"
            .to_string();
    }
    let Some(dir) = scratch else {
        return " (SHELLOPTS=xtrace, PS4 with file:line; no scratch directory, so bash run as \
                 root shows no file:line)"
            .to_string();
    };
    let file = format!("{dir}/bash_env");
    // bash reads BASH_ENV with xtrace already on: the braces' redirection keeps these two
    // commands out of the trace.
    let text = format!(
        "# hookinit DEBUG=verbose: bash ignores PS4 from the environment when run as root.\n\
         {{ [ \"$PS4\" = '+ ' ] && PS4='{BASH_PS4}'; }} 2>/dev/null\n"
    );
    match std::fs::write(&file, text) {
        Ok(()) => {
            cmd.set_env("BASH_ENV", file.clone());
            format!(" (SHELLOPTS=xtrace, PS4 with file:line, BASH_ENV={file})")
        }
        Err(e) => format!(" (SHELLOPTS=xtrace, PS4 with file:line; cannot write {file}: {e})"),
    }
}

/// POSIX sh: a `PS4` naming the script and, where the shell has `LINENO`, the line.
fn set_posix_ps4(cmd: &mut Command, script: Option<String>) -> String {
    if cmd.env("PS4").is_some() {
        return " (your PS4 is kept)".to_string();
    }
    let safe = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._+,@%=-".contains(c))
    };
    let ps4 = match script.as_deref().filter(|s| safe(s)) {
        Some(s) => format!("+ ${{BASH_SOURCE:-{s}}}${{LINENO:+:$LINENO}}: "),
        None => "+ ${LINENO:+$LINENO: }".to_string(),
    };
    cmd.set_env("PS4", ps4);
    " (PS4 with the file, and the line where the shell knows it)".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for name in [
            "GITHUB_TOKEN",
            "DB_PASSWORD",
            "api_key",
            "AWS_SECRET_ACCESS_KEY",
            "MYSQL_ROOT_PASS",
            "SSH_AUTH_SOCK",
        ] {
            assert!(is_secret(name), "{name}");
        }
        for name in ["PATH", "HOME", "PWD", "HOSTNAME", "LANG"] {
            assert!(!is_secret(name), "{name}");
        }
    }

    #[test]
    fn url_passwords() {
        assert_eq!(
            mask_url_password("postgres://app:s3cret@db:5432/x"),
            "postgres://app:<hidden>@db:5432/x"
        );
        assert_eq!(mask_url_password("https://h/x?a=b@c"), "https://h/x?a=b@c");
        assert_eq!(mask_url_password("plain"), "plain");
    }
}
