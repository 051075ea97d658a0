//! The limits of each plugin: memory, the deadline of each hook, log output. PID 1 enforces the
//! deadlines on the plugin process; the runtime enforces them all inside it.

use std::time::Duration;

use super::types::Hook;

/// Resource limits of one plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory, in bytes.
    pub memory: usize,
    /// Deadline of `init` (instantiation included).
    pub init: Duration,
    /// The default; a plugin's spec may set its own (`PluginSpec::pre_exec_deadline`).
    pub pre_exec: Duration,
    pub on_exit: Duration,
    pub on_signal: Duration,
    /// Log output (stdout, stderr, log import together) accepted per hook call, in bytes.
    pub log_bytes_per_call: usize,
    /// Longest log line; longer ones are cut.
    pub log_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: 64 << 20,
            init: Duration::from_secs(30),
            pre_exec: Duration::from_secs(30),
            on_exit: Duration::from_secs(5),
            on_signal: Duration::from_millis(50),
            log_bytes_per_call: 64 << 10,
            log_line: 2 << 10,
        }
    }
}

impl Limits {
    pub fn deadline(&self, hook: Hook) -> Duration {
        match hook {
            Hook::PreExec => self.pre_exec,
            Hook::OnExit => self.on_exit,
            Hook::OnSignal => self.on_signal,
        }
    }
}
