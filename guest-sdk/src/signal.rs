//! Signal numbers and names (Linux numbering, as on x86_64 and aarch64).

use std::fmt;

/// A signal number, as hookinit hands it to [`Plugin::on_signal`](crate::Plugin::on_signal).
///
/// ```
/// use hookinit_sdk::Signal;
/// assert_eq!(Signal::TERM.number(), 15);
/// assert_eq!(Signal::TERM.name(), Some("SIGTERM"));
/// assert_eq!(Signal::from_name("term"), Some(Signal::TERM));
/// assert_eq!(Signal::from_name("SIGRTMIN+2"), Some(Signal(36)));
/// assert_eq!(Signal::TERM.to_string(), "SIGTERM");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signal(pub u8);

const NAMES: [&str; 31] = [
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

#[allow(missing_docs)]
impl Signal {
    pub const HUP: Signal = Signal(1);
    pub const INT: Signal = Signal(2);
    pub const QUIT: Signal = Signal(3);
    pub const ILL: Signal = Signal(4);
    pub const TRAP: Signal = Signal(5);
    pub const ABRT: Signal = Signal(6);
    pub const BUS: Signal = Signal(7);
    pub const FPE: Signal = Signal(8);
    pub const KILL: Signal = Signal(9);
    pub const USR1: Signal = Signal(10);
    pub const SEGV: Signal = Signal(11);
    pub const USR2: Signal = Signal(12);
    pub const PIPE: Signal = Signal(13);
    pub const ALRM: Signal = Signal(14);
    pub const TERM: Signal = Signal(15);
    pub const CHLD: Signal = Signal(17);
    pub const CONT: Signal = Signal(18);
    pub const STOP: Signal = Signal(19);
    pub const TSTP: Signal = Signal(20);
    pub const TTIN: Signal = Signal(21);
    pub const TTOU: Signal = Signal(22);
    pub const URG: Signal = Signal(23);
    pub const XCPU: Signal = Signal(24);
    pub const XFSZ: Signal = Signal(25);
    pub const VTALRM: Signal = Signal(26);
    pub const PROF: Signal = Signal(27);
    pub const WINCH: Signal = Signal(28);
    pub const IO: Signal = Signal(29);
    pub const PWR: Signal = Signal(30);
    pub const SYS: Signal = Signal(31);
    /// The first real-time signal (`SIGRTMIN` as the kernel numbers it; glibc reserves 32-33).
    pub const RTMIN: Signal = Signal(34);
    /// The last real-time signal.
    pub const RTMAX: Signal = Signal(64);
}

impl Signal {
    /// The signal's number.
    pub fn number(self) -> u8 {
        self.0
    }

    /// `SIGTERM`, `SIGRTMIN+3`, ...; `None` for numbers that are no signal.
    pub fn name(self) -> Option<&'static str> {
        const RT: [&str; 31] = [
            "SIGRTMIN",
            "SIGRTMIN+1",
            "SIGRTMIN+2",
            "SIGRTMIN+3",
            "SIGRTMIN+4",
            "SIGRTMIN+5",
            "SIGRTMIN+6",
            "SIGRTMIN+7",
            "SIGRTMIN+8",
            "SIGRTMIN+9",
            "SIGRTMIN+10",
            "SIGRTMIN+11",
            "SIGRTMIN+12",
            "SIGRTMIN+13",
            "SIGRTMIN+14",
            "SIGRTMIN+15",
            "SIGRTMAX-14",
            "SIGRTMAX-13",
            "SIGRTMAX-12",
            "SIGRTMAX-11",
            "SIGRTMAX-10",
            "SIGRTMAX-9",
            "SIGRTMAX-8",
            "SIGRTMAX-7",
            "SIGRTMAX-6",
            "SIGRTMAX-5",
            "SIGRTMAX-4",
            "SIGRTMAX-3",
            "SIGRTMAX-2",
            "SIGRTMAX-1",
            "SIGRTMAX",
        ];
        match self.0 {
            1..=31 => Some(NAMES[usize::from(self.0) - 1]),
            34..=64 => Some(RT[usize::from(self.0) - 34]),
            _ => None,
        }
    }

    /// Parses `TERM`, `SIGTERM`, `sigterm`, `15`, `SIGRTMIN+2`, `RTMAX-1`.
    pub fn from_name(name: &str) -> Option<Signal> {
        if let Ok(n) = name.parse::<u8>() {
            return Signal(n).name().map(|_| Signal(n));
        }
        let upper = name.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some(i) = NAMES.iter().position(|n| &n[3..] == bare) {
            return Some(Signal(i as u8 + 1));
        }
        let offset = |rest: &str| -> Option<i16> {
            match rest {
                "" => Some(0),
                _ => rest.parse::<i16>().ok(),
            }
        };
        let n = if let Some(rest) = bare.strip_prefix("RTMIN") {
            34 + offset(rest.trim_start_matches('+'))?
        } else if let Some(rest) = bare.strip_prefix("RTMAX") {
            64 + offset(rest)?
        } else {
            return None;
        };
        (34..=64).contains(&n).then_some(Signal(n as u8))
    }

    /// Whether this signal is set in a `/proc/PID/status` style mask (bit N-1 for signal N),
    /// such as [`SignalMasks::caught`](crate::SignalMasks).
    ///
    /// ```
    /// use hookinit_sdk::Signal;
    /// assert!(Signal::TERM.in_mask(1 << 14));
    /// ```
    pub fn in_mask(self, mask: u64) -> bool {
        (1..=64).contains(&self.0) && mask & (1u64 << (self.0 - 1)) != 0
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "signal {}", self.0),
        }
    }
}

impl From<Signal> for u8 {
    fn from(s: Signal) -> u8 {
        s.0
    }
}

impl crate::SignalAction {
    /// Forward `signal` instead of the one received.
    ///
    /// ```
    /// use hookinit_sdk::{Signal, SignalAction};
    /// assert_eq!(SignalAction::forward_as(Signal::TERM), SignalAction::ForwardAs(15));
    /// ```
    pub fn forward_as(signal: Signal) -> crate::SignalAction {
        crate::SignalAction::ForwardAs(signal.0)
    }
}

impl crate::SignalMasks {
    /// Whether the process has a handler for `signal` (`SigCgt`).
    pub fn catches(&self, signal: Signal) -> bool {
        signal.in_mask(self.caught)
    }

    /// Whether the process ignores `signal` (`SigIgn`).
    pub fn ignores(&self, signal: Signal) -> bool {
        signal.in_mask(self.ignored)
    }
}
