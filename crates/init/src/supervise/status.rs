//! How the main process ended, and the exit status hookinit reports for it.

use nix::sys::wait::WaitStatus;

/// The main process's end, as the kernel reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Exited(u8),
    Signaled { signal: i32, core_dumped: bool },
}

impl Ended {
    pub fn from_wait(status: WaitStatus) -> Option<Ended> {
        match status {
            WaitStatus::Exited(_, code) => Some(Ended::Exited(code as u8)),
            WaitStatus::Signaled(_, sig, core_dumped) => Some(Ended::Signaled {
                signal: sig as i32,
                core_dumped,
            }),
            _ => None,
        }
    }

    /// The shell's convention: the exit code, or 128+N for a death by signal N.
    pub fn code(self) -> i32 {
        match self {
            Ended::Exited(code) => code as i32,
            Ended::Signaled { signal, .. } => 128 + signal,
        }
    }

    pub fn failed(self) -> bool {
        self != Ended::Exited(0)
    }
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Ended::Exited(code) => write!(f, "exited with status {code}"),
            Ended::Signaled {
                signal,
                core_dumped,
            } => write!(
                f,
                "was killed by {}{} (status {})",
                crate::signals::takeover::describe(signal),
                if core_dumped { ", core dumped" } else { "" },
                128 + signal
            ),
        }
    }
}

/// `-e CODE`: statuses the operator wants reported as success (tini's remap, e.g. 143 after a stop).
pub fn remap(code: i32, remap_to_zero: &[u8]) -> i32 {
    if remap_to_zero.iter().any(|&c| c as i32 == code) {
        0
    } else {
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_shell_convention() {
        assert_eq!(Ended::Exited(3).code(), 3);
        assert_eq!(
            Ended::Signaled {
                signal: 15,
                core_dumped: false
            }
            .code(),
            143
        );
        assert!(!Ended::Exited(0).failed());
        assert!(
            Ended::Signaled {
                signal: 9,
                core_dumped: false
            }
            .failed()
        );
        assert_eq!(remap(143, &[143]), 0);
        assert_eq!(remap(1, &[143]), 1);
    }
}
