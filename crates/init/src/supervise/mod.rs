//! Supervision: run the pre-exec hooks, spawn the main process, forward signals (through the
//! on-signal hooks when a plugin asked), reap, run the on-exit hooks, then exit or stay alive;
//! and, while the main process runs or stays, answer `hookinit ctl` (`control`).

mod control;
pub mod events;
pub mod group;
pub mod hooks;
pub mod reap;
pub mod spawn;
pub mod status;
pub mod stayalive;

use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::config::plan::Plan;
use crate::ctl::server::Client;
use crate::plugin_process::{
    self as plugin_process, CommandSpec, ExitAction, ExitInfo, Hook, IsolatedPlugins, Limits,
    Progress, Reply, Request, Runtime, SignalAction,
};
use crate::signals::forward;
use crate::signals::takeover::{SignalSetup, describe};
use control::{Control, StayEnd};
use events::{Event, next_event};
use hooks::{Hooks, SAFETY_MARGIN, START_DEADLINE};
use spawn::MainCommand;
use status::Ended;

/// After SIGKILL, how long to wait for the group to disappear before exiting regardless
/// (a process stuck in uninterruptible sleep cannot be waited for).
const AFTER_KILL: Duration = Duration::from_secs(1);

/// How long PID 1, about to exit, waits for the plugin process to clean up (remove the plugins'
/// scratch directories) after closing its socket.
const PLUGINS_EXIT: Duration = Duration::from_millis(500);

/// Exit status when hookinit could not start the main process for a reason of its own (a
/// pre-exec hook failed), like a configuration error.
const START_FAILED: u8 = 2;

/// PID 1's state while it supervises one main process.
pub struct Supervisor {
    plan: Plan,
    signals: SignalSetup,
    hooks: Hooks,
    limits: Limits,
    /// What the plugin process runs; `None` in a build without plugins.
    runtime: Option<Runtime>,
    /// SIGTERM or SIGINT arrived and was forwarded: the container is being stopped.
    stop_requested: bool,
    /// `hookinit ctl`: its socket and what it changed.
    control: Control,
}

/// How the attempt to run the main process ended.
struct Outcome {
    main: Option<Pid>,
    ended: Ended,
    /// The first line of the stayalive banner and of the termination log.
    what: String,
}

impl Supervisor {
    /// `runtime` is the plugin process's work (`hookinit_plugin_host::serve`), `None` in a build
    /// without plugins.
    pub fn new(plan: Plan, signals: SignalSetup, runtime: Option<Runtime>) -> Supervisor {
        Supervisor {
            plan,
            signals,
            hooks: Hooks::start_none(),
            limits: Limits::default(),
            runtime,
            stop_requested: false,
            control: Control::new(),
        }
    }

    /// The init's life after configuration: plugins (only if any), pre-exec hooks, spawn,
    /// supervise, on-exit hooks, then exit or stay alive; a `hookinit ctl restart` (while the
    /// main process runs or stays) starts the same command again. Returns hookinit's exit
    /// status.
    pub fn run(mut self) -> i32 {
        let code = self.supervise();
        self.end_plugins();
        code
    }

    fn supervise(&mut self) -> i32 {
        let Some(command) = MainCommand::from_argv(&self.plan.command) else {
            crate::error!("no program to run: usage: hookinit [OPTIONS] [--] PROGRAM [ARGS...]");
            return 2;
        };
        if let Err(signo) = self.start_plugins() {
            crate::warn!(
                "{} received while the plugins were starting; not starting the main process",
                describe(signo)
            );
            return 128 + signo;
        }
        self.open_ctl();
        let program = command.display_program();
        let (command, mut outcome) = match self.pre_exec(command) {
            Ok(command) => {
                let outcome = self.spawn_and_wait(&command, None);
                (command, outcome)
            }
            Err(PreExecStop::Stopped(signo)) => {
                crate::warn!(
                    "{} received before the main process started; not starting it",
                    describe(signo)
                );
                return 128 + signo;
            }
            Err(PreExecStop::Failed(command, reason)) => {
                crate::error!("{reason}; the main process was not started");
                self.control.can_restart = false;
                let outcome = Outcome {
                    main: None,
                    ended: Ended::Exited(START_FAILED),
                    what: format!("main process `{program}` was not started: {reason}"),
                };
                (*command, outcome)
            }
        };
        loop {
            let Outcome { main, ended, what } = outcome;
            // Ended by `hookinit ctl restart`: no on-exit hooks, no stay, start it again.
            // (A stop that arrived meanwhile cancels it: then the usual end.)
            if let Some(restart) = self.control.restart.take()
                && let Some(again) = self.start_again(main, &command, restart.client)
            {
                outcome = again;
                continue;
            }
            let mut code = status::remap(ended.code(), &self.plan.remap_exit);
            let mut stay =
                stayalive::should_stay(self.stay_policy().as_ref(), ended, self.stop_requested);
            if let Some(pid) = main {
                match self.on_exit(pid, ended) {
                    ExitAction::Propagate => {}
                    ExitAction::StayAlive => {
                        stay = !self.stop_requested && self.control.stay != Some(false)
                    }
                    ExitAction::ExitWith(status) => code = status as i32,
                }
            }
            if ended.failed() {
                stayalive::write_termination_log(&self.plan.termination_log, &what);
            }
            // While staying, the rest of the group is left as it was: it is part of the crash
            // state.
            if stay
                && let StayEnd::Restart(client) = self.stay(&what, &command, ended, code)
                && let Some(again) = self.start_again(main, &command, client)
            {
                outcome = again;
                continue;
            }
            if let Some(main) = main {
                self.finish_group(main);
            }
            crate::info!("exiting with status {code}");
            return code;
        }
    }

    /// Ends the plugin process, if one runs: told that PID 1 is leaving, it removes its plugins'
    /// scratch directories and closes its socket (its exit, which unmaps the runtime, is not
    /// waited for). PID 1 waits for that at most [`PLUGINS_EXIT`], and not at all once a signal
    /// asks it to go; then, or past the deadline, the process is killed.
    fn end_plugins(&mut self) {
        let Some(plugins) = self.hooks.plugins.take() else {
            return;
        };
        let deadline = Instant::now() + PLUGINS_EXIT;
        let fd = plugins.ask_to_leave();
        while !plugins.has_left() {
            match next_event(&mut self.signals, Some(fd), None, Some(deadline)) {
                Event::Signal(libc::SIGCHLD) => {
                    reap::reap_all(None);
                }
                Event::Signal(_) | Event::Timeout => {
                    plugin_process::kill_process();
                    return;
                }
                Event::Plugin | Event::Ctl => {}
            }
        }
    }

    /// Starts the plugin process when the plan has plugins (nothing at all otherwise: no engine,
    /// no process), answering signals while it loads them. A stop request ends the start:
    /// `Err(signo)`.
    fn start_plugins(&mut self) -> Result<(), i32> {
        if self.plan.plugins.is_empty() {
            return Ok(());
        }
        let Some(runtime) = self.runtime else {
            let err = anyhow::anyhow!(
                "this hookinit was built without plugins (cargo feature `plugins`): use a full \
                 build for {}",
                self.plan
                    .plugins
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            self.hooks = Hooks::not_started(&self.plan, err);
            return Ok(());
        };
        let mut starting = match IsolatedPlugins::spawn(&self.plan.plugins, runtime) {
            Ok(starting) => starting,
            Err(err) => {
                self.hooks = Hooks::not_started(&self.plan, err);
                return Ok(());
            }
        };
        let start_deadline = Instant::now() + START_DEADLINE;
        loop {
            let init = starting.init_deadline(SAFETY_MARGIN);
            let deadline = init.map_or(start_deadline, |(_, _, at)| at.min(start_deadline));
            match next_event(&mut self.signals, Some(starting.fd()), None, Some(deadline)) {
                // The plugin process, if it died: its socket then reads as ended.
                Event::Signal(libc::SIGCHLD) => {
                    reap::reap_all(None);
                }
                Event::Signal(signo) if forward::is_stop_request(signo) => {
                    starting.abandon();
                    return Err(signo);
                }
                Event::Signal(signo) => {
                    crate::info!(
                        "received {} while the plugins were starting: ignored",
                        describe(signo)
                    );
                }
                Event::Plugin => match starting.progress() {
                    Progress::Waiting(still) => starting = still,
                    Progress::Ready(plugins, _failures) => {
                        self.hooks = Hooks::running(plugins);
                        return Ok(());
                    }
                    Progress::Failed(err) => {
                        self.hooks = Hooks::not_started(&self.plan, err);
                        return Ok(());
                    }
                },
                Event::Timeout => {
                    let why = match init {
                        // A spinning init is interrupted in the process; this one is blocked.
                        Some((plugin, within, at)) if at <= start_deadline => format!(
                            "plugin {plugin}: init did not return within {} (blocked in a host \
                             call; the plugin process was killed)",
                            humantime::format_duration(within)
                        ),
                        _ => format!(
                            "the plugins did not start within {} (the plugin process was killed)",
                            humantime::format_duration(START_DEADLINE)
                        ),
                    };
                    starting.abandon();
                    self.hooks = Hooks::not_started(&self.plan, anyhow::anyhow!(why));
                    return Ok(());
                }
                Event::Ctl => {}
            }
        }
    }

    /// Runs the pre-exec hooks (if a plugin subscribed) while still answering signals.
    fn pre_exec(&mut self, command: MainCommand) -> Result<MainCommand, PreExecStop> {
        if let Some(reason) = self.hooks.start_blocked.take() {
            return Err(PreExecStop::Failed(Box::new(command), reason));
        }
        if !self.hooks.wants(Hook::PreExec) {
            return Ok(command);
        }
        let Some(plugins) = self.hooks.plugins.as_ref() else {
            return Ok(command);
        };
        let argv: Vec<_> = std::iter::once(command.program.clone())
            .chain(command.args.iter().cloned())
            .collect();
        plugins.request(Request::PreExec(CommandSpec::from_argv_and_current_env(
            &argv,
        )));
        // PID 1's own deadline: every plugin's pre-exec deadline in turn, and the margin.
        let allowed = self
            .plan
            .plugins
            .iter()
            .map(|p| p.pre_exec_deadline.unwrap_or(self.limits.pre_exec))
            .sum::<Duration>()
            + SAFETY_MARGIN;
        let deadline = Instant::now() + allowed;
        loop {
            let fd = self.hooks.plugins.as_ref().map(|p| p.wake_fd());
            match next_event(&mut self.signals, fd, None, Some(deadline)) {
                Event::Signal(libc::SIGCHLD) => {
                    reap::reap_all(None);
                }
                Event::Signal(signo) if forward::is_stop_request(signo) => {
                    return Err(PreExecStop::Stopped(signo));
                }
                Event::Signal(signo) => {
                    crate::info!(
                        "received {} before the main process started: ignored",
                        describe(signo)
                    );
                }
                Event::Plugin => {
                    let plugins = self.hooks.plugins.as_ref().expect("plugins are running");
                    while let Some(reply) = plugins.try_reply() {
                        if let Reply::PreExec(result) = reply {
                            return match result {
                                Ok(spec) => Ok(MainCommand::from(spec)),
                                Err(failure) => {
                                    Err(PreExecStop::Failed(Box::new(command), failure.to_string()))
                                }
                            };
                        }
                    }
                }
                // A spinning hook would have been interrupted by now: one is blocked (or the
                // process is frozen).
                Event::Timeout => self.give_up_on_plugins(&format!(
                    "did not finish the pre-exec hooks within {}",
                    humantime::format_duration(allowed)
                )),
                Event::Ctl => {}
            }
        }
    }

    /// Kills the plugin process after PID 1's deadline passed (one line says so); its owed
    /// replies come back as the defaults through the usual event.
    fn give_up_on_plugins(&self, why: &str) {
        if let Some(plugins) = &self.hooks.plugins {
            plugins.give_up(why);
        }
    }

    /// Starts the main process and supervises it until it ends. `restarted_for` is the ctl
    /// client that asked for this start: it is told how the start went.
    fn spawn_and_wait(&mut self, command: &MainCommand, restarted_for: Option<Client>) -> Outcome {
        let program = command.display_program();
        self.control.argv = argv_for_log(command);
        // Logged before the fork: once exec has happened, the child writes to the same stderr, and
        // a line of ours could land inside its first line (a shell writes `+ ` and the traced
        // command separately). The pid is in the line that reports how the process ended.
        crate::info!("starting main process: {}", self.control.argv);
        let spawned = spawn::spawn(command, self.signals.child_restore());
        self.control.since = Instant::now();
        match spawned {
            Ok(main) => {
                if let Some(client) = restarted_for {
                    client.done(format!("main process {main} started"));
                }
                if let Some(plugins) = &self.hooks.plugins {
                    plugins.request(Request::SetMainPid(main.as_raw() as u32));
                }
                let ended = self.wait_main(main);
                crate::info!("main process {main} {ended}");
                let dropped = self.hooks.drop_queued();
                if dropped > 0 {
                    crate::info!(
                        "{dropped} signal(s) still queued for the main process were dropped: it has ended"
                    );
                }
                Outcome {
                    main: Some(main),
                    ended,
                    what: format!("main process `{program}` {ended}"),
                }
            }
            Err(err) => {
                crate::error!("{err}");
                if let Some(client) = restarted_for {
                    client.refuse(err.to_string());
                }
                let ended = Ended::Exited(err.exit_code() as u8);
                Outcome {
                    main: None,
                    ended,
                    what: err.to_string(),
                }
            }
        }
    }

    /// Forwards signals (through the on-signal hooks when a plugin subscribed), reaps and
    /// answers `hookinit ctl` until the main process has ended.
    fn wait_main(&mut self, main: Pid) -> Ended {
        loop {
            let fd = self.hooks.plugins.as_ref().map(|p| p.wake_fd());
            let hooks_deadline = self.hooks.deadline(self.limits.on_signal);
            let kill_at = self.control.restart.as_ref().and_then(|r| r.kill_at);
            let deadline = match (hooks_deadline, kill_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let ctl = self.control.server.as_ref();
            match next_event(&mut self.signals, fd, ctl, deadline) {
                Event::Signal(libc::SIGCHLD) => {
                    if let Some(ended) = reap::reap_all(Some(main)) {
                        return ended;
                    }
                }
                Event::Signal(signo) => self.received(main, signo),
                Event::Plugin => self.take_signal_verdicts(main),
                Event::Ctl => self.serve_running(main),
                Event::Timeout => {
                    let now = Instant::now();
                    if kill_at.is_some_and(|at| at <= now) {
                        self.kill_for_restart(main);
                    }
                    // Their defaults (forward) then come back as verdicts, in order.
                    if hooks_deadline.is_some_and(|at| at <= now) {
                        self.give_up_on_plugins(&format!(
                            "did not answer an on-signal hook within {}",
                            humantime::format_duration(self.limits.on_signal + SAFETY_MARGIN)
                        ));
                    }
                }
            }
        }
    }

    /// A signal for the main process: `-r` rewrite, then the on-signal hooks, then forwarding.
    fn received(&mut self, main: Pid, received: i32) {
        let Some(signo) = forward::rewrite(&self.plan.rewrite, received) else {
            crate::info!("received {}: dropped (-r)", describe(received));
            return;
        };
        if forward::is_stop_request(received) {
            self.stop_requested = true;
        }
        self.pass_on(main, received, signo);
    }

    /// `signo` (what `received` became after `-r`) to the main process, through the on-signal
    /// hooks when a plugin screens signals.
    fn pass_on(&mut self, main: Pid, received: i32, signo: i32) {
        if self.hooks.screens_signals() {
            crate::debug!(
                "received {}: asking the on-signal hooks",
                describe(received)
            );
            self.hooks.queue_signal(received, signo);
        } else {
            self.send(main, received, signo);
        }
    }

    fn take_signal_verdicts(&mut self, main: Pid) {
        let Some(plugins) = self.hooks.plugins.as_ref() else {
            return;
        };
        let mut verdicts = Vec::new();
        while let Some(reply) = plugins.try_reply() {
            if let Reply::OnSignal(action) = reply {
                verdicts.push(action);
            }
        }
        for action in verdicts {
            let Some((received, _)) = self.hooks.signal_answered() else {
                continue;
            };
            match action {
                SignalAction::Forward(signo) => self.send(main, received, signo),
                SignalAction::Ignore => {
                    crate::info!(
                        "received {}: dropped by an on-signal hook",
                        describe(received)
                    )
                }
            }
        }
    }

    fn send(&mut self, main: Pid, received: i32, signo: i32) {
        let target = if self.plan.process_group {
            "process group"
        } else {
            "process"
        };
        match forward::send(main, signo, self.plan.process_group) {
            Ok(()) => crate::info!(
                "received {}: forwarded {} to main {target} {main}",
                describe(received),
                describe(signo)
            ),
            Err(err) => crate::debug!("forwarding {} to {main}: {err}", describe(signo)),
        }
    }

    /// Runs the on-exit hooks (if a plugin subscribed), reaping and noting stop requests while
    /// they run. Their deadline is the runtime's; the supervisor adds a safety margin.
    fn on_exit(&mut self, main: Pid, ended: Ended) -> ExitAction {
        if !self.hooks.wants(Hook::OnExit) {
            return ExitAction::Propagate;
        }
        let Some(plugins) = self.hooks.plugins.as_ref() else {
            return ExitAction::Propagate;
        };
        let status = match ended {
            Ended::Exited(code) => ExitInfo::Exited(code),
            Ended::Signaled {
                signal,
                core_dumped,
            } => ExitInfo::Signaled {
                signal,
                core_dumped,
            },
        };
        plugins.request(Request::OnExit {
            pid: main.as_raw() as u32,
            status,
        });
        let deadline = Instant::now() + self.limits.on_exit + SAFETY_MARGIN;
        loop {
            let fd = self.hooks.plugins.as_ref().map(|p| p.wake_fd());
            match next_event(&mut self.signals, fd, None, Some(deadline)) {
                Event::Signal(libc::SIGCHLD) => {
                    reap::reap_all(None);
                }
                // A stop is answered at once: the hooks' verdict is not waited for.
                Event::Signal(signo) if forward::is_stop_request(signo) => {
                    self.stop_requested = true;
                    crate::info!(
                        "{} received during the on-exit hooks: not waiting for them",
                        describe(signo)
                    );
                    return ExitAction::Propagate;
                }
                Event::Signal(_) | Event::Ctl => {}
                Event::Plugin => {
                    let plugins = self.hooks.plugins.as_ref().expect("plugins are running");
                    while let Some(reply) = plugins.try_reply() {
                        if let Reply::OnExit(action) = reply {
                            crate::info!("on-exit hooks: {action:?}");
                            return action;
                        }
                    }
                }
                Event::Timeout => {
                    self.give_up_on_plugins(&format!(
                        "did not answer the on-exit hooks within {}; going on as if they had said nothing",
                        humantime::format_duration(self.limits.on_exit + SAFETY_MARGIN)
                    ));
                    return ExitAction::Propagate;
                }
            }
        }
    }

    /// The main process has ended: SIGTERM what is left of its process group, give it the grace
    /// period, then SIGKILL. Returns as soon as the group is gone; never sleeps unconditionally.
    fn finish_group(&mut self, main: Pid) {
        reap::reap_all(None);
        if !group::alive(main) {
            return;
        }
        crate::info!(
            "main process ended; sending SIGTERM to what is left of its process group ({} grace)",
            humantime::format_duration(self.plan.grace)
        );
        group::signal(main, libc::SIGTERM);
        let mut killed = false;
        let mut deadline = Instant::now() + self.plan.grace;
        loop {
            reap::reap_all(None);
            if !group::alive(main) {
                return;
            }
            let escalate = match next_event(&mut self.signals, None, None, Some(deadline)) {
                Event::Timeout => true,
                // A stop request while draining means "now" (and no restart after it).
                Event::Signal(signo) if forward::is_stop_request(signo) => {
                    self.stop_requested = true;
                    true
                }
                Event::Signal(_) | Event::Plugin | Event::Ctl => false,
            };
            if escalate {
                if killed {
                    crate::warn!("process group {main} did not exit after SIGKILL; exiting anyway");
                    return;
                }
                crate::info!("sending SIGKILL to process group {main}");
                group::signal(main, libc::SIGKILL);
                killed = true;
                deadline = Instant::now() + AFTER_KILL;
            }
        }
    }

    /// Stays up after a failure until SIGTERM/SIGINT, the stayalive limit, or `hookinit ctl stop`
    /// or `restart`, reaping meanwhile.
    fn stay(&mut self, what: &str, command: &MainCommand, ended: Ended, code: i32) -> StayEnd {
        // Ctrl-C on `docker run -it` must now reach PID 1, not the dead main process's group.
        spawn::take_terminal_back();
        let limit = self.stay_policy().and_then(|s| s.limit);
        let env: Vec<_> = match &command.env {
            Some(env) => env.clone(),
            None => std::env::vars_os().collect(),
        };
        let env_file = self.plan.env_file();
        let env_written = match stayalive::write_env_file(&env_file, &env) {
            Ok(()) => Some(env_file.as_path()),
            Err(err) => {
                crate::warn!(
                    "could not write {}: {err}; {}",
                    env_file.display(),
                    crate::run_dir::HINT
                );
                None
            }
        };
        let ctl = self.control.server.is_some() && self.control.can_restart;
        stayalive::banner(what, code, limit, env_written, ctl);
        let deadline = limit.map(|limit| Instant::now() + limit);
        loop {
            let ctl = self.control.server.as_ref();
            match next_event(&mut self.signals, None, ctl, deadline) {
                Event::Signal(libc::SIGCHLD) => {
                    reap::reap_all(None);
                }
                Event::Signal(signo) if forward::is_stop_request(signo) => {
                    crate::warn!("stayalive: {} received, exiting", describe(signo));
                    self.stop_requested = true;
                    return StayEnd::Exit;
                }
                Event::Signal(signo) => {
                    crate::info!("stayalive: ignoring {}", describe(signo));
                }
                Event::Timeout => {
                    crate::warn!("stayalive: time limit reached, exiting");
                    return StayEnd::Exit;
                }
                Event::Ctl => {
                    if let Some(end) = self.serve_staying(ended, code) {
                        return end;
                    }
                }
                Event::Plugin => {}
            }
        }
    }
}

/// Why the main process was not started.
enum PreExecStop {
    /// A stop request arrived while the pre-exec hooks ran.
    Stopped(i32),
    /// A pre-exec hook failed (the message names the plugin).
    Failed(Box<MainCommand>, String),
}

/// The command line for log lines. Arguments are shown; environment values never are.
fn argv_for_log(command: &MainCommand) -> String {
    std::iter::once(&command.program)
        .chain(&command.args)
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
