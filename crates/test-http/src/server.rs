//! The listener, one thread per connection, and the shutdown on drop.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::Reply;

/// An HTTP/1.1 server on 127.0.0.1 (a free port) that answers each path with its [`Reply`]
/// (404 for a path without one), one request per connection, until it is dropped.
///
/// Dropping it stops the listener, closes every connection still open (stalled ones included)
/// and joins its threads.
pub struct HttpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    routes: Mutex<HashMap<String, Reply>>,
    state: Mutex<State>,
    /// Signalled when a request comes and when the server stops.
    changed: Condvar,
}

#[derive(Default)]
struct State {
    stopping: bool,
    /// Connections accepted so far; each one's number while it is open.
    connections: usize,
    requests: Vec<String>,
    /// A handle on every connection still open, to close it on drop, by connection number.
    open: HashMap<usize, TcpStream>,
    workers: Vec<JoinHandle<()>>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves valid state behind: keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn routes(&self) -> MutexGuard<'_, HashMap<String, Reply>> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl HttpServer {
    /// Listens on 127.0.0.1 at a port the kernel picks, with no routes yet.
    pub fn start() -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("the listener's address");
        let shared = Arc::new(Shared {
            routes: Mutex::default(),
            state: Mutex::default(),
            changed: Condvar::new(),
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::spawn(move || accept(listener, &shared))
        };
        HttpServer {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Answers requests for `path` (`/name` or `name`; a query is part of the path) with
    /// `reply` from now on, replacing any earlier reply; returns its URL.
    pub fn route(&self, path: &str, reply: Reply) -> String {
        let path = format!("/{}", path.trim_start_matches('/'));
        let url = self.url(&path);
        self.shared.routes().insert(path, reply);
        url
    }

    /// `http://127.0.0.1:PORT/PATH` (with or without the leading `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The request lines seen so far (`GET /a.tar HTTP/1.1`), in the order they came. A request
    /// is recorded before it is answered: once a client has its answer, its request is here.
    pub fn requests(&self) -> Vec<String> {
        self.shared.state().requests.clone()
    }

    /// Waits until `n` requests have come in all (answered or not: a [`Reply::silence`] route
    /// never answers); panics after `within`.
    pub fn wait_for_requests(&self, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        let mut state = self.shared.state();
        while state.requests.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{} of {n} requests to {} after {within:?}: {:?}",
                state.requests.len(),
                self.addr,
                state.requests
            );
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let open = {
            let mut state = self.shared.state();
            state.stopping = true;
            std::mem::take(&mut state.open)
        };
        self.shared.changed.notify_all();
        // Unblocks connection threads reading a request that never comes or writing to a client
        // that does not read.
        for stream in open.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // accept() returns only for a connection: make one, which it sees as the end.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let workers = std::mem::take(&mut self.shared.state().workers);
        for worker in workers {
            let _ = worker.join();
        }
    }
}

fn accept(listener: TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let id = {
            let mut state = shared.state();
            if state.stopping {
                return;
            }
            let Ok(handle) = stream.try_clone() else {
                continue;
            };
            let id = state.connections;
            state.connections += 1;
            state.open.insert(id, handle);
            id
        };
        let worker = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                serve(&stream, &shared);
                shared.state().open.remove(&id);
            })
        };
        shared.state().workers.push(worker);
    }
}

/// Reads one request, answers it from the routes, and holds the connection while the reply
/// stalls.
fn serve(stream: &TcpStream, shared: &Shared) {
    let Some(request_line) = read_request_head(stream) else {
        return;
    };
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    shared.state().requests.push(request_line);
    shared.changed.notify_all();
    let reply = shared
        .routes()
        .get(&path)
        .cloned()
        .unwrap_or_else(Reply::not_found);
    let mut writer = stream;
    if writer.write_all(&reply.wire(method != "HEAD")).is_err() {
        return;
    }
    let _ = writer.flush();
    if reply.stalls() {
        let mut state = shared.state();
        while !state.stopping {
            state = shared
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// The request line, once the whole head (up to the empty line) has come; `None` if the client
/// hung up first.
fn read_request_head(stream: &TcpStream) -> Option<String> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    Some(request_line.trim_end().to_string())
}
