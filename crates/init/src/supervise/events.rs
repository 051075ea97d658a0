//! Waiting for the next thing that happens to PID 1: a signal, a plugin's reply, a `hookinit ctl`
//! client, or a deadline.

use std::os::fd::BorrowedFd;
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::ctl::server::Server;
use crate::signals::takeover::SignalSetup;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Signal(i32),
    /// The plugin worker has a reply ready.
    Plugin,
    /// A ctl client connected or sent something, or one's time is up: see
    /// [`Server::next_request`].
    Ctl,
    Timeout,
}

/// Returns the next event. Pending signals come first (they are already queued in the kernel);
/// otherwise blocks in poll(2) on the signalfd and, when given, the plugin worker's fd and the
/// ctl server's (served only in the states where it is given).
pub fn next_event(
    signals: &mut SignalSetup,
    plugin_fd: Option<BorrowedFd<'_>>,
    ctl: Option<&Server>,
    deadline: Option<Instant>,
) -> Event {
    loop {
        if let Some(signo) = signals.read_pending() {
            return Event::Signal(signo);
        }
        let ctl_deadline = ctl.and_then(Server::deadline);
        let wake = match (deadline, ctl_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // A deadline already passed still looks at the fds once (timeout 0): a reply that is
        // ready wins over the timeout, or a give-up's own replies would never be read.
        let now = Instant::now();
        let passed = deadline.is_some_and(|d| d <= now);
        let ctl_passed = ctl_deadline.is_some_and(|d| d <= now);
        let timeout = match wake {
            None => PollTimeout::NONE,
            Some(wake) => {
                let left = wake.saturating_duration_since(now);
                // Round up so that a wait never ends a hair before its deadline and spins.
                let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = vec![PollFd::new(signals.fd(), PollFlags::POLLIN)];
        if let Some(fd) = plugin_fd {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        let ctl_from = fds.len();
        fds.extend(
            ctl.into_iter()
                .flat_map(Server::fds)
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN)),
        );
        let ready = |fd: &PollFd, when: PollFlags| fd.revents().is_some_and(|r| r.intersects(when));
        match poll(&mut fds, timeout) {
            Ok(_) => {
                if plugin_fd.is_some() && ready(&fds[1], PollFlags::POLLIN | PollFlags::POLLHUP) {
                    return Event::Plugin;
                }
                // POLLERR too: a reset connection must be read (and dropped), not polled again.
                let client = PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR;
                if fds[ctl_from..].iter().any(|fd| ready(fd, client)) || ctl_passed {
                    return Event::Ctl;
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
