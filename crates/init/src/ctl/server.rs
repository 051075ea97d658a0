//! PID 1's side of `hookinit ctl`: a listening socket in the run directory, polled by the event
//! loop beside the signalfd (`supervise::events`). PID 1 never waits on a client: the listener
//! and every connection are non-blocking; a client has [`REQUEST_WITHIN`] to send its one line of
//! at most [`MAX_REQUEST`] bytes; at most [`MAX_CLIENTS`] are read at once (the others wait in
//! the backlog); answers are a few lines sent with `MSG_DONTWAIT`.

use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::fstatat;
use nix::unistd::{UnlinkatFlags, unlinkat};

use super::peer;
use super::protocol::{MAX_REQUEST, Outcome, Request, SOCKET_NAME, UnknownRequest};

/// How long a client that connected has to send its request.
pub const REQUEST_WITHIN: Duration = Duration::from_secs(1);
/// Connections read at once; more wait in the listener's backlog.
pub const MAX_CLIENTS: usize = 4;
/// After accept(2) fails (out of file descriptors), the listener rests this long instead of
/// waking the loop again at once.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

pub struct Server {
    dir: OwnedFd,
    path: PathBuf,
    listener: UnixListener,
    /// The socket file as bound (device, inode): removed at exit only while it is still ours
    /// (another hookinit given the same run directory may have replaced it).
    bound: (u64, u64),
    /// Users allowed besides root: hookinit's own.
    uid: u32,
    reading: Vec<Reading>,
    accept_paused_until: Option<Instant>,
}

/// A connection whose request line is still coming.
struct Reading {
    stream: UnixStream,
    line: Vec<u8>,
    deadline: Instant,
}

impl Server {
    /// Makes the socket in `run_dir` (made 0700 if missing; see [`crate::run_dir`]). Its cost is
    /// a few system calls: open and fstat the directory, unlink a socket left by an earlier run,
    /// socket, bind, listen, a non-blocking flag, and an fstatat.
    pub fn open(run_dir: &Path) -> io::Result<Server> {
        let dir = crate::run_dir::open(run_dir)?;
        // A socket left by an earlier run (`docker restart` keeps /run): the directory is ours.
        match unlinkat(&dir, SOCKET_NAME, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(err) => return Err(err.into()),
        }
        // Bound beside the directory's fd, never through its path, like every file of ours
        // there: a component of the path may be writable by the main process.
        let at = format!("/proc/self/fd/{}/{SOCKET_NAME}", dir.as_raw_fd());
        let listener = UnixListener::bind(&at).map_err(|err| match err.raw_os_error() {
            Some(libc::ENOENT) => io::Error::other("binding it needs /proc"),
            _ => err,
        })?;
        listener.set_nonblocking(true)?;
        let stat = fstatat(&dir, SOCKET_NAME, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        Ok(Server {
            dir,
            path: run_dir.join(SOCKET_NAME),
            listener,
            bound: (stat.st_dev, stat.st_ino),
            uid: nix::unistd::geteuid().as_raw(),
            reading: Vec::new(),
            accept_paused_until: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the event loop polls for reading: the listener while more clients may be read, and
    /// every connection whose request is still coming.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        let listener = self
            .accepting(Instant::now())
            .then(|| self.listener.as_fd());
        listener
            .into_iter()
            .chain(self.reading.iter().map(|r| r.stream.as_fd()))
    }

    /// When the event loop must call [`Server::next_request`] even if no fd is ready: a client's
    /// time to send is up, or the listener's rest is over.
    pub fn deadline(&self) -> Option<Instant> {
        self.reading
            .iter()
            .map(|r| r.deadline)
            .chain(self.accept_paused_until)
            .min()
    }

    fn accepting(&self, now: Instant) -> bool {
        self.reading.len() < MAX_CLIENTS && self.accept_paused_until.is_none_or(|t| now >= t)
    }

    /// Accepts and reads what is there without blocking; returns a request read whole, with the
    /// connection to answer it on. Call again until it returns `None`.
    pub fn next_request(&mut self) -> Option<(Request, Client)> {
        let now = Instant::now();
        if self.accept_paused_until.is_some_and(|t| now >= t) {
            self.accept_paused_until = None;
        }
        while self.accepting(now) {
            match self.listener.accept() {
                Ok((stream, _)) => self.admit(stream, now),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    crate::debug!("hookinit ctl: accept failed: {err}");
                    self.accept_paused_until = Some(now + ACCEPT_PAUSE);
                }
            }
        }
        let mut i = 0;
        while i < self.reading.len() {
            let read = self.reading[i].read();
            if read == Got::Waiting && self.reading[i].deadline > now {
                i += 1;
                continue;
            }
            let client = Client::new(self.reading.remove(i).stream);
            match read {
                Got::Line(Ok(request)) => return Some((request, client)),
                Got::Line(Err(unknown)) => client.refuse(unknown.to_string()),
                Got::TooLong => client.refuse(format!(
                    "a request is one line of at most {MAX_REQUEST} bytes"
                )),
                Got::Waiting => client.refuse(format!(
                    "no request within {}",
                    humantime::format_duration(REQUEST_WITHIN)
                )),
                Got::Gone => {}
            }
        }
        None
    }

    /// Root and hookinit's own user may ask; anyone else gets one line.
    fn admit(&mut self, stream: UnixStream, now: Instant) {
        if let Err(err) = stream.set_nonblocking(true) {
            crate::debug!("hookinit ctl: {err}");
            return;
        }
        match peer::of(stream.as_fd()) {
            Ok(peer) if peer.uid == 0 || peer.uid == self.uid => {}
            Ok(peer) => {
                crate::info!(
                    "hookinit ctl: refused process {} of uid {}",
                    peer.pid,
                    peer.uid
                );
                let also = if self.uid == 0 {
                    String::new()
                } else {
                    format!(" and uid {}", self.uid)
                };
                Client::new(stream).refuse(format!(
                    "permission denied: only root{also} may use hookinit ctl (you are uid {})",
                    peer.uid
                ));
                return;
            }
            Err(err) => {
                crate::debug!("hookinit ctl: SO_PEERCRED: {err}");
                return;
            }
        }
        self.reading.push(Reading {
            stream,
            line: Vec::with_capacity(MAX_REQUEST),
            deadline: now + REQUEST_WITHIN,
        });
    }
}

/// Removes the socket at exit, if it is still the one bound here.
impl Drop for Server {
    fn drop(&mut self) {
        let ours = fstatat(&self.dir, SOCKET_NAME, AtFlags::AT_SYMLINK_NOFOLLOW)
            .is_ok_and(|st| (st.st_dev, st.st_ino) == self.bound);
        if ours {
            let _ = unlinkat(&self.dir, SOCKET_NAME, UnlinkatFlags::NoRemoveDir);
        }
    }
}

#[derive(Debug, PartialEq)]
enum Got {
    Waiting,
    Line(Result<Request, UnknownRequest>),
    TooLong,
    /// Closed before a whole line, or broken.
    Gone,
}

impl Reading {
    fn read(&mut self) -> Got {
        let mut chunk = [0u8; MAX_REQUEST];
        loop {
            let room = MAX_REQUEST - self.line.len();
            if room == 0 {
                return Got::TooLong;
            }
            match (&self.stream).read(&mut chunk[..room]) {
                Ok(0) => return Got::Gone,
                Ok(n) => {
                    self.line.extend_from_slice(&chunk[..n]);
                    if let Some(end) = self.line.iter().position(|&b| b == b'\n') {
                        let text = String::from_utf8_lossy(&self.line[..end]);
                        return Got::Line(text.parse());
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Got::Waiting,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Got::Gone,
            }
        }
    }
}

/// A connection whose request was read: the answer goes back on it, then it is closed.
pub struct Client {
    stream: UnixStream,
    broken: bool,
}

impl Client {
    fn new(stream: UnixStream) -> Client {
        Client {
            stream,
            broken: false,
        }
    }

    /// A line of the answer before its last (a status block, a restart's progress).
    pub fn say(&mut self, line: &str) {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.send(&bytes);
    }

    /// The last line: done.
    pub fn done(mut self, text: impl Into<String>) {
        self.say(&Outcome::Done(text.into()).to_string());
    }

    /// The last line: refused or failed.
    pub fn refuse(mut self, text: impl Into<String>) {
        self.say(&Outcome::Refused(text.into()).to_string());
    }

    /// Never blocks and never raises SIGPIPE: an answer is a few hundred bytes, which a fresh
    /// connection's buffer always holds; a client that went away loses the rest of it.
    fn send(&mut self, bytes: &[u8]) {
        if self.broken {
            return;
        }
        // SAFETY: send(2) reads `bytes.len()` bytes from a live slice, on our own socket.
        let sent = unsafe {
            libc::send(
                self.stream.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if sent != bytes.len() as isize {
            self.broken = true;
        }
    }
}
