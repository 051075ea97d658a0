//! A loopback HTTP/1.1 server for hookinit's tests (a dev-dependency only): the downloads of
//! `hookinit-fetch`, fstree and plugins fetched by URL, and containers on the host network.
//!
//! ```no_run
//! use hookinit_test_http::{HttpServer, Reply};
//! # fn download(_url: &str) {}
//!
//! let server = HttpServer::start(); // 127.0.0.1, a port the kernel picks
//! let url = server.route("/fix.tar.gz", Reply::ok(b"tarball"));
//! server.route("/old", Reply::redirect(302, "/fix.tar.gz"));
//! server.route("/slow", Reply::ok(b"part").content_length(1000).then_stall());
//! server.route("/hang", Reply::silence());
//! download(&url); // the code under test
//! assert_eq!(server.requests(), ["GET /fix.tar.gz HTTP/1.1"]);
//! drop(server); // the listener stops and every connection still open is closed
//! ```
//!
//! Each connection carries one request and gets one [`Reply`], chosen by the request's path
//! (a 404 page for a path without a route), and is then closed. A reply can lie about or leave
//! out its length, be chunked, or stall: stalled connections stay open until the server is
//! dropped, so a test never waits on a timer. [`HttpServer::requests`] is what was asked, and
//! [`HttpServer::wait_for_requests`] lets a test act once a client has asked (and waits for
//! the answer).

mod reply;
mod server;

pub use reply::Reply;
pub use server::HttpServer;

/// A port on 127.0.0.1 where nothing listens (bound, then released): connecting is refused.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener
        .local_addr()
        .expect("the listener's address")
        .port()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    const WAIT: Duration = Duration::from_secs(30);

    /// Sends `request` and returns all the server wrote until it closed the connection.
    fn exchange(server: &HttpServer, request: &str) -> String {
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    fn get(server: &HttpServer, path: &str) -> String {
        exchange(server, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
    }

    #[test]
    fn routes_answer_their_path_and_others_get_404() {
        let server = HttpServer::start();
        let url = server.route("a.tar", Reply::ok(b"tarball"));
        assert_eq!(url, format!("http://127.0.0.1:{}/a.tar", server.port()));
        assert!(get(&server, "/a.tar").ends_with("\r\n\r\ntarball"));
        assert!(get(&server, "/b.tar").starts_with("HTTP/1.1 404 Not Found\r\n"));
        server.route("/a.tar", Reply::redirect(301, "/b.tar"));
        assert!(get(&server, "/a.tar").contains("\r\nLocation: /b.tar\r\n"));
        let head = exchange(&server, "HEAD /b.tar HTTP/1.1\r\n\r\n");
        assert!(head.ends_with("\r\n\r\n"), "no body for HEAD: {head:?}");
        assert_eq!(
            server.requests(),
            [
                "GET /a.tar HTTP/1.1",
                "GET /b.tar HTTP/1.1",
                "GET /a.tar HTTP/1.1",
                "HEAD /b.tar HTTP/1.1"
            ]
        );
    }

    #[test]
    fn a_stalled_reply_holds_the_connection_until_the_server_is_dropped() {
        let server = HttpServer::start();
        server.route("/slow", Reply::ok(b"part").content_length(10).then_stall());
        server.route("/hang", Reply::silence());
        let mut slow = TcpStream::connect(server.addr()).unwrap();
        slow.write_all(b"GET /slow HTTP/1.1\r\n\r\n").unwrap();
        let mut hang = TcpStream::connect(server.addr()).unwrap();
        hang.write_all(b"GET /hang HTTP/1.1\r\n\r\n").unwrap();
        // The head and "part" come, and the connection stays open: the rest comes at the drop.
        let mut seen = Vec::new();
        while !seen.ends_with(b"\r\n\r\npart") {
            let mut buf = [0u8; 256];
            let n = slow.read(&mut buf).unwrap();
            assert!(
                n > 0,
                "closed early after {:?}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
        assert!(String::from_utf8_lossy(&seen).contains("Content-Length: 10\r\n"));
        server.wait_for_requests(2, WAIT);
        // Each connection has a thread: the two requests are recorded in either order.
        let mut seen = server.requests();
        seen.sort();
        assert_eq!(seen, ["GET /hang HTTP/1.1", "GET /slow HTTP/1.1"]);
        let addr = server.addr();
        drop(server);
        assert!(TcpStream::connect(addr).is_err(), "still listening");
        let (mut rest, mut nothing) = (Vec::new(), Vec::new());
        slow.read_to_end(&mut rest).unwrap();
        hang.read_to_end(&mut nothing).unwrap();
        assert!(
            rest.is_empty() && nothing.is_empty(),
            "{rest:?} {nothing:?}"
        );
    }

    #[test]
    fn nothing_listens_on_a_closed_port() {
        assert!(TcpStream::connect(("127.0.0.1", closed_port())).is_err());
    }
}
