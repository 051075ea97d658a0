//! A pseudo-terminal: the user's terminal for `docker run -it`, for the tests that need one.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Instant;

use super::{DEADLINE, wait_until};

/// A command on a new pseudo-terminal, as the session leader with the pty as its controlling
/// terminal (what a terminal emulator gives a shell). The test reads and types on the master.
pub struct Pty {
    child: Child,
    master: std::fs::File,
    rx: Receiver<Vec<u8>>,
    /// Everything read so far.
    pub seen: String,
    /// Where the next `expect` starts looking.
    cursor: usize,
}

impl Pty {
    pub fn spawn(mut cmd: Command) -> Pty {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on a pty");
        drop(cmd); // closes our copies of the slave, so that reads end when the child does
        let master = std::fs::File::from(pty.master);
        let mut reader = master.try_clone().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty {
            child,
            master,
            rx,
            seen: String::new(),
            cursor: 0,
        }
    }

    /// Waits until the output (after the previous match) contains `needle`.
    pub fn expect(&mut self, needle: &str) {
        let start = Instant::now();
        loop {
            if let Some(at) = self.seen[self.cursor..].find(needle) {
                self.cursor += at + needle.len();
                return;
            }
            let left = DEADLINE.saturating_sub(start.elapsed());
            match self.rx.recv_timeout(left) {
                Ok(bytes) => self.seen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => panic!(
                    "no {needle:?} on the terminal after {DEADLINE:?}; it showed:\n{}",
                    self.seen
                ),
            }
        }
    }

    /// Waits for `before`, then returns what the terminal shows up to the next `after`.
    pub fn expect_between(&mut self, before: &str, after: &str) -> String {
        self.expect(before);
        let from = self.cursor;
        self.expect(after);
        self.seen[from..self.cursor - after.len()].to_string()
    }

    /// Types `text` (a command line ends with "\r", as the Enter key sends).
    pub fn send(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// Waits for the command to end; returns its status.
    pub fn wait(&mut self) -> ExitStatus {
        wait_until("the command on the terminal to end", || {
            self.child.try_wait().unwrap()
        })
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
