//! `hookinit ctl [--pid PID] COMMAND`, run inside the container (`docker exec CTR hookinit ctl
//! status`): sends one request to PID 1 and prints its answer. The same static binary, so it
//! works in a FROM scratch image.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::peer;
use super::protocol::{COMMANDS, Outcome, Request, SOCKET_NAME};

pub const HELP: &str = "\
usage: hookinit ctl [--pid PID] COMMAND

Asks hookinit, running as PID 1 of this container, to do something, through its socket
$HOOKINIT_RUN_DIR/ctl.sock (default /run/hookinit/ctl.sock), which only root and hookinit's own
user may use: `docker exec CTR hookinit ctl status`. PID 1 answers while the main process runs
and while it stays after a crash.

Commands:
  status        the state, the main process (pid, program, how long it has run), restarts,
                plugins, and whether a crash will stay
  restart       ends the main process as `docker stop` would (SIGTERM, SIGKILL after the grace
                period), then starts it again with the same command and environment; its output
                goes to the container's log as before. During a stay, leaves the stay and starts
                it again: fix something, then try again. The pre-exec hooks (fstree, verbose,
                plugins) do not run again: the command they produced is started; nor do the
                on-exit hooks for the run it ends. hookinit's exit status is then the new run's.
  stay on|off   whether the next crash of the main process stays (as DEBUG=stayalive does), from
                now on, whatever DEBUG said
  stop          what `docker stop` does: SIGTERM to the main process; during a stay, hookinit
                exits with the failure status

Options:
  --pid PID     the process that must answer (default 1), for a hookinit that is not PID 1
                (its HOOKINIT_RUN_DIR must be set here too)

Exit status: 0 done, 1 refused or failed (one line on stderr says why), 2 usage error.";

const USAGE: &str = "usage: hookinit ctl [--pid PID] COMMAND  (`hookinit ctl --help` explains)";

/// How long to wait for PID 1 to take the connection and say its first line. It answers only
/// while the main process runs or stays; while it starts or stops, a client waits in the
/// backlog until this runs out.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// What the command line asks for, parsed once.
#[derive(Debug, PartialEq)]
struct Args {
    pid: i32,
    request: Request,
}

enum Parsed {
    Run(Args),
    Help,
}

fn parse(args: Vec<OsString>) -> Result<Parsed, String> {
    let mut pid = 1;
    let mut words = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|a| format!("argument {a:?} is not UTF-8"))?;
        let value = match arg.as_str() {
            "-h" | "--help" | "help" => return Ok(Parsed::Help),
            "--pid" => args
                .next()
                .ok_or("--pid needs a process id")?
                .to_string_lossy()
                .into_owned(),
            other => match other.strip_prefix("--pid=") {
                Some(value) => value.to_owned(),
                None if other.starts_with('-') => return Err(format!("unknown option `{other}`")),
                None => {
                    words.push(arg);
                    continue;
                }
            },
        };
        pid = value
            .parse()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("`{value}` for --pid is not a process id"))?;
    }
    if words.is_empty() {
        return Err(format!("no command (the commands: {COMMANDS})"));
    }
    let request = words.join(" ").parse().map_err(|e| format!("{e}"))?;
    Ok(Parsed::Run(Args { pid, request }))
}

/// Entry point for `hookinit ctl ARGS...` (ARGS without `ctl`); returns the exit status.
pub fn main(args: Vec<OsString>) -> i32 {
    let args = match parse(args) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Help) => {
            println!("{HELP}");
            return 0;
        }
        Err(why) => {
            eprintln!("hookinit ctl: {why}\n{USAGE}");
            return 2;
        }
    };
    let run_dir = crate::run_dir::from_env(std::env::var_os("HOOKINIT_RUN_DIR"));
    match ask(&run_dir.join(SOCKET_NAME), &args) {
        Ok(()) => 0,
        Err(why) => {
            eprintln!("hookinit ctl {}: {why}", args.request);
            1
        }
    }
}

/// Sends the request and prints the answer: its lines on stdout, a refusal on stderr.
fn ask(socket: &Path, args: &Args) -> Result<(), String> {
    let stream = connect(socket)?;
    let peer = peer::of(stream.as_fd()).map_err(|e| format!("SO_PEERCRED: {e}"))?;
    if peer.pid != args.pid {
        return Err(format!(
            "{} is served by process {}, not {} (--pid {} if that hookinit is the one you mean)",
            socket.display(),
            peer.pid,
            args.pid,
            peer.pid
        ));
    }
    // PID 1 may have refused the connection already (one line, then closed): its line is read
    // even when the request could not be sent.
    let sent = (&stream).write_all(format!("{}\n", args.request).as_bytes());
    let unsent = |why: String| match &sent {
        Err(err) => format!("cannot send the request: {err}"),
        Ok(()) => why,
    };
    let no_answer = || {
        format!(
            "PID 1 did not answer within {} (it answers while the main process runs or stays, \
             not while it starts or stops)",
            humantime::format_duration(ANSWER_WITHIN)
        )
    };
    stream
        .set_read_timeout(Some(ANSWER_WITHIN))
        .map_err(|e| e.to_string())?;
    let mut lines = BufReader::new(&stream).lines();
    let mut first = true;
    loop {
        let line = match lines.next() {
            Some(Ok(line)) => line,
            Some(Err(err)) if first && err.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(unsent(no_answer()));
            }
            Some(Err(err)) => return Err(unsent(format!("reading the answer: {err}"))),
            None => {
                return Err(unsent(
                    "PID 1 closed the connection without an answer".into(),
                ));
            }
        };
        if first {
            // PID 1 said something: it owns every deadline from here (a restart's end comes
            // after the grace period at the latest).
            first = false;
            stream.set_read_timeout(None).map_err(|e| e.to_string())?;
        }
        match Outcome::parse(&line) {
            Some(Outcome::Done(text)) => {
                if !text.is_empty() {
                    println!("{text}");
                }
                return Ok(());
            }
            Some(Outcome::Refused(why)) => return Err(why),
            None => println!("{line}"),
        }
    }
}

/// Connects, saying in one line why not: most often because PID 1 could not make its socket.
/// A full backlog would block connect(2), so it runs in a thread given [`ANSWER_WITHIN`].
fn connect(socket: &Path) -> Result<UnixStream, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let path = socket.to_owned();
    std::thread::spawn(move || tx.send(UnixStream::connect(path)));
    let err = match rx.recv_timeout(ANSWER_WITHIN) {
        Ok(Ok(stream)) => return Ok(stream),
        Ok(Err(err)) => err,
        Err(_) => return Err(format!("{} did not take the connection", socket.display())),
    };
    let socket = socket.display();
    Err(match err.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => format!(
            "no control socket at {socket}: hookinit is not PID 1 here, or it could not make \
             its run directory (a read-only root filesystem, no /run); run the container with \
             --tmpfs /run, or set HOOKINIT_RUN_DIR to a writable directory (for the container \
             and for `hookinit ctl`)"
        ),
        Some(libc::ECONNREFUSED) => {
            format!("nobody listens at {socket}: left by a hookinit that has ended")
        }
        Some(libc::EACCES) | Some(libc::EPERM) => format!(
            "permission denied at {socket}: only root and hookinit's own user may use hookinit \
             ctl"
        ),
        _ => format!("cannot connect to {socket}: {err}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Args, String> {
        match parse(args.iter().map(OsString::from).collect())? {
            Parsed::Run(args) => Ok(args),
            Parsed::Help => Err("help".into()),
        }
    }

    #[test]
    fn the_command_line_is_parsed_once_into_a_request() {
        assert_eq!(
            parsed(&["stay", "off"]),
            Ok(Args {
                pid: 1,
                request: Request::Stay(false)
            })
        );
        assert_eq!(
            parsed(&["--pid", "42", "restart"]),
            Ok(Args {
                pid: 42,
                request: Request::Restart
            })
        );
        assert_eq!(parsed(&["status", "--pid=7"]).map(|a| a.pid), Ok(7));
        assert_eq!(parsed(&["stop", "--help"]), Err("help".into()));
        for (args, why) in [
            (&[][..], "no command"),
            (&["stay"], "unknown command `stay`"),
            (&["--pid", "x", "stop"], "not a process id"),
            (&["--pid"], "needs a process id"),
            (&["-x", "stop"], "unknown option `-x`"),
        ] {
            let err = parsed(args).unwrap_err();
            assert!(err.contains(why), "{args:?}: {err}");
        }
    }
}
