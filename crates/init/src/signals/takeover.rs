//! Taking the signals over at the top of `main`, before any thread exists, and giving the
//! original state back to the main process in its child before exec.
//!
//! Every signal except the synchronous fault signals is blocked and read from a signalfd, so a
//! signal that arrives while hookinit is busy (spawning, running a plugin) waits in the kernel
//! instead of being lost. Blocked signals are never dropped for a namespace's PID 1 either: the
//! kernel only discards SIG_DFL signals to an init when they are *not* blocked.

use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, sigaction};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Fault signals stay unblocked: the kernel force-delivers them anyway, and wasmtime's trap
/// handlers (SEGV, ILL, FPE) must run in the faulting thread. They are neither caught nor
/// forwarded, as in tini and catatonit. SIGABRT is *not* here: `docker kill -s ABRT` is forwarded.
pub const SYNCHRONOUS: [Signal; 6] = [
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGILL,
    Signal::SIGFPE,
    Signal::SIGTRAP,
    Signal::SIGSYS,
];

/// What PID 1 changed, kept so that the main process starts with the state hookinit was given.
pub struct SignalSetup {
    own_pid: u32,
    original_mask: SigSet,
    original_ttin: SigAction,
    original_ttou: SigAction,
    fd: SignalFd,
}

impl SignalSetup {
    /// Blocks every catchable non-fault signal, ignores SIGTTIN/SIGTTOU (so that a background
    /// PID 1 is never stopped by the terminal while handing it to the main process), and opens a
    /// non-blocking signalfd. Must run before any thread is created: threads inherit the mask.
    pub fn take_over() -> nix::Result<SignalSetup> {
        let mut blocked = SigSet::all();
        for sig in SYNCHRONOUS {
            blocked.remove(sig);
        }
        // SETMASK, not BLOCK: fault signals a caller left blocked are unblocked too.
        let mut original_mask = SigSet::empty();
        nix::sys::signal::pthread_sigmask(
            SigmaskHow::SIG_SETMASK,
            Some(&blocked),
            Some(&mut original_mask),
        )?;
        let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
        // SAFETY: installing SIG_IGN runs no code of ours in signal context.
        let original_ttin = unsafe { sigaction(Signal::SIGTTIN, &ignore)? };
        // SAFETY: as above.
        let original_ttou = unsafe { sigaction(Signal::SIGTTOU, &ignore)? };
        let fd = SignalFd::with_flags(&blocked, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(SignalSetup {
            own_pid: std::process::id(),
            original_mask,
            original_ttin,
            original_ttou,
            fd,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reads one pending signal number, if any. Real-time signals come through as their numbers,
    /// which is why this is not a `nix::Signal`. Signals hookinit caused itself are dropped.
    pub fn read_pending(&mut self) -> Option<i32> {
        loop {
            match self.fd.read_signal() {
                Ok(Some(info)) if self.self_inflicted(&info) => continue,
                Ok(Some(info)) => return Some(info.ssi_signo as i32),
                Ok(None) => return None,
                Err(Errno::EINTR) => continue,
                Err(_) => return None,
            }
        }
    }

    /// SIGPIPE (a log line written to a closed pipe: the log reader went away) or SIGXFSZ (an
    /// unpacked file past RLIMIT_FSIZE) raised by hookinit's own write. Blocked, it would be
    /// forwarded and kill the main process; and logging the forward raised the next SIGPIPE, a
    /// loop that starved SIGCHLD (found with `DEBUG=verbose hookinit -- CMD 2>&1 | head`). The
    /// write's error is enough. The kernel sends these as SI_USER from the writer's own pid;
    /// hookinit never sends itself either, and one sent by anyone else carries the sender's pid
    /// (or 0 from outside the namespace).
    fn self_inflicted(&self, info: &libc::signalfd_siginfo) -> bool {
        let signo = info.ssi_signo as i32;
        (signo == libc::SIGPIPE || signo == libc::SIGXFSZ)
            && info.ssi_code == libc::SI_USER
            && info.ssi_pid == self.own_pid
    }

    /// The state to give back to the main process in its child.
    pub fn child_restore(&self) -> ChildRestore {
        ChildRestore {
            mask: self.original_mask,
            ttin: self.original_ttin,
            ttou: self.original_ttou,
        }
    }
}

/// The signal mask and dispositions hookinit started with; `Copy` so that a pre-exec closure can
/// own it.
#[derive(Clone, Copy)]
pub struct ChildRestore {
    mask: SigSet,
    ttin: SigAction,
    ttou: SigAction,
}

impl ChildRestore {
    /// Restores the original dispositions, then the mask. Called in the forked child just before
    /// exec, so it uses only async-signal-safe calls (sigaction, sigprocmask).
    pub fn apply(&self) -> std::io::Result<()> {
        // SAFETY: restoring actions that were in place when hookinit started.
        unsafe {
            sigaction(Signal::SIGTTIN, &self.ttin)?;
            sigaction(Signal::SIGTTOU, &self.ttou)?;
        }
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.mask), None)?;
        Ok(())
    }
}

/// A signal name for log lines, including real-time signals (`SIGRTMIN+3`).
pub fn describe(signo: i32) -> String {
    match Signal::try_from(signo) {
        Ok(sig) => sig.as_str().to_string(),
        Err(_) => {
            let min = libc::SIGRTMIN();
            if signo >= min {
                format!("SIGRTMIN+{}", signo - min)
            } else {
                format!("signal {signo}")
            }
        }
    }
}
