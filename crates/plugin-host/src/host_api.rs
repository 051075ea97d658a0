//! The host side of the WIT imports (`log`, `process`, `fetch`, `archive`), implemented on the
//! store data of each plugin. fetch and unpack check the plugin's grants (sandbox/) and then
//! call the native services (services.rs).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::hookinit::plugin::{archive, fetch, log, process, types};
use super::bindings::wit;
use super::output::PluginOutput;
use super::sandbox::Sandbox;
use super::services;

/// What the plugins may know about the main process; shared by every plugin's store.
#[derive(Default)]
pub struct MainFacts {
    pub pid: Option<u32>,
    pub command: Option<wit::Command>,
}

pub type SharedFacts = Arc<Mutex<MainFacts>>;

/// Caps linear memory at the plugin's limit and remembers hitting it (for the failure line).
pub struct MemoryLimiter {
    pub limit: usize,
    pub hit: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            wasmtime::bail!("memory limit of {} MiB exceeded", self.limit >> 20);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// The store data of one plugin.
pub struct State {
    pub sandbox: Sandbox,
    pub output: PluginOutput,
    pub facts: SharedFacts,
    pub limiter: MemoryLimiter,
    /// Set by the guest (the SDK's panic hook) just before it traps.
    pub trap_reason: Option<String>,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl State {
    pub fn new(
        sandbox: Sandbox,
        output: PluginOutput,
        facts: SharedFacts,
        memory_limit: usize,
    ) -> Result<State, String> {
        let wasi = sandbox.wasi_ctx(output.stream(0), output.stream(1))?;
        Ok(State {
            sandbox,
            output,
            facts,
            limiter: MemoryLimiter {
                limit: memory_limit,
                hit: false,
            },
            trap_reason: None,
            wasi,
            table: ResourceTable::new(),
        })
    }

    fn facts(&self) -> std::sync::MutexGuard<'_, MainFacts> {
        self.facts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn level(level: wit::Level) -> hookinit_init::log::Level {
    match level {
        wit::Level::Error => hookinit_init::log::Level::Error,
        wit::Level::Warn => hookinit_init::log::Level::Warn,
        wit::Level::Info => hookinit_init::log::Level::Info,
        wit::Level::Debug => hookinit_init::log::Level::Debug,
    }
}

impl types::Host for State {}

impl log::Host for State {
    fn log(&mut self, lvl: wit::Level, message: String) {
        if hookinit_init::log::enabled(level(lvl)) {
            self.output.log(level(lvl), &message);
        }
    }

    fn enabled(&mut self, lvl: wit::Level) -> bool {
        hookinit_init::log::enabled(level(lvl))
    }

    fn set_trap_reason(&mut self, reason: String) {
        let mut reason: String = reason.chars().take(512).collect();
        reason = reason.replace(['\n', '\r'], " ");
        self.trap_reason = Some(reason);
    }
}

impl process::Host for State {
    fn main_pid(&mut self) -> Option<u32> {
        self.facts().pid
    }

    fn main_command(&mut self) -> Option<wit::Command> {
        let facts = self.facts();
        let command = facts.pid.and(facts.command.clone())?;
        // Only the variables this plugin was granted (env=NAME).
        Some(super::convert::visible_to(&command, |k| {
            self.sandbox.sees_env(k)
        }))
    }

    fn main_signals(&mut self) -> Option<wit::SignalMasks> {
        let pid = self.facts().pid?;
        read_signal_masks(pid)
    }

    fn resolve_executable(
        &mut self,
        program: String,
        search_path: String,
        cwd: String,
    ) -> Option<wit::Executable> {
        let found = resolve_executable(&program, &search_path, Path::new(&cwd))?;
        let absolute = Path::new(&cwd).join(&found);
        if !self.sandbox.may_resolve(&absolute) {
            return None;
        }
        Some(wit::Executable {
            path: found.to_string_lossy().into_owned(),
            interpreter: interpreter_line(&absolute),
        })
    }

    fn core_settings(&mut self) -> wit::CoreDumpSettings {
        let read = |name: &str| {
            std::fs::read_to_string(format!("/proc/sys/kernel/{name}")).unwrap_or_default()
        };
        let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_CORE)
            .unwrap_or((0, 0));
        let value = |v: libc::rlim_t| {
            if v == libc::RLIM_INFINITY {
                u64::MAX
            } else {
                v
            }
        };
        wit::CoreDumpSettings {
            pattern: read("core_pattern").trim_end_matches('\n').to_string(),
            uses_pid: read("core_uses_pid").trim() == "1",
            limit_soft: value(soft),
            limit_hard: value(hard),
        }
    }
}

/// The file `execve` (execvp's search) would run for `program`: a name with `/` as is, else
/// the first executable regular file `DIR/program` of `search_path` (an empty entry is `cwd`).
/// Relative results are relative to `cwd`.
pub fn resolve_executable(program: &str, search_path: &str, cwd: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| {
        let full = cwd.join(p);
        std::fs::metadata(full).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        let p = PathBuf::from(program);
        return runnable(&p).then_some(p);
    }
    search_path
        .split(':')
        .map(|dir| {
            if dir.is_empty() {
                Path::new(".")
            } else {
                Path::new(dir)
            }
        })
        .map(|dir| dir.join(program))
        .find(|p| runnable(p))
}

/// The `#!` line of a file: what follows `#!` on the first line, blanks trimmed, within the
/// kernel's 256-byte buffer; `None` when the file does not start with `#!`.
pub fn interpreter_line(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let mut file = std::fs::File::open(path).ok()?;
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    let head = head[..n].strip_prefix(b"#!")?;
    let line = head.split(|&b| b == b'\n').next().unwrap_or(head);
    let text = String::from_utf8_lossy(line);
    Some(text.trim_matches([' ', '\t', '\r']).to_string())
}

/// `SigCgt`, `SigIgn`, `SigBlk` of `/proc/PID/status`; `None` once the process is gone (or a
/// zombie, whose dispositions no longer matter).
pub fn read_signal_masks(pid: u32) -> Option<wit::SignalMasks> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        u64::from_str_radix(line[name.len()..].trim(), 16).ok()
    };
    if status
        .lines()
        .any(|l| l.starts_with("State:") && l.contains('Z'))
    {
        return None;
    }
    Some(wit::SignalMasks {
        caught: field("SigCgt:")?,
        ignored: field("SigIgn:")?,
        blocked: field("SigBlk:")?,
    })
}

impl fetch::Host for State {
    fn fetch_to_file(
        &mut self,
        url: String,
        dest: String,
        options: wit::FetchOptions,
    ) -> Result<wit::FetchReport, String> {
        let call = self.sandbox.check_fetch(&url, &dest)?;
        let hosts = self.sandbox.fetch_hosts();
        services::fetch(&call.source, &call.dest, &options, hosts)
    }
}

impl archive::Host for State {
    fn unpack(
        &mut self,
        archive: String,
        dest: String,
        options: wit::UnpackOptions,
    ) -> Result<wit::UnpackReport, String> {
        let (archive, dest) = self.sandbox.check_unpack(&archive, &dest)?;
        services::unpack(&archive, &dest, &options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, name: &str, text: &[u8], mode: u32) {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn resolves_like_execvp() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write(a.path(), "tool", b"#!/bin/sh\n", 0o644); // not executable: skipped
        write(b.path(), "tool", b"#!/bin/sh\n", 0o755);
        let path = format!("{}:{}", a.path().display(), b.path().display());
        let cwd = Path::new("/");
        assert_eq!(
            resolve_executable("tool", &path, cwd),
            Some(b.path().join("tool"))
        );
        assert_eq!(resolve_executable("missing", &path, cwd), None);
        assert_eq!(
            resolve_executable("./tool", "", b.path()),
            Some(PathBuf::from("./tool"))
        );
        assert_eq!(
            resolve_executable("tool", ":", b.path()),
            Some(PathBuf::from("./tool"))
        );
        assert_eq!(
            resolve_executable(&a.path().display().to_string(), "", cwd),
            None,
            "a directory"
        );
    }

    #[test]
    fn reads_only_the_interpreter_line() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "s",
            b"#! /usr/bin/env bash \necho secret\n",
            0o755,
        );
        write(d.path(), "bin", b"\x7fELF....", 0o755);
        let long = [b"#!/bin/sh ".as_slice(), &[b'x'; 400]].concat();
        write(d.path(), "long", &long, 0o755);
        assert_eq!(
            interpreter_line(&d.path().join("s")).as_deref(),
            Some("/usr/bin/env bash")
        );
        assert_eq!(interpreter_line(&d.path().join("bin")), None);
        assert_eq!(interpreter_line(&d.path().join("long")).unwrap().len(), 254);
    }
}
