//! The plugin process as PID 1 sees it: a child to fork, talk to and give up on.
//!
//! The plugin runtime (wasmtime, in the `hookinit-plugin-host` crate) runs in a process of its
//! own, forked from PID 1 while it has one thread. This crate does not link it: the binary hands
//! [`Runtime`], the function that process runs, to the supervisor. PID 1 sends [`Request`]s and
//! polls for [`Reply`]s beside its signalfd, never blocking, and owns every deadline: a process
//! that does not answer in time is killed and its requests get the documented defaults.
//!
//! Files, by what they do:
//! - `isolated.rs`: the fork, PID 1's handle on the process ([`IsolatedPlugins`], [`Starting`]).
//! - `messages.rs`: requests and replies; `wire.rs`: how they travel (length + postcard).
//! - `limits.rs`: each plugin's limits, the hooks' deadlines among them.
//! - `types.rs`: the values in them (commands, exit statuses, actions, failures).
//! - `wake.rs`: an eventfd that says "a reply is ready" (both sides use it).

mod isolated;
mod limits;
mod messages;
mod types;
mod wake;
pub mod wire;

use std::os::unix::net::UnixStream;

use crate::config::plan::PluginSpec;

pub use isolated::{
    IsolatedPlugins, Progress, Starting, is_running, kill_process, note_end, reaped_plugin_process,
};
pub use limits::Limits;
pub use messages::{Reply, Request, StartReport, StartStep};
pub use types::{
    CommandSpec, ExitAction, ExitInfo, Hook, HookFailure, PluginFailure, ResourceLimit,
    RlimitResource, SignalAction,
};
pub use wake::Wake;
pub use wire::FromRuntime;

/// What the plugin process runs once forked and set up (named, dying with PID 1, no core
/// files): load the plugins of `specs`, send [`FromRuntime::Started`] on `socket`, then answer
/// requests until PID 1 closes it. Returns the process's exit status. The binary supplies
/// `hookinit_plugin_host::serve`; a build without plugins supplies none.
pub type Runtime = fn(socket: UnixStream, specs: &[PluginSpec]) -> i32;
