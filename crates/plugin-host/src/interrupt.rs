//! Deadlines inside the plugin process: epoch interruption, and nothing else.
//!
//! The worker runs each guest call through [`Interrupter::watch`] with the call's deadline. A
//! thread of its own sleeps until that deadline and, if the call is still running, increments
//! the engine's epoch: a spinning guest traps at its next check (`Trap::Interrupt`, reported as
//! "ran past its deadline") and the chain goes on without it. A guest blocked in a host call (a
//! WASI sleep, a read) cannot be interrupted that way, and nothing here answers for it: PID 1
//! owns the last deadline of every hook and of every `init` and kills the whole plugin process
//! past it (`hookinit_init::plugin_process`), answering with the documented defaults.
//!
//! The thread wakes only at the deadline of a call in flight: an idle container has no timer
//! wake-ups.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use wasmtime::Engine;

/// The worker's handle; dropping it ends the thread.
pub struct Interrupter {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// The deadline of the guest call in flight, until it ends or is interrupted.
    deadline: Option<Instant>,
    shutdown: bool,
}

impl Interrupter {
    /// Starts the thread that interrupts `engine`'s guests.
    pub fn start(engine: Engine) -> std::io::Result<Interrupter> {
        let inner = Arc::new(Inner {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let theirs = inner.clone();
        std::thread::Builder::new()
            .name("hookinit-interrupt".into())
            .spawn(move || {
                super::worker::block_async_signals();
                theirs.run(&engine)
            })?;
        Ok(Interrupter { inner })
    }

    /// Runs `call` (one guest call, its store's epoch deadline armed at the current epoch + 1),
    /// interrupting it if it is still running after `limit`.
    pub fn watch<R>(&self, limit: Duration, call: impl FnOnce() -> R) -> R {
        self.inner.lock().deadline = Some(Instant::now() + limit);
        self.inner.changed.notify_one();
        let result = call();
        self.inner.lock().deadline = None;
        result
    }
}

impl Drop for Interrupter {
    fn drop(&mut self) {
        self.inner.lock().shutdown = true;
        self.inner.changed.notify_one();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self, engine: &Engine) {
        let mut st = self.lock();
        while !st.shutdown {
            let now = Instant::now();
            st = match st.deadline {
                None => self.changed.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) if now < deadline => {
                    let waited = self.changed.wait_timeout(st, deadline - now);
                    waited.unwrap_or_else(|e| e.into_inner()).0
                }
                Some(_) => {
                    // Under the lock: the call that passed its deadline is the one still in
                    // flight, so the next call (which arms its deadline after this) is not hit.
                    engine.increment_epoch();
                    st.deadline = None;
                    st
                }
            };
        }
    }
}
