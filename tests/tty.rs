//! `docker run -it`: on a pseudo-terminal the main process owns the terminal (it is the
//! foreground process group), so Ctrl-C reaches it and hookinit exits 130.

mod common;

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::mpsc::channel;

use common::*;

const FOREGROUND: &str = r#"
import os, signal
fg = os.tcgetpgrp(0) == os.getpgrp()
print("foreground" if fg else "background", flush=True)
signal.signal(signal.SIGINT, signal.SIG_DFL)
print("ready", flush=True)
while True:
    signal.pause()
"#;

/// Starts `cmd` on a new pseudo-terminal as its controlling terminal, as a container runtime does
/// for `-t`; returns the child, the terminal's master side and what it has printed so far (the
/// whole text each time).
fn on_a_pty(
    mut cmd: std::process::Command,
) -> (
    std::process::Child,
    std::fs::File,
    std::sync::mpsc::Receiver<String>,
) {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave: OwnedFd = pty.slave;
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    // SAFETY: setsid and ioctl are async-signal-safe; this makes the pty the controlling
    // terminal of a new session.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("spawn hookinit on a pty");
    drop(cmd);
    let master = std::fs::File::from(pty.master);
    let mut reader = master.try_clone().unwrap();
    let (tx, rx) = channel::<String>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut text = String::new();
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if tx.send(text.clone()).is_err() {
                break;
            }
        }
    });
    (child, master, rx)
}

/// Waits until the terminal has shown `needle`; returns all it showed.
fn wait_for_text(rx: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(needle) {
        seen = rx
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("no {needle:?} on the terminal: {seen:?}"));
    }
    seen
}

#[test]
fn main_process_owns_the_terminal_and_ctrl_c_gives_130() {
    for mode in MODES {
        let (mut child, mut master, rx) =
            on_a_pty(command(mode, &["--", PYTHON, "-c", FOREGROUND]));
        let seen = wait_for_text(&rx, "ready");
        assert!(
            seen.contains("foreground"),
            "{mode:?}: main process is not in the foreground: {seen:?}"
        );
        master.write_all(b"\x03").unwrap(); // Ctrl-C
        let status = wait_until("hookinit to exit after Ctrl-C", || {
            child.try_wait().unwrap()
        });
        assert_eq!(status.code(), Some(130), "{mode:?}: {seen:?}");
    }
}

/// `docker run -it -e DEBUG=stayalive`: once the main process has crashed, Ctrl-C on the terminal
/// ends the stay (PID 1 took the terminal back) with the failure status.
#[test]
fn ctrl_c_ends_a_stay_on_a_terminal() {
    for mode in MODES {
        let run = tempdir();
        let mut cmd = command(mode, &["--", "sh", "-c", "exit 3"]);
        cmd.env("DEBUG", "stayalive")
            .env("HOOKINIT_RUN_DIR", run.path());
        let (mut child, mut master, rx) = on_a_pty(cmd);
        let seen = wait_for_text(&rx, "end it:");
        master.write_all(b"\x03").unwrap(); // Ctrl-C
        let status = wait_until("hookinit to exit after Ctrl-C", || {
            child.try_wait().unwrap()
        });
        assert_eq!(status.code(), Some(3), "{mode:?}: {seen:?}");
    }
}
