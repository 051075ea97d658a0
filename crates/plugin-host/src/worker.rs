//! The worker thread: owns the Engine, the Linker and every plugin's Store; loads the plugins,
//! then serves requests one at a time, each guest call under the [`Interrupter`]'s deadline.
//!
//! A plugin that traps, runs out of time or memory is reported in one line and dropped (its
//! Store freed); the chain goes on without it.

use std::time::Instant;

use wasmtime::Engine;

use super::cache::Cache;
use super::convert::{self, Originals};
use super::engine;
use super::handoff::{Shared, StartEvent, StartEvents};
use super::host_api::SharedFacts;
use super::instance::{self, Fault, PluginInstance};
use super::interrupt::Interrupter;
use super::linker::HostLinker;
use super::load::{self, Origin};
use super::sandbox::{Limits, Sandbox};
use hookinit_init::config::plan::PluginSpec;
use hookinit_init::plugin_process::{ExitAction, Hook, HookFailure, SignalAction};
use hookinit_init::plugin_process::{Reply, Request, StartReport, StartStep};
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
    /// A required plugin (fstree, `plugin=...,required`) that failed to load: the pre-exec chain
    /// fails with this reason, so the main process does not start without it.
    failed_start: Option<String>,
}

struct Worker {
    shared: Arc<Shared>,
    interrupter: Interrupter,
    events: StartEvents,
    facts: SharedFacts,
    limits: Limits,
    plugins: Vec<Slot>,
}

pub fn run(
    specs: Vec<PluginSpec>,
    limits: Limits,
    shared: Arc<Shared>,
    facts: SharedFacts,
    events: StartEvents,
) {
    block_async_signals();
    // wasmtime-wasi's sync bindings run their futures on the tokio runtime they find entered
    // (`Handle::block_on`); without one they build one with a thread per core. A current-thread
    // runtime does not do: only `Runtime::block_on` drives its timers, so a guest's sleep never
    // ended. One worker thread drives them.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("hookinit-tokio")
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = events.send(StartEvent::Failed(format!("tokio runtime: {e}")));
            return;
        }
    };
    let _entered = rt.enter();
    let engine = match engine::engine(TARGET) {
        Ok(engine) => engine,
        Err(e) => {
            let _ = events.send(StartEvent::Failed(format!("wasmtime engine: {e}")));
            return;
        }
    };
    let interrupter = match Interrupter::start(engine.clone()) {
        Ok(interrupter) => interrupter,
        Err(e) => {
            let _ = events.send(StartEvent::Failed(format!("interrupt thread: {e}")));
            return;
        }
    };
    let mut worker = Worker {
        shared,
        interrupter,
        events,
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
        let mut report = StartReport::default();
        let mut linker = match HostLinker::new(engine) {
            Ok(l) => l,
            Err(e) => {
                report.failures = specs
                    .iter()
                    .map(|s| failure(&s.name, format!("cannot link host functions: {e}")))
                    .collect();
                let _ = self.events.send(StartEvent::Done(report));
                return;
            }
        };
        for spec in specs {
            let started = Instant::now();
            self.step(StartStep::Loading(spec.name.clone()));
            let prepared = load::load(engine, spec, &cache).and_then(|loaded| {
                let pre = instance::prepare(engine, &mut linker, &loaded.component)?;
                let sandbox = Sandbox::new(spec)?;
                Ok((pre, sandbox, loaded.origin))
            });
            let (pre, sandbox, origin) = match prepared {
                Ok(p) => p,
                Err(why) => {
                    self.start_failure(&mut report, spec, why);
                    continue;
                }
            };
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
            self.step(StartStep::Initialising {
                plugin: spec.name.clone(),
                within: self.limits.init,
            });
            let result = self.interrupter.watch(self.limits.init, || {
                PluginInstance::start(
                    engine,
                    &pre,
                    sandbox,
                    self.facts.clone(),
                    &self.limits,
                    &spec.config,
                )
            });
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
                    report.plugins.push((spec.name.clone(), subs));
                    let mut limits = self.limits.clone();
                    limits.pre_exec = spec.pre_exec_deadline.unwrap_or(limits.pre_exec);
                    self.plugins.push(Slot {
                        name: spec.name.clone(),
                        instance: Some(instance),
                        limits,
                        failed_start: None,
                    });
                }
                Err(Fault::Error(why)) | Err(Fault::Crash(why)) => {
                    self.start_failure(&mut report, spec, why)
                }
            }
        }
        let _ = self.events.send(StartEvent::Done(report));
    }

    /// Tells the starter (and through it PID 1) where the start stands.
    fn step(&self, step: StartStep) {
        let _ = self.events.send(StartEvent::Step(step));
    }

    fn start_failure(&mut self, report: &mut StartReport, spec: &PluginSpec, why: String) {
        let f = failure(&spec.name, why);
        report.failures.push(f.clone());
        if !spec.required {
            hookinit_init::error!("{f}");
        } else {
            // Its pre-exec "runs" and fails, which stops the start and says why in one line.
            report
                .plugins
                .push((spec.name.clone(), [true, false, false]));
            self.plugins.push(Slot {
                name: spec.name.clone(),
                instance: None,
                limits: self.limits.clone(),
                failed_start: Some(f.reason),
            });
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

    /// Runs one request's hook chain. `None` for a request that wants no answer.
    fn handle(&mut self, req: Request) -> Option<Reply> {
        match req {
            Request::PreExec(spec) => Some(self.pre_exec(spec)),
            Request::OnExit { status, .. } => Some(self.on_exit(convert::exit_to_wit(status))),
            Request::OnSignal(signal) => Some(self.on_signal(signal)),
            Request::SetMainPid(_) => None,
        }
    }

    /// Calls `f` on plugin `i`, interrupted at the hook's deadline. A failure is logged (except
    /// pre-exec's: the line that stops the start says why) and kept for the reply.
    fn call<R>(
        &mut self,
        i: usize,
        hook: Hook,
        f: impl FnOnce(&mut PluginInstance, std::time::Duration) -> Result<R, Fault>,
    ) -> Result<R, Fault> {
        let slot = &mut self.plugins[i];
        let limit = slot.limits.deadline(hook);
        let Some(instance) = slot.instance.as_mut() else {
            return Err(Fault::Crash(String::new()));
        };
        let result = self.interrupter.watch(limit, || f(instance, limit));
        let (Err(Fault::Crash(why)) | Err(Fault::Error(why))) = &result else {
            return result;
        };
        if hook != Hook::PreExec {
            let disabled = if matches!(result, Err(Fault::Crash(_))) {
                "; disabled"
            } else {
                ""
            };
            hookinit_init::error!("plugin {}: {hook}: {why}{disabled}", slot.name);
        }
        self.shared.lock().failures.push(HookFailure {
            plugin: slot.name.clone(),
            hook: Some(hook),
            reason: why.clone(),
        });
        if matches!(result, Err(Fault::Crash(_))) {
            slot.instance = None;
        }
        result
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

    fn pre_exec(&mut self, spec: hookinit_init::plugin_process::CommandSpec) -> Reply {
        let reply = self.pre_exec_chain(spec);
        if matches!(reply, Reply::PreExec(Err(_))) {
            // The main process will not run: no scratch directory is needed any more.
            self.release_scratch();
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

    fn release_scratch(&mut self) {
        for slot in &mut self.plugins {
            if let Some(instance) = slot.instance.as_mut() {
                instance.release_scratch();
            }
        }
    }

    fn pre_exec_chain(&mut self, spec: hookinit_init::plugin_process::CommandSpec) -> Reply {
        let mut originals = Originals::default();
        let mut cmd = convert::command_to_wit(&spec, &mut originals);
        let subscribers = self.subscribers(Hook::PreExec);
        for i in 0..self.plugins.len() {
            let name = self.plugins[i].name.clone();
            let stop = |reason| {
                Reply::PreExec(Err(HookFailure {
                    plugin: name.clone(),
                    hook: Some(Hook::PreExec),
                    reason,
                }))
            };
            if let Some(why) = &self.plugins[i].failed_start {
                return stop(format!("could not be loaded: {why}"));
            }
            if !subscribers.contains(&i) {
                continue;
            }
            // The plugin sees only the variables it was granted (env=NAME).
            let input = match self.plugins[i].instance.as_ref() {
                Some(instance) => convert::visible_to(&cmd, |k| instance.sees_env(k)),
                None => cmd.clone(),
            };
            let result = self.call(i, Hook::PreExec, |p, d| p.pre_exec(&input, d));
            match result {
                Ok(next) => cmd = convert::merge_returned(&cmd, &input, next),
                Err(Fault::Error(why)) | Err(Fault::Crash(why)) => return stop(why),
            }
        }
        self.facts.lock().unwrap_or_else(|e| e.into_inner()).command = Some(cmd.clone());
        Reply::PreExec(Ok(convert::command_from_wit(cmd, &originals)))
    }

    fn on_exit(&mut self, status: super::bindings::wit::ExitStatus) -> Reply {
        let mut decided = ExitAction::Propagate;
        for i in self.subscribers(Hook::OnExit) {
            if let Ok(action) = self.call(i, Hook::OnExit, |p, d| p.on_exit(status, d)) {
                let action = convert::exit_action_from_wit(action);
                if decided == ExitAction::Propagate {
                    decided = action;
                }
            }
        }
        Reply::OnExit(decided)
    }

    fn on_signal(&mut self, signal: i32) -> Reply {
        let mut current = signal;
        for i in self.subscribers(Hook::OnSignal) {
            let Ok(sig) = u8::try_from(current) else {
                break;
            };
            if let Ok(action) = self.call(i, Hook::OnSignal, |p, d| p.on_signal(sig, d)) {
                match convert::signal_action_from_wit(action, current) {
                    SignalAction::Forward(next) => current = next,
                    SignalAction::Ignore => return Reply::OnSignal(SignalAction::Ignore),
                }
            }
        }
        Reply::OnSignal(SignalAction::Forward(current))
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
