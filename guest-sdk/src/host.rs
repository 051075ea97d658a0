//! Services the host (hookinit) provides, each checked against the operator's grants.
//!
//! They run natively in hookinit, outside the plugin's time budget accounting: the host applies
//! its own timeouts.

use crate::__private::bindings::hookinit::plugin as wit;
use crate::{
    Command, CoreDumpSettings, Executable, FetchOptions, FetchReport, Level, SignalMasks,
    UnpackOptions, UnpackReport,
};

/// Writes `message` to the container log at `level` (prefer the [`info!`](crate::info) family).
///
/// ```no_run
/// hookinit_sdk::host::log(hookinit_sdk::Level::Warn, "disk almost full");
/// ```
pub fn log(level: Level, message: &str) {
    wit::log::log(level, message);
}

/// Whether a line at `level` would be written (the container's verbosity).
///
/// ```no_run
/// if hookinit_sdk::host::log_enabled(hookinit_sdk::Level::Debug) { /* costly report */ }
/// ```
pub fn log_enabled(level: Level) -> bool {
    wit::log::enabled(level)
}

/// The main process's pid; `None` before it is spawned (in `init` and `pre_exec`).
///
/// ```no_run
/// if let Some(pid) = hookinit_sdk::host::main_pid() { hookinit_sdk::info!("main pid {pid}"); }
/// ```
pub fn main_pid() -> Option<u32> {
    wit::process::main_pid()
}

/// The command the main process was started with, after every pre-exec hook.
///
/// ```no_run
/// let program = hookinit_sdk::host::main_command().map(|c| c.program);
/// ```
pub fn main_command() -> Option<Command> {
    wit::process::main_command()
}

/// The main process's signal dispositions now (`/proc/PID/status`, read by the host).
///
/// ```no_run
/// use hookinit_sdk::{host, Signal};
/// let handles_term = host::main_signals().is_some_and(|m| m.catches(Signal::TERM));
/// ```
pub fn main_signals() -> Option<SignalMasks> {
    wit::process::main_signals()
}

/// The file the main process's `execve` would run for `program`, and its `#!` line: a name
/// without `/` is looked up in `search_path` (a `PATH` value), a name with `/` taken relative to
/// `cwd`. `None` when no executable file is found, or when it is outside the plugin's grants.
///
/// ```no_run
/// let cmd = hookinit_sdk::host::main_command().unwrap();
/// let path = cmd.env("PATH").unwrap_or("/usr/bin:/bin");
/// if let Some(exe) = hookinit_sdk::host::resolve_executable(&cmd.program, path, &cmd.cwd) {
///     hookinit_sdk::info!("{} runs {} ({:?})", cmd.program, exe.path, exe.interpreter);
/// }
/// ```
pub fn resolve_executable(program: &str, search_path: &str, cwd: &str) -> Option<Executable> {
    wit::process::resolve_executable(program, search_path, cwd)
}

/// The kernel's core dump settings (`/proc/sys/kernel/core_pattern` and `core_uses_pid`).
///
/// ```no_run
/// let core = hookinit_sdk::host::core_settings();
/// if core.pattern.starts_with('|') { hookinit_sdk::warn!("cores go to {}", &core.pattern[1..]); }
/// ```
pub fn core_settings() -> CoreDumpSettings {
    wit::process::core_settings()
}

#[allow(clippy::derivable_impls)] // generated type: no derive possible here
impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            sha256: None,
            timeout_ms: None,
            max_bytes: None,
        }
    }
}

#[allow(clippy::derivable_impls)]
impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            strip: None,
            max_bytes: None,
            sha256: None,
        }
    }
}

/// Downloads `url` (http, https, file) into the file `dest`. Needs the operator's `fetch=HOST`
/// grant for the URL's host and a `write=DIR` grant containing `dest`.
///
/// ```no_run
/// use hookinit_sdk::{host, FetchOptions};
/// let report = host::fetch_to_file(
///     "https://example.com/fix.tar.gz",
///     "/work/fix.tar.gz",
///     &FetchOptions { sha256: Some("9f86d0...".into()), ..Default::default() },
/// )?;
/// hookinit_sdk::info!("{} bytes", report.bytes);
/// # Ok::<(), String>(())
/// ```
pub fn fetch_to_file(url: &str, dest: &str, options: &FetchOptions) -> Result<FetchReport, String> {
    wit::fetch::fetch_to_file(url, dest, options)
}

/// Unpacks the archive file `archive` (tar, tar.gz, tar.xz, tar.zst, zip) into the directory
/// `dest`. Needs a `read=` or `write=` grant containing `archive` and a `write=` grant containing
/// `dest`. Entries that would land outside `dest` are refused.
///
/// ```no_run
/// use hookinit_sdk::{host, UnpackOptions};
/// let report = host::unpack("/work/fix.tar.gz", "/app", UnpackOptions { strip: Some(1), ..Default::default() })?;
/// hookinit_sdk::info!("{} files", report.files);
/// # Ok::<(), String>(())
/// ```
pub fn unpack(archive: &str, dest: &str, options: UnpackOptions) -> Result<UnpackReport, String> {
    wit::archive::unpack(archive, dest, &options)
}
