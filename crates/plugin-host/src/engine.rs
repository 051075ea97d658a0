//! The wasmtime configuration, in one place.
//!
//! This file is also compiled into `build.rs` (with `#[path]`), which precompiles the
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
//! - No native unwind information (`.eh_frame` for the plugins' code): wasmtime's own traps,
//!   backtraces and host-function panics do not use it, only outside unwinders (debuggers,
//!   profilers) would; registering it with libunwind was a tenth of the instructions of a
//!   DEBUG=verbose start, page faults not counted.
//! - No symbol table and no native-to-wasm address map in compiled code: neither is used to
//!   run it, and they were a fifth of a built-in plugin's `.cwasm` (the binary embeds those). A
//!   trap still names the functions on the wasm stack (the name section), without their offsets.
//! - Linear memories initialised by copying the data segments, not copy-on-write from a memfd
//!   image: each plugin is instantiated once per process, so building the image (memfd, write,
//!   map) and then copying every page written is pure cost.
//! - No parallel compilation (no rayon threads in PID 1), no pooling allocator.

use wasmtime::{Config, Engine};

/// Guard pages after a linear memory.
const MEMORY_GUARD: u64 = 64 << 10;
/// Address space reserved past a memory's end so that growing does not always move it.
const MEMORY_GROWTH_RESERVE: u64 = 16 << 20;
/// Stack available to wasm code; a plugin that recurses past it traps ("call stack exhausted").
pub const MAX_WASM_STACK: usize = 512 << 10;

/// The engine configuration, without the target: build.rs sets the target itself (it always has
/// Cranelift), the runtime does in [`engine`] when it has a compiler.
pub fn config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.native_unwind_info(false);
    config.debug_symbols(false);
    config.generate_address_map(false);
    config.memory_init_cow(false);
    config.memory_reservation(0);
    config.memory_guard_size(MEMORY_GUARD);
    config.memory_reservation_for_growth(MEMORY_GROWTH_RESERVE);
    config.max_wasm_stack(MAX_WASM_STACK);
    config.wasm_component_model(true);
    config
}

/// The runtime's Engine with [`config`]: with the `compiler` feature, code for the baseline CPU
/// of `target` (the triple hookinit was built for); without it, an Engine that only loads code
/// (wasmtime checks that its architecture and settings fit this machine). Creating the first
/// Engine installs wasmtime's SIGSEGV/SIGILL/SIGFPE handlers (for traps) in the process.
#[cfg(feature = "compiler")]
pub fn engine(target: &str) -> wasmtime::Result<Engine> {
    let mut config = config();
    config.target(target)?;
    Engine::new(&config)
}

/// See the `compiler` variant; `target` is the triple the code was compiled for, which wasmtime
/// checks against this machine when it loads the code.
#[cfg(not(feature = "compiler"))]
pub fn engine(_target: &str) -> wasmtime::Result<Engine> {
    Engine::new(&config())
}
