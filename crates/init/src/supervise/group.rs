//! What is left of the main process's group when it ends: SIGTERM, a grace period, then SIGKILL.

use nix::errno::Errno;
use nix::unistd::Pid;

/// Whether any process (zombies included) is still in the process group `pgid`.
pub fn alive(pgid: Pid) -> bool {
    // SAFETY: kill(2) with signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(-pgid.as_raw(), 0) };
    rc == 0 || Errno::last() == Errno::EPERM
}

/// Sends `signo` to the whole group, and SIGCONT after it so that a stopped member can act on it.
pub fn signal(pgid: Pid, signo: i32) {
    // SAFETY: kill(2) on a process group; no memory is involved.
    unsafe {
        libc::kill(-pgid.as_raw(), signo);
        if signo != libc::SIGKILL {
            libc::kill(-pgid.as_raw(), libc::SIGCONT);
        }
    }
}
