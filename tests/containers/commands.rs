//! The tools the tests drive (podman, runc), run to completion against the deadline.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::DEADLINE;

/// podman with the settings that work on these machines (see ../shared/containers.md): vfs
/// storage, runc, cgroupfs.
pub const PODMAN_GLOBAL: [&str; 6] = [
    "--storage-driver",
    "vfs",
    "--runtime",
    "runc",
    "--cgroup-manager",
    "cgroupfs",
];
/// The open-file limit podman asks for by default is refused here.
pub const PODMAN_ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=20000:20000",
    "--ulimit",
    "nproc=1000:1000",
];
/// Fails the test loudly if `tool` is not installed: these tests never skip silently.
pub fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is required by tests/containers.rs and is not installed \
         (apt-get install -y podman runc busybox-static musl-tools; `bash .ci/run` does it)"
    );
}

pub fn podman() -> Command {
    require("podman");
    let mut cmd = Command::new("podman");
    cmd.args(PODMAN_GLOBAL).stdin(Stdio::null());
    cmd
}

pub fn runc() -> Command {
    require("runc");
    let mut cmd = Command::new("runc");
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to completion (with a deadline) and returns its output.
pub fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = describe(cmd);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    // Read both pipes in threads so that a chatty command cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let status = wait_child(&mut child, &what);
    Output {
        status,
        stdout: out_thread.join().unwrap(),
        stderr: err_thread.join().unwrap(),
    }
}

/// Runs `cmd`, asserts success, returns its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let what = describe(cmd);
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{what} failed with {}:\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits for `child` with the deadline; kills it and fails if it does not end.
pub fn wait_child(child: &mut Child, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Polls `check` every 50 ms (each poll runs a podman or runc command) until it returns Some.
pub fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
