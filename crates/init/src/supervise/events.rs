//! Waiting for the next thing that happens to PID 1: a signal, a plugin's reply, or a deadline.

use std::os::fd::BorrowedFd;
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::signals::takeover::SignalSetup;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Signal(i32),
    /// The plugin worker has a reply ready.
    Plugin,
    Timeout,
}

/// Returns the next event. Pending signals come first (they are already queued in the kernel);
/// otherwise blocks in poll(2) on the signalfd and, when given, the plugin worker's fd.
pub fn next_event(
    signals: &mut SignalSetup,
    plugin_fd: Option<BorrowedFd<'_>>,
    deadline: Option<Instant>,
) -> Event {
    loop {
        if let Some(signo) = signals.read_pending() {
            return Event::Signal(signo);
        }
        // A deadline already passed still looks at the fds once (timeout 0): a reply that is
        // ready wins over the timeout, or a give-up's own replies would never be read.
        let mut passed = false;
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                passed = left.is_zero();
                // Round up so that a wait never ends a hair before its deadline and spins.
                let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = vec![PollFd::new(signals.fd(), PollFlags::POLLIN)];
        if let Some(fd) = plugin_fd {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(_) => {
                let plugin_ready = fds
                    .get(1)
                    .and_then(PollFd::revents)
                    .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP));
                if plugin_ready {
                    return Event::Plugin;
                }
                if passed {
                    return Event::Timeout;
                }
            }
            Err(Errno::EINTR) => {}
            Err(err) => {
                // poll on our own fds cannot fail in practice; never spin if it does.
                crate::error!("poll failed: {err}");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}
