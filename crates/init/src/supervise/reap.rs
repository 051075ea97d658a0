//! Reaping: every zombie that the kernel hands to PID 1 (or to a subreaper) is collected here.

use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::status::Ended;

/// Collects every child that has ended, without blocking. SIGCHLDs coalesce, so one signal may
/// stand for many children: loop until the kernel has nothing more. Returns how the main process
/// ended if it was among them.
pub fn reap_all(main: Option<Pid>) -> Option<Ended> {
    let mut main_ended = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return main_ended,
            Ok(status) => {
                let pid = status.pid();
                if pid.is_some() && pid == main {
                    main_ended = Ended::from_wait(status);
                    crate::debug!("reaped main process {}", pid.map_or(0, Pid::as_raw));
                } else if let Some(pid) =
                    pid.filter(|&p| crate::plugin_process::reaped_plugin_process(p))
                {
                    // How it ended goes into the one line that says plugins are off.
                    if let Some(ended) = Ended::from_wait(status) {
                        crate::debug!("plugin process {pid} {ended}");
                        if ended != Ended::Exited(0) {
                            crate::plugin_process::note_end(pid, ended.to_string());
                        }
                    }
                } else if let Some(pid) = pid {
                    crate::info!("reaped zombie process {pid}");
                }
            }
            Err(Errno::EINTR) => continue,
            Err(err) => {
                crate::warn!("waitpid failed: {err}");
                return main_ended;
            }
        }
    }
}
