//! The supervisor's side of the plugin conversation: starting the runtime only when the plan has
//! plugins, and the bookkeeping that keeps signals flowing while on-signal hooks decide.
//!
//! The runtime answers every request, in order, within the hook's deadline when its plugins spin
//! (it interrupts them); a plugin blocked in a host call is not interrupted there. PID 1 owns
//! the last deadline: a request left unanswered past the hook's deadline and a margin makes it
//! kill the plugin process, whose owed replies then come back as the defaults (signals
//! forwarded, in order): no signal is lost.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::plan::Plan;
use crate::plugin_process::{Hook, IsolatedPlugins, Request};

/// How long past the runtime's own deadline the supervisor waits before it stops trusting it.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(2);

/// How long PID 1 lets the plugin process load its plugins (downloads and compiles included)
/// before it kills that process and goes on as if the runtime could not start. Signals are
/// answered meanwhile: a stop ends the start at once.
pub const START_DEADLINE: Duration = Duration::from_secs(600);

/// The running plugins, if any, and the signals waiting for their on-signal verdict.
pub struct Hooks {
    pub plugins: Option<IsolatedPlugins>,
    /// Why the main process must not start: the runtime could not start, and a plugin the
    /// start depends on (fstree) was in the plan.
    pub start_blocked: Option<String>,
    /// Signals received (as rewritten by `-r`) and not yet decided, oldest first.
    queued: VecDeque<(i32, i32)>,
    /// The signal whose verdict is being computed, and when it was asked for.
    in_flight: Option<((i32, i32), Instant)>,
}

impl Hooks {
    /// No plugins (before the plan is acted on, or when it has none).
    pub fn start_none() -> Hooks {
        Hooks {
            plugins: None,
            start_blocked: None,
            queued: VecDeque::new(),
            in_flight: None,
        }
    }

    /// The plugin process started: its plugins run from now on.
    pub fn running(plugins: IsolatedPlugins) -> Hooks {
        Hooks {
            plugins: Some(plugins),
            ..Hooks::start_none()
        }
    }

    /// The runtime could not start: the main process starts without plugins, unless one that
    /// the start depends on was planned ([`Hooks::start_blocked`]).
    pub fn not_started(plan: &Plan, err: anyhow::Error) -> Hooks {
        let mut hooks = Hooks::start_none();
        match plan.plugins.iter().find(|p| p.required) {
            Some(needed) => {
                hooks.start_blocked = Some(format!(
                    "plugin {}: could not be loaded: {err}",
                    needed.name
                ));
            }
            None => crate::error!("{err}; continuing without plugins"),
        }
        hooks
    }

    pub fn wants(&self, hook: Hook) -> bool {
        self.plugins.as_ref().is_some_and(|p| p.subscribed(hook))
    }

    /// Whether a received signal must wait for on-signal hooks.
    pub fn screens_signals(&self) -> bool {
        self.wants(Hook::OnSignal)
    }

    /// Queues a signal for the on-signal hooks and asks about it if nothing else is asked.
    pub fn queue_signal(&mut self, received: i32, rewritten: i32) {
        self.queued.push_back((received, rewritten));
        self.ask_next();
    }

    fn ask_next(&mut self) {
        if self.in_flight.is_some() {
            return;
        }
        if let (Some(next), Some(plugins)) = (self.queued.pop_front(), &self.plugins) {
            plugins.request(Request::OnSignal(next.1));
            self.in_flight = Some((next, Instant::now()));
        }
    }

    /// The on-signal verdict arrived: returns the signal it was about and asks about the next.
    pub fn signal_answered(&mut self) -> Option<(i32, i32)> {
        let answered = self.in_flight.take().map(|(sig, _)| sig);
        self.ask_next();
        answered
    }

    /// When the in-flight question becomes overdue.
    pub fn deadline(&self, limit: Duration) -> Option<Instant> {
        self.in_flight
            .map(|(_, asked)| asked + limit + SAFETY_MARGIN)
    }

    /// Signals still queued when the main process is gone have no one to go to. (A verdict
    /// still in flight arrives later and is ignored.)
    pub fn drop_queued(&mut self) -> usize {
        let n = self.queued.len();
        self.queued.clear();
        n
    }
}
