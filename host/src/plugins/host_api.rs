//! The host side of the WIT imports (`log`, `process`, `fetch`, `archive`), implemented on the
//! store data of each plugin. fetch and unpack check the plugin's grants (sandbox.rs) and then
//! call the native services (services.rs).

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

fn level(level: wit::Level) -> crate::log::Level {
    match level {
        wit::Level::Error => crate::log::Level::Error,
        wit::Level::Warn => crate::log::Level::Warn,
        wit::Level::Info => crate::log::Level::Info,
        wit::Level::Debug => crate::log::Level::Debug,
    }
}

impl types::Host for State {}

impl log::Host for State {
    fn log(&mut self, lvl: wit::Level, message: String) {
        if crate::log::enabled(level(lvl)) {
            self.output.log(level(lvl), &message);
        }
    }

    fn enabled(&mut self, lvl: wit::Level) -> bool {
        crate::log::enabled(level(lvl))
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
        facts.pid.and(facts.command.clone())
    }

    fn main_signals(&mut self) -> Option<wit::SignalMasks> {
        let pid = self.facts().pid?;
        read_signal_masks(pid)
    }
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
        let (dest, local) = self.sandbox.check_fetch(&url, &dest)?;
        let hosts = self.sandbox.fetch_hosts().to_vec();
        services::fetch(&url, &dest, &options, Some(hosts), local)
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
