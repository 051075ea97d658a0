//! Deadlines: the state shared by the main thread, the worker and the watchdog thread.
//!
//! The worker announces each guest call (`InFlight`: deadline, what to answer if the call never
//! returns). The watchdog thread sleeps until that deadline; if the call is still running it
//! increments the engine's epoch, which makes a spinning guest trap at once. A guest blocked in
//! a host call (a WASI sleep, a slow download) cannot be interrupted that way: after a short
//! grace the watchdog answers the pending request itself with the default (forward the signal,
//! propagate the exit, fail the pre-exec), reports the plugin in one line, and answers every
//! further request with defaults until the worker comes back. So the main loop always gets an
//! answer within deadline + grace, whatever a plugin does.
//!
//! The watchdog ticks only while a call is in flight: an idle container has no timer wake-ups.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use wasmtime::Engine;

use super::instance::human;
use hookinit_init::plugin_process::Wake;
use hookinit_init::plugin_process::{Hook, HookFailure};
use hookinit_init::plugin_process::{Reply, Request, StartReport};

pub struct Shared {
    state: Mutex<SharedState>,
    /// The worker waits here for requests.
    pub work: Condvar,
    /// The watchdog waits here for calls to watch.
    pub watch: Condvar,
    /// Readable while replies are queued.
    pub wake: Wake,
}

#[derive(Default)]
pub struct SharedState {
    pub requests: VecDeque<Request>,
    pub replies: VecDeque<Reply>,
    pub in_flight: Option<InFlight>,
    /// Set while the worker is stuck in a call the watchdog gave up on: "plugin X (on-signal)".
    pub wedged: Option<(String, Option<Hook>)>,
    pub shutdown: bool,
    /// The start report, while start has not been answered.
    pub start: Option<std::sync::mpsc::Sender<StartReport>>,
    /// What start would report now (kept current by the worker).
    pub start_progress: StartReport,
    /// Failures of hooks since the last `Plugins::take_failures` (each also logged once).
    pub failures: Vec<HookFailure>,
    generation: u64,
}

/// What to do if a call never returns.
pub enum Abandon {
    /// Answer the pending request with this.
    Reply(Reply),
    /// Finish the start report: the plugin failed, the ones after it were not started.
    Start { not_started: Vec<String> },
}

pub struct InFlight {
    generation: u64,
    plugin: String,
    hook: Option<Hook>,
    limit: Duration,
    deadline: Instant,
    grace: Duration,
    interrupted: bool,
    abandoned: bool,
    abandon: Option<Abandon>,
}

impl Shared {
    pub fn new() -> std::io::Result<Arc<Shared>> {
        Ok(Arc::new(Shared {
            state: Mutex::new(SharedState::default()),
            work: Condvar::new(),
            watch: Condvar::new(),
            wake: Wake::new()?,
        }))
    }

    pub fn lock(&self) -> MutexGuard<'_, SharedState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a reply and makes the wake fd readable. Call with the lock held.
    pub fn reply(&self, st: &mut SharedState, reply: Reply) {
        st.replies.push_back(reply);
        self.wake.set();
    }

    /// Takes a reply; drains the eventfd when none is left. Never blocks.
    pub fn take_reply(&self) -> Option<Reply> {
        let mut st = self.lock();
        let reply = st.replies.pop_front();
        if st.replies.is_empty() {
            self.wake.clear();
        }
        reply
    }

    /// Answers `req` with its default, for when the worker is stuck.
    pub fn default_reply(st: &SharedState, req: Request) -> Option<Reply> {
        let (plugin, hook) = st.wedged.clone().unwrap_or_default();
        req.unanswered(|_| {
            Err(HookFailure {
                reason: format!(
                    "not run: the plugin runtime is still blocked by plugin {plugin}{}",
                    hook.map(|h| format!(" in {h}")).unwrap_or_default()
                ),
                plugin,
                hook: Some(Hook::PreExec),
            })
        })
    }

    /// Announces a guest call; returns its generation for [`Shared::end_call`].
    pub fn begin_call(
        &self,
        plugin: &str,
        hook: Option<Hook>,
        limit: Duration,
        abandon: Abandon,
    ) -> u64 {
        let mut st = self.lock();
        st.generation += 1;
        let generation = st.generation;
        st.in_flight = Some(InFlight {
            generation,
            plugin: plugin.to_string(),
            hook,
            limit,
            deadline: Instant::now() + limit,
            grace: (limit / 5).clamp(Duration::from_millis(5), Duration::from_millis(200)),
            interrupted: false,
            abandoned: false,
            abandon: Some(abandon),
        });
        drop(st);
        self.watch.notify_one();
        generation
    }

    /// Ends the call; returns true if the watchdog gave up on it meanwhile (it has answered and
    /// reported; the caller must neither answer nor report again).
    pub fn end_call(&self, generation: u64) -> bool {
        let mut st = self.lock();
        let abandoned = match st.in_flight.take() {
            Some(f) if f.generation == generation => f.abandoned,
            other => {
                st.in_flight = other;
                false
            }
        };
        if abandoned {
            st.wedged = None;
        }
        abandoned
    }
}

/// The watchdog thread's body.
pub fn run(engine: Engine, shared: Arc<Shared>) {
    let mut st = shared.lock();
    loop {
        if st.shutdown {
            return;
        }
        let now = Instant::now();
        let Some(f) = st.in_flight.as_mut() else {
            st = shared.watch.wait(st).unwrap_or_else(|e| e.into_inner());
            continue;
        };
        if f.abandoned {
            st = shared.watch.wait(st).unwrap_or_else(|e| e.into_inner());
            continue;
        }
        if now < f.deadline {
            let wait = f.deadline - now;
            st = shared
                .watch
                .wait_timeout(st, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            continue;
        }
        if !f.interrupted {
            // A spinning guest traps with Trap::Interrupt at its next check.
            engine.increment_epoch();
            f.interrupted = true;
            f.deadline = now + f.grace;
            continue;
        }
        // Still not back after the grace: blocked in a host call. Answer for it.
        f.abandoned = true;
        let abandon = f.abandon.take();
        let (plugin, hook, limit) = (f.plugin.clone(), f.hook, f.limit);
        st.wedged = Some((plugin.clone(), hook));
        if let Some(hook) = hook {
            st.failures.push(HookFailure {
                plugin: plugin.clone(),
                hook: Some(hook),
                reason: format!(
                    "did not return within its deadline of {} (blocked in a host call)",
                    human(limit)
                ),
            });
        }
        // Logged before answering: once the answer is out, the main process may end and PID 1
        // exit, and the report must not be lost with it.
        hookinit_init::error!(
            "plugin {plugin}: {}: did not return within its deadline of {} (blocked in a host \
             call); disabled, default answer used",
            hook.map_or("init", Hook::name),
            human(limit)
        );
        match abandon {
            Some(Abandon::Reply(reply)) => shared.reply(&mut st, reply),
            Some(Abandon::Start { not_started }) => {
                let mut report = std::mem::take(&mut st.start_progress);
                report.failures.push(HookFailure {
                    plugin: plugin.clone(),
                    hook: None,
                    reason: format!("init did not return within {}", human(limit)),
                });
                for name in not_started {
                    report.failures.push(HookFailure {
                        plugin: name,
                        hook: None,
                        reason: format!("not started: plugin {plugin} blocked the runtime"),
                    });
                }
                if let Some(tx) = st.start.take() {
                    let _ = tx.send(report);
                }
            }
            None => {}
        }
        while let Some(req) = st.requests.pop_front() {
            if let Some(reply) = Shared::default_reply(&st, req) {
                shared.reply(&mut st, reply);
            }
        }
    }
}
