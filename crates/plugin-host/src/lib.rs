//! The plugin runtime: WebAssembly components (wasm32-wasip2, WIT world
//! `hookinit:plugin/plugin@0.1.0` in `wit/hookinit.wit`) run by wasmtime 48 at pre-exec, on-exit
//! and on-signal, sandboxed.
//!
//! It runs in the plugin process that PID 1 forks (`hookinit_init::plugin_process`): [`serve`]
//! is that process's work, where [`Plugins`] loads every plugin on one worker thread (which owns
//! all wasmtime state) and answers PID 1's requests. Whatever kills that process (a panic, a
//! crash, memory exhaustion) leaves PID 1 running, without plugins. Nothing here runs, and no
//! wasmtime object exists, until the plan has plugins.
//!
//! Files, by what they do:
//! - `process.rs`: the plugin process's loop ([`serve`]).
//! - `runtime.rs`: the runtime in-process ([`Plugins`]), as the plugin process,
//!   `hookinit plugin check` and the runtime tests use it.
//! - `worker.rs`: the worker thread: loading, hook chains, failure handling.
//! - `handoff.rs`: the queues between the relay thread and the worker.
//! - `interrupt.rs`: deadlines inside the process (epoch interruption; PID 1 owns the last).
//! - `engine.rs`: the wasmtime configuration (shared with build.rs).
//! - `sandbox/`: the policy: grants, limits (`calls.rs`: host calls checked against the grants;
//!   `scratch.rs`: scratch directories).
//! - `host_api.rs`: the WIT imports (log, process, fetch, archive); `services.rs` bridges to the
//!   native services (`hookinit-fetch`, `hookinit-archive`).
//! - `instance.rs`: one plugin's Store and calls; failures as one line.
//! - `load.rs`, `cache.rs`, `builtin.rs`: from source to compiled component, fast.
//! - `inspect.rs`: what a component imports and exports, version checks.
//! - `output.rs`: plugin stdout/stderr/log into the container log, bounded.
//! - `cli.rs`: `hookinit plugin compile|inspect|check|list`.

mod bindings;
pub mod builtin;
pub mod cache;
pub mod cli;
mod convert;
pub mod engine;
mod handoff;
mod host_api;
pub mod inspect;
mod instance;
mod interrupt;
mod linker;
pub mod load;
mod output;
mod process;
mod runtime;
pub mod sandbox;
mod services;
mod worker;

pub use bindings::{WIT_PACKAGE, WIT_VERSION};
pub use hookinit_init::plugin_process::{
    CommandSpec, ExitAction, ExitInfo, Hook, HookFailure, PluginFailure, Reply, Request,
    ResourceLimit, RlimitResource, SignalAction,
};
pub use process::serve;
pub use runtime::Plugins;
pub use sandbox::Limits;
pub use worker::TARGET;
