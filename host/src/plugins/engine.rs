//! The wasmtime configuration, in one place.
//!
//! This file is also compiled into `host/build.rs` (with `#[path]`), which precompiles the
//! built-in plugins with exactly this configuration: a `.cwasm` loads only into an Engine whose
//! settings match the ones it was compiled with. So it depends on nothing but wasmtime.
//!
//! Choices (see ../shared/research/wasmtime-notes.md):
//! - Cranelift, code for the *baseline* CPU of the target triple (`Config::target`): no feature
//!   of the build machine's CPU leaks into the embedded `.cwasm`, and a cache filled at image
//!   build time (`hookinit plugin compile`) is valid on any machine of the same architecture.
//!   Hooks are short; the speed lost to SSE2-only code does not matter.
//! - Epoch interruption: a hook past its deadline is stopped by an epoch increment.
//! - Linear memories reserve no address space up front (instead of 4 GiB + guard), so plugins
//!   work under `ulimit -v` and strict overcommit; bounds checks are explicit, which is cheap.
//! - No parallel compilation (no rayon threads in PID 1), no pooling allocator.

use wasmtime::{Config, Engine};

/// Guard pages after a linear memory.
const MEMORY_GUARD: u64 = 64 << 10;
/// Address space reserved past a memory's end so that growing does not always move it.
const MEMORY_GROWTH_RESERVE: u64 = 16 << 20;
/// Stack available to wasm code; a plugin that recurses past it traps ("call stack exhausted").
pub const MAX_WASM_STACK: usize = 512 << 10;

/// The engine configuration for `target` (a Rust target triple such as
/// `x86_64-unknown-linux-gnu`; the runtime passes the triple hookinit was built for).
pub fn config(target: &str) -> wasmtime::Result<Config> {
    let mut config = Config::new();
    config.target(target)?;
    config.epoch_interruption(true);
    config.memory_reservation(0);
    config.memory_guard_size(MEMORY_GUARD);
    config.memory_reservation_for_growth(MEMORY_GROWTH_RESERVE);
    config.max_wasm_stack(MAX_WASM_STACK);
    config.wasm_component_model(true);
    Ok(config)
}

/// An Engine with [`config`]. Creating the first Engine installs wasmtime's SIGSEGV/SIGILL/SIGFPE
/// handlers (for traps) in the process.
pub fn engine(target: &str) -> wasmtime::Result<Engine> {
    Engine::new(&config(target)?)
}
