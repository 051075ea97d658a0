//! `podman run` of an image (detached, in the foreground, on a pty) and the container it makes.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::commands::{PODMAN_ULIMITS, output, podman, poll, run_ok};
use super::image::Image;
use super::names::unique_name;
use crate::common::DEADLINE;
use crate::common::pty::Pty;

impl Image {
    /// A `podman run` of this image, to be configured.
    pub fn run(&self) -> Run<'_> {
        Run {
            image: self,
            network: "none".into(),
            args: Vec::new(),
        }
    }
}

/// `podman run` options: `--network none` unless told otherwise, the ulimits, a unique name.
pub struct Run<'a> {
    image: &'a Image,
    network: String,
    args: Vec<OsString>,
}

impl Run<'_> {
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.args.push("-e".into());
        self.args.push(format!("{name}={value}").into());
        self
    }

    /// `--network host`: the container's 127.0.0.1 is the test's (for an `HttpServer`).
    pub fn host_network(mut self) -> Self {
        self.network = "host".into();
        self
    }

    /// `-v HOST:CTR[:OPTIONS]`, e.g. a plugin directory mounted read-only.
    pub fn volume(mut self, host: &Path, ctr: &str, options: &str) -> Self {
        let mut spec = host.as_os_str().to_owned();
        spec.push(format!(":{ctr}"));
        if !options.is_empty() {
            spec.push(format!(":{options}"));
        }
        self.args.push("-v".into());
        self.args.push(spec);
        self
    }

    /// Any other `podman run` option.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    fn command(self, mode: &[&str], cmd: &[&str], tag: &str) -> (Container, Command) {
        let container = Container {
            name: unique_name(tag),
        };
        let mut run = podman();
        run.arg("run")
            .args(mode)
            .args(["--name", &container.name, "--network", &self.network])
            .args(PODMAN_ULIMITS)
            .args(&self.args)
            .arg(&self.image.name)
            .args(cmd);
        (container, run)
    }

    /// `podman run -d`: returns once the container is running.
    pub fn detached(self, tag: &str, cmd: &[&str]) -> Container {
        let (container, mut run) = self.command(&["-d"], cmd, tag);
        run_ok(&mut run);
        container
    }

    /// `podman run` in the foreground, to completion: the container's output and status.
    pub fn foreground(self, tag: &str, cmd: &[&str]) -> (Container, Output) {
        let (container, mut run) = self.command(&[], cmd, tag);
        let out = output(&mut run);
        (container, out)
    }

    /// `podman run -it` on a new pseudo-terminal (the test plays the user's terminal).
    pub fn interactive(self, tag: &str, cmd: &[&str]) -> (Container, Pty) {
        let (container, run) = self.command(&["-i", "-t"], cmd, tag);
        (container, Pty::spawn(run))
    }
}

/// A podman container, removed (`rm -f -t 0`) on drop.
pub struct Container {
    pub name: String,
}

impl Container {
    /// `podman logs`: stdout and stderr.
    pub fn logs(&self) -> String {
        let out = output(podman().args(["logs", &self.name]));
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        text
    }

    /// Waits until the logs have a line containing `needle`; returns that line.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let logs = self.logs();
            if let Some(line) = logs.lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{}: no log line containing {needle:?} after {DEADLINE:?}; status {}; logs:\n{logs}",
                self.name,
                self.inspect("{{.State.Status}}")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `podman inspect --format FORMAT` (trimmed).
    pub fn inspect(&self, format: &str) -> String {
        run_ok(podman().args(["inspect", "--format", format, &self.name]))
            .trim()
            .to_string()
    }

    /// `running`, `exited`, ...
    pub fn status(&self) -> String {
        self.inspect("{{.State.Status}}")
    }

    pub fn exit_code(&self) -> i32 {
        let code = self.inspect("{{.State.ExitCode}}");
        code.parse()
            .unwrap_or_else(|_| panic!("{}: exit code {code:?}", self.name))
    }

    /// Waits until `podman inspect` reports `status`.
    pub fn wait_status(&self, status: &str) {
        poll(&format!("{} to be {status}", self.name), || {
            (self.status() == status).then_some(())
        });
    }

    /// `podman exec NAME ARGS...` to completion.
    pub fn exec(&self, args: &[&str]) -> Output {
        output(podman().args(["exec", &self.name]).args(args))
    }

    /// `podman exec`, asserting success; returns stdout.
    pub fn exec_ok(&self, args: &[&str]) -> String {
        run_ok(podman().args(["exec", &self.name]).args(args))
    }

    /// `podman stop -t TIMEOUT`: returns how long it took.
    pub fn stop(&self, timeout_s: u32) -> Duration {
        let started = Instant::now();
        run_ok(podman().args(["stop", "-t", &timeout_s.to_string(), &self.name]));
        started.elapsed()
    }

    /// `podman kill -s SIGNAL`.
    pub fn kill(&self, signal: &str) {
        run_ok(podman().args(["kill", "-s", signal, &self.name]));
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman()
            .args(["rm", "-f", "-t", "0", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
