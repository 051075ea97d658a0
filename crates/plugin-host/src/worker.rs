//! The worker thread: owns the Engine, the Linker and every plugin's Store; loads the plugins,
//! then serves requests one at a time, running each hook chain under the watchdog.
//!
//! A plugin that traps, runs out of time or memory is reported in one line and dropped (its
//! Store freed); the chain goes on without it.

use std::sync::mpsc;
use std::time::Instant;

use wasmtime::Engine;

use super::cache::Cache;
use super::convert::{self, Originals};
use super::engine;
use super::host_api::SharedFacts;
use super::instance::{self, Fault, PluginInstance};
use super::linker::HostLinker;
use super::load::{self, Origin};
use super::sandbox::{Limits, Sandbox};
use super::watchdog::{Abandon, Shared};
use hookinit_init::config::plan::{PluginSource, PluginSpec};
use hookinit_init::plugin_process::{ExitAction, Hook, HookFailure, SignalAction};
use hookinit_init::plugin_process::{Reply, Request, StartReport};
use std::sync::Arc;

/// The target triple hookinit was built for (set by build.rs); the engine compiles for its
/// baseline CPU, like the embedded plugins.
pub const TARGET: &str = env!("HOOKINIT_WASM_TARGET");

/// Blocks every asynchronous signal in the calling thread, so that the main thread's signalfd
/// gets them all, and unblocks the synchronous ones even if whoever started hookinit blocked
/// them: wasmtime turns SIGSEGV/SIGILL/SIGFPE/SIGBUS of guest code into traps, and a blocked
/// fault signal kills the process instead.
pub fn block_async_signals() {
    use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};
    let mut set = SigSet::all();
    for s in hookinit_init::signals::takeover::SYNCHRONOUS {
        set.remove(s);
    }
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&set), None);
}

struct Slot {
    name: String,
    instance: Option<PluginInstance>,
    limits: Limits,
    /// A plugin whose work is part of the start (the built-in fstree) and that failed to load:
    /// the pre-exec chain fails with this reason, so the main process is not started unpatched.
    failed_start: Option<String>,
}

struct Worker {
    shared: Arc<Shared>,
    facts: SharedFacts,
    limits: Limits,
    plugins: Vec<Slot>,
}

pub fn run(
    specs: Vec<PluginSpec>,
    limits: Limits,
    shared: Arc<Shared>,
    facts: SharedFacts,
    engine_tx: mpsc::Sender<Result<Engine, String>>,
) {
    block_async_signals();
    // wasmtime-wasi's sync bindings run their futures on the tokio runtime they find entered;
    // without one they build a multi-threaded runtime (more threads in PID 1).
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = engine_tx.send(Err(format!("tokio runtime: {e}")));
            return;
        }
    };
    let _entered = rt.enter();
    let engine = match engine::engine(TARGET) {
        Ok(engine) => engine,
        Err(e) => {
            let _ = engine_tx.send(Err(format!("wasmtime engine: {e}")));
            return;
        }
    };
    let _ = engine_tx.send(Ok(engine.clone()));
    let mut worker = Worker {
        shared,
        facts,
        limits,
        plugins: Vec::new(),
    };
    worker.start(&engine, &specs);
    worker.serve();
}

impl Worker {
    fn start(&mut self, engine: &Engine, specs: &[PluginSpec]) {
        let cache = Cache::new(Cache::default_dir());
        let mut linker = match HostLinker::new(engine) {
            Ok(l) => l,
            Err(e) => {
                let failures = specs
                    .iter()
                    .map(|s| failure(&s.name, format!("cannot link host functions: {e}")))
                    .collect();
                self.finish_start(StartReport {
                    plugins: vec![],
                    failures,
                });
                return;
            }
        };
        for (i, spec) in specs.iter().enumerate() {
            let started = Instant::now();
            let prepared = load::load(engine, spec, &cache).and_then(|loaded| {
                let pre = instance::prepare(engine, &mut linker, &loaded.component)?;
                let sandbox = Sandbox::new(spec)?;
                Ok((pre, sandbox, loaded.origin))
            });
            let (pre, sandbox, origin) = match prepared {
                Ok(p) => p,
                Err(why) => {
                    self.start_failure(spec, why);
                    continue;
                }
            };
            let mut config = spec.config.clone();
            config.extend(sandbox.host_config());
            let loaded_in = started.elapsed();
            hookinit_init::info!(
                "plugin {}: {} in {:.1} ms; grants: {}",
                spec.name,
                match origin {
                    Origin::Embedded => "embedded, precompiled",
                    Origin::Cache => "loaded from the compile cache",
                    Origin::Compiled => "compiled",
                },
                loaded_in.as_secs_f64() * 1e3,
                sandbox.describe()
            );
            let not_started = specs[i + 1..].iter().map(|s| s.name.clone()).collect();
            let generation = self.shared.begin_call(
                &spec.name,
                None,
                self.limits.init,
                Abandon::Start { not_started },
            );
            let result = PluginInstance::start(
                engine,
                &pre,
                sandbox,
                self.facts.clone(),
                &self.limits,
                &config,
            );
            if self.shared.end_call(generation) {
                // The watchdog reported this plugin and answered start for us; the plugins after
                // it were reported as not started.
                return;
            }
            match result {
                Ok(instance) => {
                    let subs = [Hook::PreExec, Hook::OnExit, Hook::OnSignal]
                        .map(|h| instance.subscribed(h));
                    hookinit_init::debug!(
                        "plugin {}: ready in {:.1} ms, hooks: {}",
                        spec.name,
                        started.elapsed().as_secs_f64() * 1e3,
                        hook_list(subs)
                    );
                    self.shared
                        .lock()
                        .start_progress
                        .plugins
                        .push((spec.name.clone(), subs));
                    let mut limits = self.limits.clone();
                    if matches!(spec.source, PluginSource::Builtin(_)) {
                        limits.pre_exec = limits.builtin_pre_exec;
                    }
                    self.plugins.push(Slot {
                        name: spec.name.clone(),
                        instance: Some(instance),
                        limits,
                        failed_start: None,
                    });
                }
                Err(Fault::Error(why)) | Err(Fault::Crash(why)) => self.start_failure(spec, why),
            }
        }
        let report = std::mem::take(&mut self.shared.lock().start_progress);
        self.finish_start(report);
    }

    fn start_failure(&mut self, spec: &PluginSpec, why: String) {
        let f = failure(&spec.name, why);
        let mut st = self.shared.lock();
        st.start_progress.failures.push(f.clone());
        if !spec.start_depends_on_it() {
            hookinit_init::error!("{f}");
        } else {
            // Its pre-exec "runs" and fails, which stops the start and says why in one line.
            st.start_progress
                .plugins
                .push((spec.name.clone(), [true, false, false]));
            drop(st);
            self.plugins.push(Slot {
                name: spec.name.clone(),
                instance: None,
                limits: self.limits.clone(),
                failed_start: Some(f.reason),
            });
        }
    }

    fn finish_start(&mut self, report: StartReport) {
        if let Some(tx) = self.shared.lock().start.take() {
            let _ = tx.send(report);
        }
    }

    fn serve(&mut self) {
        loop {
            let req = {
                let mut st = self.shared.lock();
                loop {
                    if st.shutdown {
                        return;
                    }
                    if let Some(req) = st.requests.pop_front() {
                        break req;
                    }
                    st = self.shared.work.wait(st).unwrap_or_else(|e| e.into_inner());
                }
            };
            if let Some(reply) = self.handle(req) {
                let mut st = self.shared.lock();
                self.shared.reply(&mut st, reply);
            }
        }
    }

    /// Runs one request's hook chain. `None`: already answered by the watchdog.
    fn handle(&mut self, req: Request) -> Option<Reply> {
        match req {
            Request::PreExec(spec) => self.pre_exec(spec),
            Request::OnExit { status, .. } => self.on_exit(convert::exit_to_wit(status)),
            Request::OnSignal(signal) => self.on_signal(signal),
            Request::SetMainPid(_) => None,
        }
    }

    /// Calls `f` on plugin `i` under the watchdog. `Err(None)`: abandoned (answered already).
    fn call<R>(
        &mut self,
        i: usize,
        hook: Hook,
        fallback: Reply,
        f: impl FnOnce(&mut PluginInstance, std::time::Duration) -> Result<R, Fault>,
    ) -> Result<R, Option<Fault>> {
        let slot = &mut self.plugins[i];
        let limit = slot.limits.deadline(hook);
        let Some(instance) = slot.instance.as_mut() else {
            return Err(Some(Fault::Crash(String::new())));
        };
        let generation =
            self.shared
                .begin_call(&slot.name, Some(hook), limit, Abandon::Reply(fallback));
        let result = f(instance, limit);
        let abandoned = self.shared.end_call(generation);
        if abandoned {
            slot.instance = None;
            return Err(None);
        }
        match result {
            Ok(r) => Ok(r),
            // A failed pre-exec stops the start, and the line saying so gives the reason.
            Err(Fault::Crash(why)) => {
                if hook != Hook::PreExec {
                    hookinit_init::error!("plugin {}: {hook}: {why}; disabled", slot.name);
                }
                slot.instance = None;
                self.shared.lock().failures.push(HookFailure {
                    plugin: slot.name.clone(),
                    hook: Some(hook),
                    reason: why.clone(),
                });
                Err(Some(Fault::Crash(why)))
            }
            Err(Fault::Error(why)) => {
                if hook != Hook::PreExec {
                    hookinit_init::error!("plugin {}: {hook}: {why}", slot.name);
                }
                self.shared.lock().failures.push(HookFailure {
                    plugin: slot.name.clone(),
                    hook: Some(hook),
                    reason: why.clone(),
                });
                Err(Some(Fault::Error(why)))
            }
        }
    }

    fn subscribers(&self, hook: Hook) -> Vec<usize> {
        (0..self.plugins.len())
            .filter(|&i| {
                self.plugins[i]
                    .instance
                    .as_ref()
                    .is_some_and(|p| p.subscribed(hook))
            })
            .collect()
    }

    fn pre_exec(&mut self, spec: hookinit_init::plugin_process::CommandSpec) -> Option<Reply> {
        let reply = self.pre_exec_chain(spec);
        if matches!(reply, Some(Reply::PreExec(Err(_)))) {
            // The main process will not run: no scratch directory is needed any more.
            self.release_scratch(None);
        } else {
            // An empty one is not needed either (and the spawn may still fail, after which no
            // on-exit hook runs to remove it).
            for slot in &mut self.plugins {
                if let Some(instance) = slot.instance.as_mut() {
                    instance.release_empty_scratch();
                }
            }
        }
        reply
    }

    fn release_scratch(&mut self, after: Option<Hook>) {
        for slot in &mut self.plugins {
            if let Some(instance) = slot.instance.as_mut() {
                instance.release_scratch(after);
            }
        }
    }

    fn pre_exec_chain(
        &mut self,
        spec: hookinit_init::plugin_process::CommandSpec,
    ) -> Option<Reply> {
        let mut originals = Originals::default();
        let mut cmd = convert::command_to_wit(&spec, &mut originals);
        let subscribers = self.subscribers(Hook::PreExec);
        for i in 0..self.plugins.len() {
            if let Some(why) = &self.plugins[i].failed_start {
                return Some(Reply::PreExec(Err(HookFailure {
                    plugin: self.plugins[i].name.clone(),
                    hook: Some(Hook::PreExec),
                    reason: format!("could not be loaded: {why}"),
                })));
            }
            if !subscribers.contains(&i) {
                continue;
            }
            let name = self.plugins[i].name.clone();
            let deadline = self.plugins[i].limits.pre_exec;
            let fallback = Reply::PreExec(Err(HookFailure {
                plugin: name.clone(),
                hook: Some(Hook::PreExec),
                reason: format!("did not return within {}", instance::human(deadline)),
            }));
            // The plugin sees only the variables it was granted (env=NAME).
            let input = match self.plugins[i].instance.as_ref() {
                Some(instance) => convert::visible_to(&cmd, |k| instance.sees_env(k)),
                None => cmd.clone(),
            };
            let result = self.call(i, Hook::PreExec, fallback, |p, d| p.pre_exec(&input, d));
            if let Some(instance) = self.plugins[i].instance.as_mut() {
                instance.release_scratch(Some(Hook::PreExec));
            }
            match result {
                Ok(next) => cmd = convert::merge_returned(&cmd, &input, next),
                Err(None) => return None,
                Err(Some(Fault::Error(why))) => {
                    let f = HookFailure {
                        plugin: name,
                        hook: Some(Hook::PreExec),
                        reason: why,
                    };
                    return Some(Reply::PreExec(Err(f)));
                }
                Err(Some(Fault::Crash(why))) => {
                    return Some(Reply::PreExec(Err(HookFailure {
                        plugin: name,
                        hook: Some(Hook::PreExec),
                        reason: why,
                    })));
                }
            }
        }
        self.facts.lock().unwrap_or_else(|e| e.into_inner()).command = Some(cmd.clone());
        Some(Reply::PreExec(Ok(convert::command_from_wit(
            cmd, &originals,
        ))))
    }

    fn on_exit(&mut self, status: super::bindings::wit::ExitStatus) -> Option<Reply> {
        let mut decided = ExitAction::Propagate;
        for i in self.subscribers(Hook::OnExit) {
            let fallback = Reply::OnExit(decided);
            let answer = self.call(i, Hook::OnExit, fallback, |p, d| p.on_exit(status, d));
            match answer {
                Ok(action) => {
                    let action = convert::exit_action_from_wit(action);
                    if decided == ExitAction::Propagate {
                        decided = action;
                    }
                }
                Err(None) => return None,
                Err(Some(_)) => {}
            }
        }
        self.release_scratch(None);
        Some(Reply::OnExit(decided))
    }

    fn on_signal(&mut self, signal: i32) -> Option<Reply> {
        let mut current = signal;
        for i in self.subscribers(Hook::OnSignal) {
            let Ok(sig) = u8::try_from(current) else {
                break;
            };
            let fallback = Reply::OnSignal(SignalAction::Forward(current));
            match self.call(i, Hook::OnSignal, fallback, |p, d| p.on_signal(sig, d)) {
                Ok(action) => match convert::signal_action_from_wit(action, current) {
                    SignalAction::Forward(next) => current = next,
                    SignalAction::Ignore => return Some(Reply::OnSignal(SignalAction::Ignore)),
                },
                Err(None) => return None,
                Err(Some(_)) => {}
            }
        }
        Some(Reply::OnSignal(SignalAction::Forward(current)))
    }
}

fn failure(name: &str, reason: String) -> HookFailure {
    HookFailure {
        plugin: name.to_string(),
        hook: None,
        reason,
    }
}

fn hook_list(subs: [bool; 3]) -> String {
    let names: Vec<&str> = [Hook::PreExec, Hook::OnExit, Hook::OnSignal]
        .iter()
        .zip(subs)
        .filter(|(_, on)| *on)
        .map(|(h, _)| h.name())
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}
