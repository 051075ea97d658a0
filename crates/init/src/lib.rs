//! hookinit's PID 1: a container init that makes start-up failures debuggable.
//!
//! The binary's `main` reads like the init's life: plan -> plugins (only if any) -> pre-exec hooks
//! -> spawn -> event loop (signals, reaping, on-exit) -> stay alive or exit. Each step lives in
//! the module named for it. Nothing here links wasmtime: the plugin runtime runs in a process of
//! its own, forked from PID 1, whose work the binary supplies ([`plugin_process::Runtime`]); PID 1
//! talks to it through messages and owns every deadline.

pub mod cli;
pub mod config;
pub mod ctl;
pub mod log;
pub mod plugin_process;
pub mod run_dir;
pub mod signals;
pub mod supervise;
