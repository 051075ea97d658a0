//! The plugin runtime: WebAssembly components (wasm32-wasip2, WIT world
//! `hookinit:plugin/plugin@0.1.0` in `wit/hookinit.wit`) run by wasmtime 48 at pre-exec, on-exit
//! and on-signal, sandboxed.
//!
//! The init's view is [`IsolatedPlugins`]: `start` forks the plugin process, where [`Plugins`]
//! loads every plugin on one worker thread (which owns all wasmtime state); then `request` /
//! `wake_fd` / `try_reply` exchange messages without ever blocking the init. Whatever kills that
//! process (a panic, a crash, memory exhaustion) leaves PID 1 running, without plugins. Nothing
//! here runs, and no wasmtime object exists, until `start` is called; call it only when the plan
//! has plugins.
//!
//! Files, by what they do:
//! - `isolated.rs`: the plugin process and the init's handle on it; `wire.rs`: their messages.
//! - `runtime.rs`: the runtime in-process ([`Plugins`], [`Request`], [`Reply`]), as the plugin
//!   process, `hookinit plugin check` and the runtime tests use it; `wake.rs`: its wake fd.
//! - `worker.rs`: the worker thread: loading, hook chains, failure handling.
//! - `watchdog.rs`: deadlines (epoch interruption, answers for a blocked plugin).
//! - `engine.rs`: the wasmtime configuration (shared with build.rs).
//! - `sandbox.rs`: the policy: grants, limits.
//! - `host_api.rs`: the WIT imports (log, process, fetch, archive); `services.rs` bridges to the
//!   native services.
//! - `instance.rs`: one plugin's Store and calls; failures as one line.
//! - `load.rs`, `cache.rs`, `builtin.rs`: from source to compiled component, fast.
//! - `inspect.rs`: what a component imports and exports, version checks.
//! - `output.rs`: plugin stdout/stderr/log into the container log, bounded.
//! - `cli.rs`: `hookinit plugin compile|inspect|check`.

mod bindings;
pub mod builtin;
pub mod cache;
pub mod cli;
mod convert;
pub mod engine;
mod host_api;
pub mod inspect;
mod instance;
pub mod isolated;
mod linker;
pub mod load;
mod output;
mod runtime;
pub mod sandbox;
mod services;
mod types;
mod wake;
mod watchdog;
mod wire;
mod worker;

pub use bindings::{WIT_PACKAGE, WIT_VERSION};
pub use isolated::{IsolatedPlugins, Progress, Starting, reaped_plugin_process};
pub use runtime::{Plugins, Reply, Request};
pub use sandbox::Limits;
pub use types::{
    CommandSpec, ExitAction, ExitInfo, Hook, HookFailure, PluginFailure, ResourceLimit,
    RlimitResource, SignalAction,
};
pub use worker::TARGET;
