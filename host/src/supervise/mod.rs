//! Supervision: spawn the main process, forward signals, reap, and end (or stay) as it ends.

pub mod events;
pub mod group;
pub mod reap;
pub mod spawn;
pub mod status;
pub mod stayalive;

use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::config::plan::Plan;
use crate::signals::forward;
use crate::signals::takeover::{SignalSetup, describe};
use events::{Event, next_event};
use spawn::MainCommand;
use status::Ended;

/// After SIGKILL, how long to wait for the group to disappear before exiting regardless
/// (a process stuck in uninterruptible sleep cannot be waited for).
const AFTER_KILL: Duration = Duration::from_secs(1);

/// PID 1's state while it supervises one main process.
pub struct Supervisor {
    plan: Plan,
    signals: SignalSetup,
    /// SIGTERM or SIGINT arrived and was forwarded: the container is being stopped.
    stop_requested: bool,
}

impl Supervisor {
    pub fn new(plan: Plan, signals: SignalSetup) -> Supervisor {
        Supervisor {
            plan,
            signals,
            stop_requested: false,
        }
    }

    /// The init's life after configuration: spawn, supervise, then exit or stay alive.
    /// Returns hookinit's exit status.
    pub fn run(mut self) -> i32 {
        let Some(command) = MainCommand::from_argv(&self.plan.command) else {
            crate::error!("no program to run: usage: hookinit [OPTIONS] [--] PROGRAM [ARGS...]");
            return 2;
        };
        let program = command.display_program();
        let (main, ended) = match spawn::spawn(&command, self.signals.child_restore()) {
            Ok(main) => {
                crate::info!("started main process {main}: {}", argv_for_log(&command));
                let ended = self.wait_main(main);
                crate::info!("main process {main} {ended}");
                (Some(main), ended)
            }
            Err(err) => {
                crate::error!("{err}");
                (None, Ended::Exited(err.exit_code() as u8))
            }
        };
        let code = status::remap(ended.code(), &self.plan.remap_exit);
        if ended.failed() {
            stayalive::write_termination_log(&self.plan.termination_log, &program, ended);
        }
        // While staying, the rest of the group is left as it was: it is part of the crash state.
        if stayalive::should_stay(self.plan.stayalive.as_ref(), ended, self.stop_requested) {
            self.stay(&program, &command, ended, code);
        }
        if let Some(main) = main {
            self.finish_group(main);
        }
        crate::info!("exiting with status {code}");
        code
    }

    /// Forwards signals and reaps until the main process has ended.
    fn wait_main(&mut self, main: Pid) -> Ended {
        loop {
            match next_event(&mut self.signals, None, None) {
                Event::Signal(libc::SIGCHLD) => {
                    if let Some(ended) = reap::reap_all(Some(main)) {
                        return ended;
                    }
                }
                Event::Signal(signo) => self.forward(main, signo),
                Event::Plugin | Event::Timeout => {}
            }
        }
    }

    fn forward(&mut self, main: Pid, received: i32) {
        let Some(signo) = forward::rewrite(&self.plan.rewrite, received) else {
            crate::info!("received {}: dropped (-r)", describe(received));
            return;
        };
        if forward::is_stop_request(received) {
            self.stop_requested = true;
        }
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
            let event = next_event(&mut self.signals, None, Some(deadline));
            let escalate = match event {
                Event::Timeout => true,
                // A second stop request while draining means "now".
                Event::Signal(signo) => forward::is_stop_request(signo),
                Event::Plugin => false,
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

    /// Stays up after a failure until SIGTERM/SIGINT or the stayalive limit, reaping meanwhile.
    fn stay(&mut self, program: &str, command: &MainCommand, ended: Ended, code: i32) {
        let limit = self.plan.stayalive.as_ref().and_then(|s| s.limit);
        let env: Vec<_> = match &command.env {
            Some(env) => env.clone(),
            None => std::env::vars_os().collect(),
        };
        let env_file = self.plan.env_file.as_path();
        let env_written = match stayalive::write_env_file(env_file, &env) {
            Ok(()) => Some(env_file),
            Err(err) => {
                crate::warn!("could not write {}: {err}", env_file.display());
                None
            }
        };
        stayalive::banner(program, ended, code, limit, env_written);
        let deadline = limit.map(|limit| Instant::now() + limit);
        loop {
            match next_event(&mut self.signals, None, deadline) {
                Event::Signal(libc::SIGCHLD) => {
                    reap::reap_all(None);
                }
                Event::Signal(signo) if forward::is_stop_request(signo) => {
                    crate::warn!("stayalive: {} received, exiting", describe(signo));
                    return;
                }
                Event::Signal(signo) => {
                    crate::info!("stayalive: ignoring {}", describe(signo));
                }
                Event::Timeout => {
                    crate::warn!("stayalive: time limit reached, exiting");
                    return;
                }
                Event::Plugin => {}
            }
        }
    }
}

/// The command line for log lines. Arguments are shown; environment values never are.
fn argv_for_log(command: &MainCommand) -> String {
    std::iter::once(&command.program)
        .chain(&command.args)
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
