//! One loaded plugin: its Store (kept for the container's life, so state set in `init` is there
//! in every hook), its bindings, its subscriptions, and the classification of its failures into
//! one line.

use std::time::Duration;

use wasmtime::component::Component;
use wasmtime::{Engine, Store, Trap};

use super::bindings::{Plugin, PluginPre, wit};
use super::host_api::{SharedFacts, State};
use super::inspect::ComponentInfo;
use super::linker::HostLinker;
use super::output::PluginOutput;
use super::sandbox::{Limits, Sandbox};
use hookinit_init::plugin_process::Hook;

/// Checks that `component` fits this host and resolves its imports.
pub fn prepare(
    engine: &Engine,
    linker: &mut HostLinker,
    component: &Component,
) -> Result<PluginPre<State>, String> {
    let info = ComponentInfo::of(engine, component);
    if let Some(why) = info.incompatibility() {
        return Err(why);
    }
    let linker = linker
        .with_imports(info.imports.iter().map(String::as_str))
        .map_err(|e| format!("cannot link host functions: {}", one_line(&e)))?;
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| link_error(&e))?;
    PluginPre::new(pre).map_err(|e| link_error(&e))
}

fn link_error(e: &wasmtime::Error) -> String {
    let text = one_line(e);
    if text.contains("matching implementation was not found") {
        format!("needs an import this host does not provide: {text}")
    } else {
        format!("cannot be linked: {text}")
    }
}

/// An error's chain on one line.
pub fn one_line(e: &wasmtime::Error) -> String {
    let mut text = format!("{e:#}");
    text = text.replace('\n', " ");
    text
}

pub struct PluginInstance {
    pub hooks: wit::Hooks,
    store: Store<State>,
    bindings: Plugin,
}

/// How a call ended, when it did not return normally.
pub enum Fault {
    /// The plugin returned an error (init and pre-exec only); it stays enabled.
    Error(String),
    /// It trapped, ran out of time or memory: it is disabled.
    Crash(String),
}

impl PluginInstance {
    /// Creates the plugin's store and instance and calls `init` (the caller arms the deadline).
    pub fn start(
        engine: &Engine,
        pre: &PluginPre<State>,
        sandbox: Sandbox,
        facts: SharedFacts,
        limits: &Limits,
        config: &[(String, String)],
    ) -> Result<PluginInstance, Fault> {
        let name = sandbox.name.clone();
        let output = PluginOutput::new(&name, limits.log_bytes_per_call, limits.log_line);
        let state =
            State::new(sandbox, output.clone(), facts, limits.memory).map_err(Fault::Crash)?;
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        let bindings = match pre.instantiate(&mut store) {
            Ok(b) => b,
            Err(e) => {
                output.end_call();
                return Err(Fault::Crash(classify(
                    &store,
                    &e,
                    limits.init,
                    "instantiation",
                )));
            }
        };
        let mut instance = PluginInstance {
            hooks: wit::Hooks::empty(),
            store,
            bindings,
        };
        let result = instance.call(limits.init, |b, s| b.call_init(s, config));
        instance.hooks = match result {
            Ok(Ok(hooks)) => hooks,
            Ok(Err(msg)) => return Err(Fault::Error(format!("init failed: {msg}"))),
            Err(why) => return Err(Fault::Crash(why)),
        };
        Ok(instance)
    }

    /// Removes the plugin's scratch directory (it is done with it).
    pub fn release_scratch(&mut self) {
        self.store.data_mut().sandbox.release_scratch();
    }

    /// Whether the plugin may see the main process's variable `name`.
    pub fn sees_env(&self, name: &str) -> bool {
        self.store.data().sandbox.sees_env(name)
    }

    /// Removes the plugin's scratch directory if it is empty.
    pub fn release_empty_scratch(&mut self) {
        self.store.data_mut().sandbox.release_empty_scratch();
    }

    pub fn subscribed(&self, hook: Hook) -> bool {
        self.hooks.contains(match hook {
            Hook::PreExec => wit::Hooks::PRE_EXEC,
            Hook::OnExit => wit::Hooks::ON_EXIT,
            Hook::OnSignal => wit::Hooks::ON_SIGNAL,
        })
    }

    pub fn pre_exec(
        &mut self,
        cmd: &wit::Command,
        deadline: Duration,
    ) -> Result<wit::Command, Fault> {
        match self.call(deadline, |b, s| b.call_pre_exec(s, cmd)) {
            Ok(Ok(cmd)) => Ok(cmd),
            Ok(Err(msg)) => Err(Fault::Error(msg)),
            Err(why) => Err(Fault::Crash(why)),
        }
    }

    pub fn on_exit(
        &mut self,
        status: wit::ExitStatus,
        deadline: Duration,
    ) -> Result<wit::ExitAction, Fault> {
        self.call(deadline, |b, s| b.call_on_exit(s, status))
            .map_err(Fault::Crash)
    }

    pub fn on_signal(
        &mut self,
        signal: u8,
        deadline: Duration,
    ) -> Result<wit::SignalAction, Fault> {
        self.call(deadline, |b, s| b.call_on_signal(s, signal))
            .map_err(Fault::Crash)
    }

    /// One call with a fresh epoch deadline; the caller's [`super::interrupt::Interrupter`]
    /// increments the epoch when the deadline passes. Errors come back classified, on one line.
    fn call<R>(
        &mut self,
        deadline: Duration,
        f: impl FnOnce(&Plugin, &mut Store<State>) -> wasmtime::Result<R>,
    ) -> Result<R, String> {
        self.store.set_epoch_deadline(1);
        self.store.data_mut().trap_reason = None;
        let result = f(&self.bindings, &mut self.store);
        self.store.data().output.end_call();
        result.map_err(|e| classify(&self.store, &e, deadline, "call"))
    }
}

/// Why a call failed, in words an operator can act on.
fn classify(store: &Store<State>, e: &wasmtime::Error, deadline: Duration, _what: &str) -> String {
    let state = store.data();
    if state.limiter.hit {
        return format!(
            "exceeded its memory limit of {} MiB",
            state.limiter.limit >> 20
        );
    }
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return format!("called exit({})", exit.0);
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => format!("ran past its deadline of {}", human(deadline)),
        Some(Trap::StackOverflow) => "overflowed its stack (call stack exhausted)".to_string(),
        Some(Trap::MemoryOutOfBounds) if state.trap_reason.is_none() => {
            "trapped: out of bounds memory access (a bad pointer, or its stack in linear memory \
             overflowed)"
                .to_string()
        }
        Some(trap) => match &state.trap_reason {
            Some(reason) => reason.clone(),
            None => format!(
                "trapped: {}",
                trap.to_string().trim_start_matches("wasm trap: ")
            ),
        },
        None => match &state.trap_reason {
            Some(reason) => reason.clone(),
            None => format!("failed: {}", one_line(e)),
        },
    }
}

pub fn human(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}
