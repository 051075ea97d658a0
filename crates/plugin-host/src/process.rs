//! The plugin process's own work, after PID 1 forked it ([`hookinit_init::plugin_process`] sets
//! the process up and says what PID 1 expects of it): start the runtime, saying each step and
//! how it went, then relay requests and replies until PID 1 closes the socket.

use std::io;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use hookinit_init::config::plan::PluginSpec;
use hookinit_init::plugin_process::Request;
use hookinit_init::plugin_process::wire::{self, FromRuntime, Inbox};

use super::Plugins;

/// The [`hookinit_init::plugin_process::Runtime`] of the full build. Returns the process's exit
/// status.
pub fn serve(socket: UnixStream, specs: &[PluginSpec]) -> i32 {
    // Each step goes to PID 1 as it happens: PID 1 owns the start's deadlines. If the socket is
    // gone, so is PID 1's interest; the report below fails the same way.
    let step = |step| {
        let _ = wire::send(&mut &socket, &FromRuntime::Step(step));
    };
    let plugins = match Plugins::start_reporting(specs, crate::Limits::default(), step) {
        Ok((plugins, _)) => plugins,
        Err(e) => {
            let _ = wire::send(&mut &socket, &FromRuntime::Started(Err(e.to_string())));
            return 1;
        }
    };
    if wire::send(
        &mut &socket,
        &FromRuntime::Started(Ok(plugins.report().clone())),
    )
    .is_err()
    {
        return 1;
    }
    let mut inbox = Inbox::default();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let mut fds = [
            nix::poll::PollFd::new(socket.as_fd(), nix::poll::PollFlags::POLLIN),
            nix::poll::PollFd::new(plugins.wake_fd(), nix::poll::PollFlags::POLLIN),
        ];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return 1,
        }
        while let Some(reply) = plugins.try_reply() {
            let failures = plugins.take_failures();
            if wire::send(&mut &socket, &FromRuntime::Reply { reply, failures }).is_err() {
                return 0;
            }
        }
        if fds[0].any().unwrap_or(false) {
            match io::Read::read(&mut &socket, &mut chunk) {
                Ok(0) => return leave(plugins, &socket),
                Ok(n) => inbox.push(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return 0,
            }
            loop {
                match inbox.next_message::<Request>() {
                    Ok(Some(req)) => plugins.request(req),
                    Ok(None) => break,
                    Err(_) => return 1,
                }
            }
        }
    }
}

/// PID 1 is leaving (it shut its side of the socket) and waits only until no scratch directory
/// is left behind: they are removed, the socket is closed to say so, and the process exits
/// without tearing every plugin's store down first (which took PID 1's exit a millisecond or two).
fn leave(plugins: Plugins, socket: &UnixStream) -> i32 {
    crate::sandbox::Scratch::remove_all();
    let _ = socket.shutdown(std::net::Shutdown::Both);
    std::mem::forget(plugins);
    0
}
