//! What PID 1 and the plugin process ask and answer: the requests, in order, and their replies.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::types::{
    CommandSpec, ExitAction, ExitInfo, Hook, HookFailure, PluginFailure, SignalAction,
};

/// A question for the plugins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Run the pre-exec hooks, in plugin order, each on the previous one's command. Answered by
    /// [`Reply::PreExec`].
    PreExec(CommandSpec),
    /// The main process `pid` ended: run every on-exit hook. Answered by [`Reply::OnExit`].
    OnExit { pid: u32, status: ExitInfo },
    /// A signal for the main process arrived: run the on-signal hooks. Answered by
    /// [`Reply::OnSignal`].
    OnSignal(i32),
    /// The main process was spawned (what `main-pid` returns to plugins). No reply.
    SetMainPid(u32),
}

impl Request {
    /// The answer when no plugin can give one (none running, or the plugin process gone): the
    /// signal forwarded as it is, the exit propagated; `pre_exec` decides for a pre-exec.
    /// `None` for a request that wants no answer.
    pub fn unanswered(
        self,
        pre_exec: impl FnOnce(CommandSpec) -> Result<CommandSpec, HookFailure>,
    ) -> Option<Reply> {
        match self {
            Request::PreExec(cmd) => Some(Reply::PreExec(pre_exec(cmd))),
            Request::OnExit { .. } => Some(Reply::OnExit(ExitAction::Propagate)),
            Request::OnSignal(signal) => Some(Reply::OnSignal(SignalAction::Forward(signal))),
            Request::SetMainPid(_) => None,
        }
    }
}

/// An answer, in the order of the requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The command to spawn, or the failure that stops the start (already logged).
    PreExec(Result<CommandSpec, HookFailure>),
    /// What to do now that the main process has ended: the first answer of a plugin that is not
    /// `Propagate` (plugin order); `Propagate` if none (or on any failure).
    OnExit(ExitAction),
    /// What to do with the signal: forward it (as rewritten by the chain) or drop it. A plugin
    /// that fails or runs past its deadline leaves the signal as it was.
    OnSignal(SignalAction),
}

/// Where the plugin process's start stands, said as it goes so that PID 1 can own its deadlines:
/// loading (a download or a compile) is bounded by the start's deadline, a plugin's `init` by
/// its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartStep {
    /// Plugin `.0` is being loaded: read, downloaded, compiled or taken from the cache.
    Loading(String),
    /// Plugin `plugin`'s instantiation and `init` run now, for at most `within`.
    Initialising { plugin: String, within: Duration },
}

/// What the plugin process reports once every plugin was loaded and initialised (or failed to).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StartReport {
    /// Plugins that initialised, in order, with their subscriptions (pre-exec, on-exit,
    /// on-signal).
    pub plugins: Vec<(String, [bool; 3])>,
    pub failures: Vec<PluginFailure>,
}

impl StartReport {
    /// Whether some plugin that initialised subscribed to `hook`.
    pub fn subscribed(&self, hook: Hook) -> bool {
        let i = hook_index(hook);
        self.plugins.iter().any(|(_, subs)| subs[i])
    }

    /// The plugins that initialised, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.plugins.iter().map(|(name, _)| name.as_str())
    }
}

/// Where `hook` is in a plugin's subscriptions (`[pre-exec, on-exit, on-signal]`).
fn hook_index(hook: Hook) -> usize {
    match hook {
        Hook::PreExec => 0,
        Hook::OnExit => 1,
        Hook::OnSignal => 2,
    }
}
