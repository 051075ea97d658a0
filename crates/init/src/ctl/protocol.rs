//! What `hookinit ctl` and PID 1 say to each other over the socket: one request line; then lines
//! of answer, the last of which is `ok: ...` or `error: ...`; then PID 1 closes the connection.

use std::fmt;
use std::str::FromStr;

/// The socket's name in the run directory.
pub const SOCKET_NAME: &str = "ctl.sock";

/// The longest request line PID 1 reads, newline included; the longest is `stay off`.
pub const MAX_REQUEST: usize = 64;

/// What an operator asks PID 1 to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Status,
    /// End the main process as a stop would, then start the same command again.
    Restart,
    /// Whether a coming crash of the main process stays (overrides the plan's stayalive).
    Stay(bool),
    /// What SIGTERM to PID 1 does.
    Stop,
}

/// The commands, as `--help` and the refusal of an unknown one list them.
pub const COMMANDS: &str = "status, restart, stay on|off, stop";

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown command `{0}` (the commands: {COMMANDS})")]
pub struct UnknownRequest(pub String);

/// Words separated by blanks, as typed on the command line or sent on the socket.
impl FromStr for Request {
    type Err = UnknownRequest;

    fn from_str(text: &str) -> Result<Request, UnknownRequest> {
        let words: Vec<&str> = text.split_whitespace().collect();
        match words[..] {
            ["status"] => Ok(Request::Status),
            ["restart"] => Ok(Request::Restart),
            ["stay", "on"] => Ok(Request::Stay(true)),
            ["stay", "off"] => Ok(Request::Stay(false)),
            ["stop"] => Ok(Request::Stop),
            // Escaped: the refusal is one line, whatever was sent.
            _ => Err(UnknownRequest(
                crate::log::clip(&text.trim().escape_debug().to_string()).to_string(),
            )),
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Request::Status => "status",
            Request::Restart => "restart",
            Request::Stay(true) => "stay on",
            Request::Stay(false) => "stay off",
            Request::Stop => "stop",
        })
    }
}

/// The last line of an answer: whether PID 1 did what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done(String),
    Refused(String),
}

const DONE: &str = "ok: ";
const REFUSED: &str = "error: ";

impl Outcome {
    /// The last line of an answer, if `line` is one.
    pub fn parse(line: &str) -> Option<Outcome> {
        if let Some(text) = line.strip_prefix(DONE) {
            Some(Outcome::Done(text.to_owned()))
        } else {
            line.strip_prefix(REFUSED)
                .map(|text| Outcome::Refused(text.to_owned()))
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Done(text) => write!(f, "{DONE}{text}"),
            Outcome::Refused(text) => write!(f, "{REFUSED}{text}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_nothing_else_parses() {
        for request in [
            Request::Status,
            Request::Restart,
            Request::Stay(true),
            Request::Stay(false),
            Request::Stop,
        ] {
            let line = request.to_string();
            assert!(line.len() < MAX_REQUEST);
            assert_eq!(line.parse(), Ok(request));
            assert_eq!(format!(" {line}\n").parse(), Ok(request));
        }
        for bad in ["", "stay", "stay maybe", "status now", "STOP", "restart\0"] {
            let err = bad.parse::<Request>().unwrap_err().to_string();
            assert!(err.contains("stay on|off"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn the_last_line_says_done_or_refused() {
        for outcome in [
            Outcome::Done("stopping".into()),
            Outcome::Refused("no".into()),
        ] {
            assert_eq!(Outcome::parse(&outcome.to_string()), Some(outcome));
        }
        assert_eq!(Outcome::parse("state: running"), None);
    }
}
