//! The plugin runtime as its caller sees it (the plugin process's relay loop, `hookinit plugin
//! check`, the runtime tests): [`Plugins`], a handle to one worker thread that owns every piece
//! of wasmtime state. The caller sends [`Request`]s (never blocks) and polls
//! [`Plugins::wake_fd`] for [`Reply`]s.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use super::handoff::{Shared, StartEvent};
use super::sandbox::Limits;
use super::worker;
use hookinit_init::config::plan::PluginSpec;
use hookinit_init::plugin_process::{
    Hook, HookFailure, PluginFailure, Reply, Request, StartReport, StartStep,
};

/// The running plugins. Dropping it stops the worker (once it is idle) and waits for it.
pub struct Plugins {
    shared: Arc<Shared>,
    /// Joined on drop, so that every plugin's store and scratch directory is gone after it.
    worker: Option<std::thread::JoinHandle<()>>,
    facts: super::host_api::SharedFacts,
    report: StartReport,
}

impl Plugins {
    /// Loads (from the binary, the cache, or by compiling), instantiates and initialises every
    /// plugin, on the worker thread; blocks until they are ready. Each failure is logged as one
    /// line and returned; the plugins that initialised are running. Errors only if the runtime
    /// itself cannot start (no thread, no engine).
    pub fn start(specs: &[PluginSpec]) -> anyhow::Result<(Plugins, Vec<PluginFailure>)> {
        Plugins::start_with(specs, Limits::default())
    }

    /// [`Plugins::start`] with other limits (tests, benchmarks).
    pub fn start_with(
        specs: &[PluginSpec],
        limits: Limits,
    ) -> anyhow::Result<(Plugins, Vec<PluginFailure>)> {
        Plugins::start_reporting(specs, limits, |_| {})
    }

    /// [`Plugins::start_with`], telling `step` where the start stands as it goes: the plugin
    /// process passes each step on to PID 1, which owns the start's deadlines.
    pub fn start_reporting(
        specs: &[PluginSpec],
        limits: Limits,
        mut step: impl FnMut(StartStep),
    ) -> anyhow::Result<(Plugins, Vec<PluginFailure>)> {
        let shared = Shared::new()?;
        let facts = super::host_api::SharedFacts::default();
        if specs.is_empty() {
            let plugins = Plugins {
                shared,
                worker: None,
                facts,
                report: StartReport::default(),
            };
            return Ok((plugins, Vec::new()));
        }
        let (tx, rx) = mpsc::channel();
        let worker = {
            let (shared, facts, specs) = (shared.clone(), facts.clone(), specs.to_vec());
            std::thread::Builder::new()
                .name("hookinit-plugins".into())
                .spawn(move || worker::run(specs, limits, shared, facts, tx))?
        };
        let report = loop {
            match rx.recv() {
                Ok(StartEvent::Step(s)) => step(s),
                Ok(StartEvent::Done(report)) => break report,
                Ok(StartEvent::Failed(e)) => anyhow::bail!("cannot start the plugin runtime: {e}"),
                Err(_) => anyhow::bail!("the plugin runtime stopped while starting"),
            }
        };
        let failures = report.failures.clone();
        Ok((
            Plugins {
                shared,
                worker: Some(worker),
                facts,
                report,
            },
            failures,
        ))
    }

    /// Whether some running plugin subscribed to `hook` (if none did, don't ask: act directly).
    pub fn subscribed(&self, hook: Hook) -> bool {
        self.report.subscribed(hook)
    }

    /// The plugins that initialised, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.report.names()
    }

    /// What start reported: the plugins that initialised, and the failures.
    pub fn report(&self) -> &StartReport {
        &self.report
    }

    /// Sends a request; never blocks. The reply comes through [`Plugins::try_reply`] when
    /// [`Plugins::wake_fd`] is readable.
    pub fn request(&self, req: Request) {
        match &req {
            Request::SetMainPid(pid) | Request::OnExit { pid, .. } => {
                self.facts.lock().unwrap_or_else(|e| e.into_inner()).pid = Some(*pid);
                if matches!(req, Request::SetMainPid(_)) {
                    return;
                }
            }
            _ => {}
        }
        let mut st = self.shared.lock();
        if self.report.plugins.is_empty() {
            // No plugin to ask: the defaults.
            if let Some(reply) = req.unanswered(Ok) {
                self.shared.reply(&mut st, reply);
            }
            return;
        }
        st.requests.push_back(req);
        drop(st);
        self.shared.work.notify_one();
    }

    /// The hook failures (each already logged as one line) since the last call: plugins that
    /// trapped, ran past a deadline, ran out of memory or returned an error.
    pub fn take_failures(&self) -> Vec<HookFailure> {
        std::mem::take(&mut self.shared.lock().failures)
    }

    /// Readable while a reply is waiting (an eventfd; poll it with the signalfd).
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.shared.wake.as_fd()
    }

    /// The next reply, if one is ready. Never blocks.
    pub fn try_reply(&self) -> Option<Reply> {
        self.shared.take_reply()
    }

    /// Waits up to `timeout` for the next reply (polls the wake fd). For callers that have
    /// nothing else to do meanwhile, such as tests and the pre-exec step before the spawn.
    pub fn wait_reply(&self, timeout: Duration) -> Option<Reply> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(reply) = self.try_reply() {
                return Some(reply);
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let mut fds = [nix::poll::PollFd::new(
                self.wake_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
            let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
        }
    }
}

impl Drop for Plugins {
    /// Waits for the worker to finish the hook it runs (a spinning one is interrupted at its
    /// deadline; PID 1 kills a process that takes longer) and to drop every plugin.
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.work.notify_all();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}
