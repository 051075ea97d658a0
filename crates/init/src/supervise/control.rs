//! What PID 1 does for each `hookinit ctl` request, in the two states where it serves them: while
//! the main process runs and during a stay. Elsewhere (starting, stopping) clients wait in the
//! listener's backlog.

use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::config::plan::StayAlive;
use crate::ctl::protocol::Request;
use crate::ctl::server::{Client, Server};
use crate::log::{Level, write_untagged};

use super::Supervisor;
use super::status::Ended;

/// What `hookinit ctl` changed or asked for, beside the plan.
pub(super) struct Control {
    /// `None` when the run directory could not be used: hookinit runs on without ctl.
    pub server: Option<Server>,
    /// `stay on|off`: replaces the plan's stayalive from then on.
    pub stay: Option<bool>,
    pub restarts: u32,
    /// A restart under way: the main process was asked to end.
    pub restart: Option<Restart>,
    /// The current (or last) main process: its command line, and when it started.
    pub argv: String,
    pub since: Instant,
    /// False when a pre-exec hook failed: the command was never prepared, so it is not started
    /// (restart does not run the hooks again).
    pub can_restart: bool,
}

pub(super) struct Restart {
    /// Answered once the main process runs again.
    pub client: Client,
    /// When what is left gets SIGKILL; `None` once it has.
    pub kill_at: Option<Instant>,
}

/// How a stay ended, from ctl's point of view.
pub(super) enum StayEnd {
    Exit,
    /// Start the main process again, and tell this client.
    Restart(Client),
}

impl Control {
    pub fn new() -> Control {
        Control {
            server: None,
            stay: None,
            restarts: 0,
            restart: None,
            argv: String::new(),
            since: Instant::now(),
            can_restart: true,
        }
    }
}

impl Supervisor {
    /// Makes the ctl socket in the run directory. Without it hookinit runs on, and says so once
    /// at the lifecycle level (a read-only container is no reason for a warning at every start).
    pub(super) fn open_ctl(&mut self) {
        match Server::open(&self.plan.run_dir) {
            Ok(server) => {
                crate::debug!("hookinit ctl: listening on {}", server.path().display());
                self.control.server = Some(server);
            }
            Err(err) => crate::info!(
                "hookinit ctl is off: cannot make its socket in {}: {err}; {}",
                self.plan.run_dir.display(),
                crate::run_dir::HINT
            ),
        }
    }

    /// The stayalive policy for the next end of the main process: the plan's, unless `stay
    /// on|off` said otherwise.
    pub(super) fn stay_policy(&self) -> Option<StayAlive> {
        match self.control.stay {
            None => self.plan.stayalive.clone(),
            Some(true) => Some(self.plan.stayalive.clone().unwrap_or_default()),
            Some(false) => None,
        }
    }

    /// Requests while the main process runs.
    pub(super) fn serve_running(&mut self, main: Pid) {
        while let Some((request, mut client)) =
            self.control.server.as_mut().and_then(Server::next_request)
        {
            match request {
                Request::Status => {
                    let state = if self.control.restart.is_some() {
                        "restarting"
                    } else {
                        "running"
                    };
                    let ran = format!("running for: {}", seconds(self.control.since.elapsed()));
                    self.answer_status(client, state, Some(main), &ran);
                }
                Request::Restart if self.control.restart.is_some() => {
                    client.refuse("a restart is already under way")
                }
                Request::Restart if self.stop_requested => {
                    client.refuse("the container is being stopped")
                }
                Request::Restart => {
                    let grace = humantime::format_duration(self.plan.grace);
                    client.say(&format!(
                        "restarting: SIGTERM to main process {main}, SIGKILL after {grace} if it \
                         is still there"
                    ));
                    write_untagged(
                        Level::Warn,
                        format_args!("ctl restart: ending main process {main} to start it again"),
                    );
                    self.control.restart = Some(Restart {
                        client,
                        kill_at: Some(Instant::now() + self.plan.grace),
                    });
                    // As a stop would: -r rewrites it, the on-signal hooks see it.
                    if let Some(signo) =
                        crate::signals::forward::rewrite(&self.plan.rewrite, libc::SIGTERM)
                    {
                        self.pass_on(main, libc::SIGTERM, signo);
                    }
                }
                Request::Stay(on) => self.answer_stay(client, on),
                Request::Stop => {
                    client.done(format!("stopping: SIGTERM to main process {main}"));
                    write_untagged(
                        Level::Warn,
                        format_args!("ctl stop: stopping the container"),
                    );
                    self.received(main, libc::SIGTERM);
                }
            }
        }
    }

    /// A restart's main process did not end within the grace period.
    pub(super) fn kill_for_restart(&mut self, main: Pid) {
        if let Some(restart) = &mut self.control.restart {
            crate::info!(
                "main process {main} did not end within {}: sending SIGKILL to its process group",
                humantime::format_duration(self.plan.grace)
            );
            super::group::signal(main, libc::SIGKILL);
            restart.kill_at = None;
        }
    }

    /// Requests during a stay; `Some` ends the stay.
    pub(super) fn serve_staying(&mut self, ended: Ended, code: i32) -> Option<StayEnd> {
        while let Some((request, mut client)) =
            self.control.server.as_mut().and_then(Server::next_request)
        {
            match request {
                Request::Status => {
                    let ago = seconds(self.control.since.elapsed());
                    let ran = format!("ended: main process {ended} (started {ago} ago)");
                    self.answer_status(client, "staying", None, &ran);
                }
                Request::Restart if !self.control.can_restart => client.refuse(
                    "the main process was never started (a pre-exec hook failed), and restart \
                     does not run the hooks again: restart the container",
                ),
                Request::Restart => {
                    client.say("restarting: leaving the stay");
                    write_untagged(
                        Level::Warn,
                        format_args!(
                            "ctl restart: leaving the stay to start the main process again"
                        ),
                    );
                    return Some(StayEnd::Restart(client));
                }
                Request::Stay(on) => self.answer_stay(client, on),
                Request::Stop => {
                    client.done(format!("stopping: hookinit exits with status {code}"));
                    crate::warn!("stayalive: stop asked through hookinit ctl, exiting");
                    return Some(StayEnd::Exit);
                }
            }
        }
        None
    }

    /// A restart's process (or a stay's leftovers) is gone: start the same command again and
    /// answer the client, unless the container is being stopped meanwhile.
    pub(super) fn start_again(
        &mut self,
        ended: Option<Pid>,
        command: &super::spawn::MainCommand,
        client: Client,
    ) -> Option<super::Outcome> {
        if let Some(main) = ended {
            self.finish_group(main);
        }
        if self.stop_requested {
            client.refuse("not started again: the container is being stopped");
            return None;
        }
        self.control.restarts += 1;
        Some(self.spawn_and_wait(command, Some(client)))
    }

    fn answer_stay(&mut self, client: Client, on: bool) {
        self.control.stay = Some(on);
        crate::info!(
            "ctl: stay {}: a crash of the main process {}",
            if on { "on" } else { "off" },
            if on { "stays" } else { "ends the container" }
        );
        client.done(format!(
            "stay {}",
            describe_stay(self.stay_policy().as_ref())
        ));
    }

    fn answer_status(&self, mut client: Client, state: &str, main: Option<Pid>, ran: &str) {
        let plugins: Vec<&str> = self.plan.plugins.iter().map(|p| p.name.as_str()).collect();
        let lines = [
            format!("state: {state}"),
            format!(
                "main pid: {}",
                main.map_or("none".into(), |p| p.to_string())
            ),
            format!("program: {}", crate::log::clip(&self.control.argv)),
            ran.to_owned(),
            format!("restarts: {}", self.control.restarts),
            format!(
                "plugins: {}",
                if plugins.is_empty() {
                    "none".into()
                } else {
                    plugins.join(", ")
                }
            ),
            format!("stay: {}", describe_stay(self.stay_policy().as_ref())),
        ];
        for line in &lines {
            client.say(line);
        }
        client.done("");
    }
}

/// `on (after a failure)`, `on (after any end, for 10m)`, `off`.
fn describe_stay(policy: Option<&StayAlive>) -> String {
    let Some(policy) = policy else {
        return "off".into();
    };
    let when = if policy.after_success {
        "after any end"
    } else {
        "after a failure"
    };
    match policy.limit {
        Some(limit) => format!("on ({when}, for {})", humantime::format_duration(limit)),
        None => format!("on ({when})"),
    }
}

/// Whole seconds: a status is read by people.
fn seconds(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_secs(d.as_secs()))
}
