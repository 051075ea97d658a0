//! The plugin runtime in a process of its own: what the init's main loop talks to.
//!
//! PID 1 forks once, while it still has a single thread, and the child runs the plugin runtime
//! (a [`Runtime`] the binary supplies: worker and interrupt threads, every wasmtime object). The
//! two talk over a socket pair (`wire.rs`). Whatever goes wrong in the runtime, a panic (the shipped build aborts on panic),
//! a crash in native code, memory exhaustion, ends that process and not the init: the init logs
//! one line, answers what was pending with the defaults, and carries on without plugins.
//!
//! The child is a fork without exec: it shares the init's binary pages, and it starts before any
//! thread or wasmtime state exists, so nothing is half-held across the fork. It dies with its
//! parent (parent-death signal) and ends by itself when the init closes the socket.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{ForkResult, Pid};

use super::Runtime;
use super::messages::{Reply, Request, StartReport, StartStep};
use super::types::{Hook, HookFailure, PluginFailure};
use super::wake::Wake;
use super::wire::{self, FromRuntime, Inbox};
use crate::config::plan::PluginSpec;

/// How long the init lets a write to the plugin process block (its socket buffer full): the
/// process reads on a thread of its own that never runs plugin code, so only a wedged or frozen
/// process takes that long, and it is then treated as lost.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// The plugin process's pid while it has not been reaped (0: none). Only the init's main thread
/// touches it: the reaper clears it, and nothing signals a pid after that (it may be reused).
static PROCESS: AtomicI32 = AtomicI32::new(0);

/// How the plugin process ended, as the reaper saw it ("was killed by SIGKILL (status 137)"),
/// for the line that reports a failed start.
static END: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Where the plugin process stands, so that its loss is reported in exactly one line: while
/// starting, by the start's failure; once running, by the reaper (who knows how it ended) or,
/// for a process that misbehaved, by the init's side of the socket.
static PHASE: AtomicU8 = AtomicU8::new(STARTING);
const STARTING: u8 = 0;
const RUNNING: u8 = 1;
const REPORTED: u8 = 2;

/// For the reaper: the plugin process it just reaped ended as `how` (not a clean exit). Logs
/// the one line about it if the plugins were running and nobody said so yet.
pub fn note_end(pid: Pid, how: String) {
    if PHASE
        .compare_exchange(RUNNING, REPORTED, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
    {
        report_loss(pid, &how);
    }
    if let Ok(mut end) = END.lock() {
        *end = Some(how);
    }
}

/// "ended", or how, if the reaper already knows.
fn how_it_ended() -> String {
    END.lock()
        .ok()
        .and_then(|mut end| end.take())
        .unwrap_or_else(|| "ended".to_owned())
}

fn report_loss(pid: Pid, how: &str) {
    crate::error!(
        "the plugin process {pid} {how}; plugins are off from here on (the main process and signal forwarding carry on)"
    );
}

/// Whether the plugin process has not been reaped yet.
pub fn is_running() -> bool {
    PROCESS.load(Ordering::Relaxed) != 0
}

/// SIGKILL to the plugin process, if it has not been reaped (PID 1 is leaving and will not wait
/// for it any longer).
pub fn kill_process() {
    PHASE.store(REPORTED, Ordering::Relaxed);
    let pid = PROCESS.load(Ordering::Relaxed);
    if pid != 0 {
        kill_unless_reaped(Pid::from_raw(pid));
    }
}

/// For the reaper: whether the child it just reaped, `pid`, was the plugin process (then it says
/// how that ended instead of "zombie", and the pid is forgotten).
pub fn reaped_plugin_process(pid: Pid) -> bool {
    pid.as_raw() != 0
        && PROCESS
            .compare_exchange(pid.as_raw(), 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// The running plugins, in their own process. Dropping it ends that process.
pub struct IsolatedPlugins {
    pid: Pid,
    socket: UnixStream,
    /// Readable while `ready` has replies (received, or made up after the process was lost).
    wake: Wake,
    report: StartReport,
    state: RefCell<State>,
}

struct State {
    inbox: Inbox,
    ready: VecDeque<Reply>,
    /// For each request sent and not yet answered, oldest first: its answer if the process is
    /// lost.
    pending: VecDeque<Reply>,
    failures: Vec<HookFailure>,
    alive: bool,
}

impl IsolatedPlugins {
    /// Forks the plugin process, which then loads and initialises every plugin. Returns at once:
    /// the init's loop polls [`Starting::fd`] beside its signals, so that a stop is answered
    /// while plugins download or compile. Call it while the process has one thread (the fork
    /// copies only the calling thread). The child runs `runtime`.
    pub fn spawn(specs: &[PluginSpec], runtime: Runtime) -> anyhow::Result<Starting> {
        if let Some(n) = thread_count().filter(|&n| n > 1) {
            anyhow::bail!("cannot fork the plugin process: hookinit already runs {n} threads");
        }
        let (socket, theirs) = UnixStream::pair()
            .map_err(|e| anyhow::anyhow!("cannot make the plugin process's socket: {e}"))?;
        let parent = Pid::this();
        // SAFETY: the process is single-threaded (checked above), so the child's copy of the
        // address space has no lock held by a thread that does not exist there.
        match unsafe { nix::unistd::fork() } {
            Err(e) => anyhow::bail!("cannot fork the plugin process: {e}"),
            Ok(ForkResult::Child) => {
                drop(socket);
                std::process::exit(child_main(theirs, parent, specs, runtime));
            }
            Ok(ForkResult::Parent { child }) => {
                drop(theirs);
                PROCESS.store(child.as_raw(), Ordering::Relaxed);
                PHASE.store(STARTING, Ordering::Relaxed);
                Ok(Starting {
                    pid: child,
                    socket,
                    inbox: Inbox::default(),
                    step: None,
                })
            }
        }
    }

    /// Whether some running plugin subscribed to `hook` (if none did, don't ask: act directly).
    pub fn subscribed(&self, hook: Hook) -> bool {
        self.report.subscribed(hook)
    }

    /// Sends a request. Blocks only while the process's socket buffer is full, at most
    /// `SEND_TIMEOUT`; the reply comes through [`IsolatedPlugins::try_reply`].
    pub fn request(&self, req: Request) {
        let mut st = self.state.borrow_mut();
        if !st.alive {
            if let Some(reply) = self.unanswered(req) {
                st.ready.push_back(reply);
                self.wake.set();
            }
            return;
        }
        let sent = wire::send(&mut &self.socket, &req);
        if let Some(fallback) = self.unanswered(req) {
            st.pending.push_back(fallback);
        }
        if let Err(e) = sent {
            self.lost(&mut st, Some(&format!("did not take a request ({e})")));
        }
    }

    /// PID 1's deadline for a hook passed: the process is killed, what it owed is answered with
    /// the defaults, and plugins are off from here on; `why` is the one line that says so.
    pub fn give_up(&self, why: &str) {
        let mut st = self.state.borrow_mut();
        self.lost(&mut st, Some(why));
    }

    /// The hook failures (each already logged as one line) since the last call.
    pub fn take_failures(&self) -> Vec<HookFailure> {
        std::mem::take(&mut self.state.borrow_mut().failures)
    }

    /// PID 1 is leaving: says so to the process (its socket's end of writing), which then removes
    /// its plugins' scratch directories and closes the socket. Returns the fd to poll until
    /// [`IsolatedPlugins::has_left`].
    pub fn ask_to_leave(&self) -> BorrowedFd<'_> {
        let _ = self.socket.shutdown(std::net::Shutdown::Write);
        self.socket.as_fd()
    }

    /// Whether the process closed its socket (done with its cleanup) or is gone. Never blocks.
    pub fn has_left(&self) -> bool {
        let mut inbox = Inbox::default();
        !is_running()
            || !matches!(
                receive_available(&self.socket, &mut inbox),
                Ok(Received::Open)
            )
    }

    /// Readable while a reply is waiting: the socket, or the wake fd once replies are queued here
    /// (or the process is gone, so that a closed socket does not keep poll(2) spinning).
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        let st = self.state.borrow();
        if st.alive && st.ready.is_empty() {
            self.socket.as_fd()
        } else {
            self.wake.as_fd()
        }
    }

    /// The next reply, if one is ready. Never blocks.
    pub fn try_reply(&self) -> Option<Reply> {
        let mut st = self.state.borrow_mut();
        if st.ready.is_empty() && st.alive {
            self.receive(&mut st);
        }
        let reply = st.ready.pop_front();
        if st.ready.is_empty() {
            self.wake.clear();
        }
        reply
    }

    /// Reads what the socket has and queues the replies in it.
    fn receive(&self, st: &mut State) {
        match receive_available(&self.socket, &mut st.inbox) {
            Ok(Received::Open) => {}
            Ok(Received::Closed) => return self.lost(st, None),
            Err(e) => return self.lost(st, Some(&format!("could not be read from ({e})"))),
        }
        loop {
            match st.inbox.next_message::<FromRuntime>() {
                Ok(None) => return,
                Ok(Some(FromRuntime::Reply { reply, failures })) => {
                    st.pending.pop_front();
                    st.failures.extend(failures);
                    st.ready.push_back(reply);
                }
                Ok(Some(other)) => return self.lost(st, Some(&format!("sent {other:?}"))),
                Err(e) => return self.lost(st, Some(&format!("sent a corrupt message ({e})"))),
            }
        }
    }

    /// The process is gone (or useless): say so once, answer what it owed, and from now on
    /// answer every request with the defaults (signals forwarded, exits propagated).
    /// `what` went wrong, or `None` when the process ended.
    fn lost(&self, st: &mut State, what: Option<&str>) {
        if !st.alive {
            return;
        }
        st.alive = false;
        // An end of stream is the process's death, which the reaper reports with its cause;
        // anything else is said here (once).
        if let Some(what) = what
            && PHASE.swap(REPORTED, Ordering::Relaxed) != REPORTED
        {
            report_loss(self.pid, what);
        }
        // Dead already, or no longer to be trusted; the reaper collects it.
        kill_unless_reaped(self.pid);
        let owed = std::mem::take(&mut st.pending);
        if !owed.is_empty() {
            st.ready.extend(owed);
            self.wake.set();
        }
    }

    /// What `req` gets if the process cannot answer it.
    fn unanswered(&self, req: Request) -> Option<Reply> {
        req.unanswered(|_| {
            Err(HookFailure {
                plugin: self.report.names().collect::<Vec<_>>().join(", "),
                hook: Some(Hook::PreExec),
                reason: "not run to the end: the plugin process ended".to_string(),
            })
        })
    }
}

/// The plugin process while it loads its plugins (downloads, compiles, `init`s).
pub struct Starting {
    pid: Pid,
    socket: UnixStream,
    inbox: Inbox,
    /// What it said it does now, and since when.
    step: Option<(StartStep, Instant)>,
}

/// Where a start stands after the process was heard from.
pub enum Progress {
    Waiting(Starting),
    /// Running; each plugin that failed to load was logged as one line and is left out.
    Ready(IsolatedPlugins, Vec<PluginFailure>),
    /// The runtime could not start, or its process ended or misbehaved (it is killed).
    Failed(anyhow::Error),
}

impl Starting {
    /// Readable when the process has said something (or ended).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// The plugin whose `init` runs now, and when PID 1 stops waiting for it: its deadline (the
    /// plugin process interrupts a spinning `init` at that) plus `margin` (for one blocked in a
    /// host call, which only a kill ends). `None` while a plugin loads: the start's own deadline
    /// bounds downloads and compiles.
    pub fn init_deadline(&self, margin: Duration) -> Option<(&str, Duration, Instant)> {
        match &self.step {
            Some((StartStep::Initialising { plugin, within }, since)) => {
                Some((plugin.as_str(), *within, *since + *within + margin))
            }
            _ => None,
        }
    }

    /// Reads what the process sent. Never blocks.
    pub fn progress(mut self) -> Progress {
        let closed = match receive_available(&self.socket, &mut self.inbox) {
            Ok(received) => received == Received::Closed,
            Err(e) => {
                return self.fail(format!(
                    "the plugin process could not be heard while starting: {e}"
                ));
            }
        };
        let report = loop {
            match self.inbox.next_message::<FromRuntime>() {
                Ok(Some(FromRuntime::Step(step))) => self.step = Some((step, Instant::now())),
                other => break other,
            }
        };
        let report = match report {
            Ok(Some(FromRuntime::Started(Ok(report)))) => report,
            Ok(Some(FromRuntime::Started(Err(e)))) => {
                return self.fail(format!("cannot start the plugin runtime: {e}"));
            }
            Ok(Some(other)) => {
                return self.fail(format!(
                    "the plugin process answered {other:?} before starting"
                ));
            }
            Ok(None) if closed => {
                return self.fail(format!(
                    "the plugin process {} while starting",
                    how_it_ended()
                ));
            }
            Ok(None) => return Progress::Waiting(self),
            Err(e) => return self.fail(format!("the plugin process sent a corrupt message ({e})")),
        };
        if let Err(e) = self.socket.set_write_timeout(Some(SEND_TIMEOUT)) {
            return self.fail(format!("cannot set up the plugin process's socket: {e}"));
        }
        let wake = match Wake::new() {
            Ok(wake) => wake,
            Err(e) => return self.fail(format!("cannot make the plugin wake-up fd: {e}")),
        };
        let failures = report.failures.clone();
        let plugins = IsolatedPlugins {
            pid: self.pid,
            socket: self.socket,
            wake,
            report,
            state: RefCell::new(State {
                inbox: self.inbox,
                ready: VecDeque::new(),
                pending: VecDeque::new(),
                failures: Vec::new(),
                alive: true,
            }),
        };
        PHASE.store(RUNNING, Ordering::Relaxed);
        Progress::Ready(plugins, failures)
    }

    /// Gives up on the start (a stop request, or PID 1's deadline): the process is killed.
    pub fn abandon(self) {
        PHASE.store(REPORTED, Ordering::Relaxed);
        kill_unless_reaped(self.pid);
    }

    fn fail(self, why: String) -> Progress {
        PHASE.store(REPORTED, Ordering::Relaxed);
        kill_unless_reaped(self.pid);
        Progress::Failed(anyhow::anyhow!(why))
    }
}

/// SIGKILL to the plugin process, unless the reaper already collected it (its pid may belong to
/// another process by then).
fn kill_unless_reaped(pid: Pid) {
    if PROCESS.load(Ordering::Relaxed) == pid.as_raw() {
        let _ = kill(pid, Signal::SIGKILL);
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Received {
    Open,
    Closed,
}

/// Moves what the socket holds into `inbox` without blocking; `Closed` at end of stream.
fn receive_available(socket: &UnixStream, inbox: &mut Inbox) -> io::Result<Received> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // SAFETY: recv(2) into a buffer we own, with its length; MSG_DONTWAIT makes this one
        // call non-blocking while writes keep their timeout.
        let n = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                chunk.as_mut_ptr().cast(),
                chunk.len(),
                libc::MSG_DONTWAIT,
            )
        };
        match n {
            0 => return Ok(Received::Closed),
            n if n > 0 => inbox.push(&chunk[..n as usize]),
            _ => match io::Error::last_os_error() {
                e if e.kind() == io::ErrorKind::Interrupted => continue,
                e if e.kind() == io::ErrorKind::WouldBlock => return Ok(Received::Open),
                e => return Err(e),
            },
        }
    }
}

/// The plugin process: set up as a helper of PID 1, then the runtime's own work. Returns its
/// exit status.
fn child_main(socket: UnixStream, parent: Pid, specs: &[PluginSpec], runtime: Runtime) -> i32 {
    // Gone with the init, even if it was killed (checked after setting: it may be gone already).
    if nix::sys::prctl::set_pdeathsig(Some(Signal::SIGKILL)).is_err()
        || nix::unistd::getppid() != parent
    {
        return 1;
    }
    let _ = nix::sys::prctl::set_name(c"hookinit-plugin");
    // A crash of the runtime must not drop a core file into the container's working directory;
    // its panic message (on stderr) and the init's line say what happened.
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_CORE) {
        let _ = setrlimit(Resource::RLIMIT_CORE, 0, hard);
    }
    runtime(socket, specs)
}

/// How many threads this process runs (`None` if /proc cannot tell).
fn thread_count() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/task").ok()?.count())
}
