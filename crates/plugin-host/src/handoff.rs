//! What the relay thread and the worker hand each other: requests one way, replies (and the hook
//! failures behind them) the other, and the start's steps and report.
//!
//! The relay thread (the plugin process's main thread, or a test) never waits on the worker: it
//! queues a request and polls [`Shared::wake`] for the reply.

use std::collections::VecDeque;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use hookinit_init::plugin_process::Wake;
use hookinit_init::plugin_process::{HookFailure, Reply, Request, StartReport, StartStep};

pub struct Shared {
    state: Mutex<SharedState>,
    /// The worker waits here for requests.
    pub work: Condvar,
    /// Readable while replies are queued.
    pub wake: Wake,
}

#[derive(Default)]
pub struct SharedState {
    pub requests: VecDeque<Request>,
    pub replies: VecDeque<Reply>,
    pub shutdown: bool,
    /// Failures of hooks since the last `Plugins::take_failures` (each also logged once).
    pub failures: Vec<HookFailure>,
}

/// What the worker says while it starts the plugins.
pub enum StartEvent {
    Step(StartStep),
    Done(StartReport),
    /// The runtime itself could not start (no engine, no thread): why.
    Failed(String),
}

/// Where the worker sends its [`StartEvent`]s.
pub type StartEvents = Sender<StartEvent>;

impl Shared {
    pub fn new() -> std::io::Result<Arc<Shared>> {
        Ok(Arc::new(Shared {
            state: Mutex::new(SharedState::default()),
            work: Condvar::new(),
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
}
