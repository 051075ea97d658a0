//! Deciding what happens to a signal PID 1 received: rewritten (`-r FROM:TO`), dropped, and sent
//! to the main process or its whole process group (`-g`).

use std::collections::BTreeMap;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// Applies `-r FROM:TO` rewrites. Returns `None` when the signal is dropped (`TO` = 0).
pub fn rewrite(rules: &BTreeMap<Signal, Option<Signal>>, signo: i32) -> Option<i32> {
    match Signal::try_from(signo).ok().and_then(|sig| rules.get(&sig)) {
        Some(Some(to)) => Some(*to as i32),
        Some(None) => None,
        None => Some(signo),
    }
}

/// Whether this signal asks the container to stop: a stop is never answered with stayalive.
pub fn is_stop_request(signo: i32) -> bool {
    signo == Signal::SIGTERM as i32 || signo == Signal::SIGINT as i32
}

/// Sends a raw signal number (real-time signals included) to the main process or its group.
pub fn send(main: Pid, signo: i32, whole_group: bool) -> Result<(), Errno> {
    let target = if whole_group {
        -main.as_raw()
    } else {
        main.as_raw()
    };
    // SAFETY: kill(2) with a plain pid and signal number; no memory is involved.
    let rc = unsafe { libc::kill(target, signo) };
    if rc == 0 { Ok(()) } else { Err(Errno::last()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_maps_drops_and_passes() {
        let mut rules = BTreeMap::new();
        rules.insert(Signal::SIGTERM, Some(Signal::SIGQUIT));
        rules.insert(Signal::SIGUSR1, None);
        assert_eq!(rewrite(&rules, libc::SIGTERM), Some(libc::SIGQUIT));
        assert_eq!(rewrite(&rules, libc::SIGUSR1), None);
        assert_eq!(rewrite(&rules, libc::SIGHUP), Some(libc::SIGHUP));
        assert_eq!(
            rewrite(&rules, libc::SIGRTMIN() + 2),
            Some(libc::SIGRTMIN() + 2)
        );
    }
}
