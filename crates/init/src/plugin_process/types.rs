//! The runtime's public vocabulary: what the init's main loop sends to plugins and gets back.
//!
//! These are host types (OsString, i32 signals) independent of the WIT bindings; `convert.rs`
//! maps them to and from the generated types.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One of the hooks a plugin may subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Hook {
    /// Before the main process is spawned: may edit its command or stop the start.
    PreExec,
    /// After the main process has been reaped: may change what hookinit does next.
    OnExit,
    /// Before a signal is forwarded to the main process: may rewrite or drop it.
    OnSignal,
}

impl Hook {
    /// The hook's WIT name (`pre-exec`, `on-exit`, `on-signal`), as in log lines.
    pub fn name(self) -> &'static str {
        match self {
            Hook::PreExec => "pre-exec",
            Hook::OnExit => "on-exit",
            Hook::OnSignal => "on-signal",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A resource the pre-exec hooks may limit for the main process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RlimitResource {
    Core,
    Nofile,
    Nproc,
    Stack,
    Memlock,
}

/// `setrlimit(resource, soft, hard)` to apply in the child before exec (`u64::MAX`: unlimited).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceLimit {
    pub resource: RlimitResource,
    pub soft: u64,
    pub hard: u64,
}

/// The main process's command as the pre-exec hooks see and edit it.
///
/// `program` is executed with `args` (argv\[1..\]; argv\[0\] is `program`) and exactly `env`, in
/// `cwd`; `limits` are to be applied in the child before exec. Values that are not UTF-8 are
/// shown to plugins lossily converted and come back unchanged when the plugin left them alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    #[serde(with = "os_path")]
    pub cwd: PathBuf,
    pub limits: Vec<ResourceLimit>,
}

impl CommandSpec {
    /// `argv` = `[program, args...]`, with the current process's environment and directory.
    pub fn from_argv_and_current_env(argv: &[OsString]) -> CommandSpec {
        CommandSpec {
            program: argv.first().cloned().unwrap_or_default(),
            args: argv.iter().skip(1).cloned().collect(),
            env: std::env::vars_os().collect(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            limits: Vec::new(),
        }
    }
}

/// How the main process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitInfo {
    Exited(u8),
    Signaled { signal: i32, core_dumped: bool },
}

/// What to do once the main process has ended (the first plugin that does not say `Propagate`
/// decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitAction {
    /// Exit with the main process's status (or stay alive if the plan's stayalive says so).
    Propagate,
    /// Stay up for `docker exec`, as with stayalive.
    StayAlive,
    /// Exit with this status.
    ExitWith(u8),
}

/// What to do with a signal received for the main process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignalAction {
    /// Forward this signal (the one asked about, or the one a plugin rewrote it to).
    Forward(i32),
    /// Drop it.
    Ignore,
}

/// Why a hook of one plugin failed. Displayed as one line: `plugin NAME: HOOK: REASON`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookFailure {
    pub plugin: String,
    /// `None` when the plugin failed while loading (before any hook).
    pub hook: Option<Hook>,
    pub reason: String,
}

impl fmt::Display for HookFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.hook {
            Some(hook) => write!(f, "plugin {}: {hook}: {}", self.plugin, self.reason),
            None => write!(f, "plugin {}: {}", self.plugin, self.reason),
        }
    }
}

impl std::error::Error for HookFailure {}

/// A plugin that could not be started (loading, compiling, instantiating or its `init`).
pub type PluginFailure = HookFailure;

/// A path as the bytes it is made of (serde's own form of `PathBuf` refuses what is not UTF-8).
mod os_path {
    use std::ffi::OsString;
    use std::path::{Path, PathBuf};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
        path.as_os_str().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        OsString::deserialize(d).map(PathBuf::from)
    }
}
