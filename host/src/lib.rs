//! hookinit: a container init (PID 1) that makes start-up failures debuggable.
//!
//! The binary's `main` reads like the init's life: plan -> plugins (only if any) -> pre-exec hooks
//! -> spawn -> event loop (signals, reaping, on-exit) -> stay alive or exit. Each step lives in
//! the module named for it.

pub mod cli;
pub mod config;
pub mod log;
pub mod plugins;
pub mod services;
pub mod signals;
pub mod supervise;
pub mod values;
