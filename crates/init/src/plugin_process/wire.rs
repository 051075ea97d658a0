//! What the init and its plugin process say to each other over their socket, and how: each
//! message is a 4-byte little-endian length and the message in postcard (compact, and already in
//! the binary: wasmtime uses it for precompiled code).

use std::io::{self, Write};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::messages::{Reply, StartReport, StartStep};
use super::types::HookFailure;

/// The init sends [`super::Request`]s; the plugin process answers with these.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromRuntime {
    /// While starting, before each plugin's load and its `init`.
    Step(StartStep),
    /// Once, after the steps: the plugins are ready (or the runtime could not start at all).
    Started(Result<StartReport, String>),
    /// The next reply, in request order, with the hook failures logged while computing it.
    Reply {
        reply: Reply,
        failures: Vec<HookFailure>,
    },
}

/// Far more than any message (a command with its whole environment is bounded by ARG_MAX); a
/// longer length means the stream is corrupt.
const MAX_MESSAGE: usize = 64 << 20;

/// Writes one message (a single `write_all`, so that the two halves never interleave with
/// another message of the same writer).
pub fn send<T: Serialize>(to: &mut impl Write, message: &T) -> io::Result<()> {
    let body = postcard::to_allocvec(message).map_err(io::Error::other)?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&body);
    to.write_all(&frame)
}

/// Bytes received so far, cut into messages as they complete.
#[derive(Default)]
pub struct Inbox {
    buf: Vec<u8>,
}

impl Inbox {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, if one has arrived.
    pub fn next_message<T: DeserializeOwned>(&mut self) -> io::Result<Option<T>> {
        let Some(len) = self.buf.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a message of {len} bytes"),
            ));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let message = postcard::from_bytes(&self.buf[4..4 + len])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
        self.buf.drain(..4 + len);
        message.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    use std::path::PathBuf;

    use super::*;
    use crate::plugin_process::{CommandSpec, Request};

    #[test]
    fn messages_survive_being_cut_anywhere() {
        let odd = OsString::from_vec(vec![b'a', 0xff, b'b']);
        let requests = vec![
            Request::PreExec(CommandSpec {
                program: odd.clone(),
                args: vec![odd.clone(), "x".into()],
                env: vec![("K".into(), odd.clone())],
                cwd: PathBuf::from(odd),
                limits: vec![],
            }),
            Request::SetMainPid(7),
            Request::OnSignal(15),
        ];
        let mut stream = Vec::new();
        for r in &requests {
            send(&mut stream, r).unwrap();
        }
        for cut in 0..stream.len() {
            let mut inbox = Inbox::default();
            let mut got = Vec::new();
            inbox.push(&stream[..cut]);
            while let Some(r) = inbox.next_message::<Request>().unwrap() {
                got.push(r);
            }
            inbox.push(&stream[cut..]);
            while let Some(r) = inbox.next_message::<Request>().unwrap() {
                got.push(r);
            }
            assert_eq!(got, requests, "cut at {cut}");
        }
    }

    #[test]
    fn a_corrupt_length_is_an_error_not_an_allocation() {
        let mut inbox = Inbox::default();
        inbox.push(&u32::MAX.to_le_bytes());
        assert!(inbox.next_message::<Request>().is_err());
    }
}
