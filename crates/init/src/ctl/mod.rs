//! `hookinit ctl`: an operator inside the container asks PID 1 for its status, to restart the
//! main process, to stay or not after a crash, or to stop, over a Unix socket in the run
//! directory. `protocol` is what both sides say, `server` PID 1's side (polled in its event
//! loop), `client` the command, `peer` who is at the other end.

pub mod client;
pub mod peer;
pub mod protocol;
pub mod server;
