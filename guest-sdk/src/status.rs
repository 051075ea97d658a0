//! Helpers on [`ExitStatus`].

use crate::{ExitStatus, Signal};

impl ExitStatus {
    /// The exit code if the process called `exit`.
    ///
    /// ```
    /// use hookinit_sdk::ExitStatus;
    /// assert_eq!(ExitStatus::Exited(3).code(), Some(3));
    /// ```
    pub fn code(&self) -> Option<u8> {
        match self {
            ExitStatus::Exited(code) => Some(*code),
            ExitStatus::Signaled(_) => None,
        }
    }

    /// The signal that killed the process, if one did.
    ///
    /// ```
    /// use hookinit_sdk::{ExitStatus, Signal, SignalInfo};
    /// let killed = ExitStatus::Signaled(SignalInfo { signal: 9, core_dumped: false });
    /// assert_eq!(killed.signal(), Some(Signal::KILL));
    /// ```
    pub fn signal(&self) -> Option<Signal> {
        match self {
            ExitStatus::Exited(_) => None,
            ExitStatus::Signaled(info) => Some(Signal(info.signal)),
        }
    }

    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.code() == Some(0)
    }

    /// Whether the kernel wrote a core file.
    pub fn core_dumped(&self) -> bool {
        matches!(self, ExitStatus::Signaled(info) if info.core_dumped)
    }

    /// The status as a shell reports it, and as hookinit exits by default: the code, or 128+N
    /// for signal N.
    ///
    /// ```
    /// use hookinit_sdk::{ExitStatus, SignalInfo};
    /// let termed = ExitStatus::Signaled(SignalInfo { signal: 15, core_dumped: false });
    /// assert_eq!(termed.shell_code(), 143);
    /// ```
    pub fn shell_code(&self) -> u8 {
        match self {
            ExitStatus::Exited(code) => *code,
            ExitStatus::Signaled(info) => 128u8.wrapping_add(info.signal),
        }
    }
}

impl std::fmt::Display for ExitStatus {
    /// `exited with status 3`, `killed by SIGSEGV (core dumped)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Exited(code) => write!(f, "exited with status {code}"),
            ExitStatus::Signaled(info) => {
                write!(f, "killed by {}", Signal(info.signal))?;
                if info.core_dumped {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}
