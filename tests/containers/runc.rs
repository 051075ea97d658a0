//! Containers run by plain runc, with a small shim in the role containerd-shim plays.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use super::commands::{output, require, run_ok, runc};
use super::json::{json_field, json_string};
use super::names::unique_name;
use super::rootfs::Rootfs;
use crate::common::DEADLINE;

pub const PYTHON: &str = "/usr/bin/python3";

/// The role containerd-shim plays for Docker: a child subreaper that starts `runc run -d` (whose
/// container init is then reparented to it) and reports the init's exit status, which runc
/// itself does not keep for detached containers. Prints `started PID`, then `exit CODE`.
const SHIM: &str = r#"
import ctypes, os, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    sys.exit("shim: prctl(PR_SET_CHILD_SUBREAPER) failed")
bundle, cid, log = sys.argv[1:4]
pid_file = os.path.join(bundle, "init.pid")
with open(log, "ab") as out:
    rc = subprocess.call(["runc", "run", "-d", "--bundle", bundle, "--pid-file", pid_file, cid],
                         stdin=subprocess.DEVNULL, stdout=out, stderr=out)
if rc != 0:
    print("runc-failed", rc, flush=True)
    sys.exit(1)
pid = int(open(pid_file).read())
print("started", pid, flush=True)
while True:
    try:
        child, status = os.waitpid(-1, 0)
    except ChildProcessError:
        print("lost", flush=True)
        sys.exit(1)
    if child == pid:
        break
code = os.waitstatus_to_exitcode(status)
print("exit", code if code >= 0 else 128 - code, flush=True)
"#;

/// A container run by plain runc (`runc run -d`), deleted (`runc delete -f`) on drop.
pub struct RuncContainer {
    pub id: String,
    rootfs: Rootfs,
    log: PathBuf,
    shim: Child,
    shim_lines: Receiver<String>,
    exit: Option<i32>,
}

impl RuncContainer {
    /// `runc run -d` of `rootfs` with `args` as the process (args[0] is PID 1) and `env` added to
    /// the default PATH and TERM. Not a terminal; the root filesystem is writable.
    pub fn run_detached(rootfs: Rootfs, tag: &str, args: &[&str], env: &[&str]) -> RuncContainer {
        require("runc");
        let id = unique_name(tag);
        let bundle = rootfs.bundle().to_path_buf();
        run_ok(runc().arg("spec").arg("--bundle").arg(&bundle));
        let config_path = bundle.join("config.json");
        let config = std::fs::read_to_string(&config_path).unwrap();
        let config = replace_once(&config, "\"terminal\": true", "\"terminal\": false");
        let config = replace_once(&config, "\"readonly\": true", "\"readonly\": false");
        let config = replace_once(
            &config,
            "\"hostname\": \"runc\"",
            &format!("\"hostname\": {}", json_string(&id)),
        );
        let config = replace_string_array(&config, "args", args.iter().copied());
        let mut full_env = vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm",
        ];
        full_env.extend_from_slice(env);
        let config = replace_string_array(&config, "env", full_env.into_iter());
        std::fs::write(&config_path, config).unwrap();

        let log = bundle.join("container.log");
        std::fs::write(&log, b"").unwrap();
        let mut shim = Command::new(PYTHON)
            .arg("-c")
            .arg(SHIM)
            .arg(&bundle)
            .arg(&id)
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the runc shim (python3)");
        let (tx, shim_lines) = channel();
        let stdout = shim.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut container = RuncContainer {
            id,
            rootfs,
            log,
            shim,
            shim_lines,
            exit: None,
        };
        let line = container.shim_line();
        assert!(
            line.starts_with("started "),
            "runc run -d {} failed: {line}\n{}",
            container.id,
            container.log()
        );
        container
    }

    fn shim_line(&mut self) -> String {
        self.shim_lines.recv_timeout(DEADLINE).unwrap_or_else(|_| {
            panic!("runc shim for {}: no answer; log:\n{}", self.id, self.log())
        })
    }

    /// What the container wrote to stdout and stderr.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// Waits until the log has a line containing `needle`; returns that line.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{}: no log line containing {needle:?}; state {}; log:\n{log}",
                self.id,
                self.state()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `runc state`'s status: `created`, `running`, `paused`, `stopped`.
    pub fn state(&self) -> String {
        let out = output(runc().args(["state", &self.id]));
        let text = String::from_utf8_lossy(&out.stdout);
        json_field(&text, "status")
            .unwrap_or_else(|| format!("unknown ({})", String::from_utf8_lossy(&out.stderr).trim()))
    }

    /// `runc exec ID ARGS...` to completion.
    pub fn exec(&self, args: &[&str]) -> Output {
        output(runc().args(["exec", &self.id]).args(args))
    }

    pub fn exec_ok(&self, args: &[&str]) -> String {
        run_ok(runc().args(["exec", &self.id]).args(args))
    }

    /// `runc kill ID SIGNAL`.
    pub fn kill(&self, signal: &str) {
        run_ok(runc().args(["kill", &self.id, signal]));
    }

    /// The container init's exit status (what `docker wait` reports), waiting for it.
    pub fn wait_exit(&mut self) -> i32 {
        if let Some(code) = self.exit {
            return code;
        }
        let line = self.shim_line();
        let code = line
            .strip_prefix("exit ")
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or_else(|| panic!("runc shim for {}: {line}", self.id));
        self.exit = Some(code);
        code
    }

    pub fn rootfs(&self) -> &Rootfs {
        &self.rootfs
    }
}

impl Drop for RuncContainer {
    fn drop(&mut self) {
        let _ = runc()
            .args(["delete", "-f", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.shim.kill();
        let _ = self.shim.wait();
    }
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "`runc spec` output has no {from:?}: this runc writes another format"
    );
    text.replacen(from, to, 1)
}

/// Replaces the JSON array of strings under `"key": [` (the first one) with `items`.
fn replace_string_array<'a>(json: &str, key: &str, items: impl Iterator<Item = &'a str>) -> String {
    let open = format!("\"{key}\": [");
    let start = json
        .find(&open)
        .unwrap_or_else(|| panic!("`runc spec` output has no {open:?}"));
    let end = start + json[start..].find(']').expect("array end");
    let items: Vec<String> = items.map(json_string).collect();
    format!(
        "{}\"{key}\": [{}{}",
        &json[..start],
        items.join(", "),
        &json[end..]
    )
}
