//! What the server answers on a route, and those bytes on the wire.

/// An answer to one request, built from a constructor and adjusted by the methods below.
///
/// Every reply is HTTP/1.1 with `Connection: close` and ends its connection, except a stalled
/// one ([`Reply::then_stall`], [`Reply::silence`]), which the server holds open until it is
/// dropped.
#[derive(Clone, Debug)]
pub struct Reply {
    /// `None`: nothing at all is written (see [`Reply::silence`]).
    head: Option<Head>,
    body: Vec<u8>,
    stall: bool,
}

#[derive(Clone, Debug)]
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
    length: Length,
}

/// How the end of the body is told to the client.
#[derive(Clone, Copy, Debug)]
enum Length {
    /// `Content-Length` of the body.
    Declared,
    /// `Content-Length` of this many bytes, whatever the body.
    Claimed(u64),
    /// No length: the body ends when the connection closes.
    CloseDelimited,
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Bytes per chunk of a chunked body: small, so that a body of a few KiB takes several.
const CHUNK: usize = 1024;

impl Reply {
    /// `200 OK` with `body` as `application/octet-stream`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply::status(200, body).header("Content-Type", "application/octet-stream")
    }

    /// Any status with `body` (and no other header than the length and `Connection: close`).
    pub fn status(code: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            head: Some(Head {
                status: code,
                headers: Vec::new(),
                length: Length::Declared,
            }),
            body: body.into(),
            stall: false,
        }
    }

    /// `404 Not Found` with a small HTML page: what a path without a route gets.
    pub fn not_found() -> Reply {
        Reply::status(404, "<html><body>404 Not Found</body></html>")
            .header("Content-Type", "text/html")
    }

    /// A redirect (`code` 301, 302, 303, 307 or 308) to `location`, as written (relative or
    /// absolute), with an empty body.
    pub fn redirect(code: u16, location: &str) -> Reply {
        Reply::status(code, Vec::new()).header("Location", location)
    }

    /// Accepts the connection, reads the request and never answers: the connection stays open
    /// until the server is dropped.
    pub fn silence() -> Reply {
        Reply {
            head: None,
            body: Vec::new(),
            stall: true,
        }
    }

    /// Adds a header line.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        if let Some(head) = &mut self.head {
            head.headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// Declares `Content-Length: len` whatever the body is: with `len` past the body and
    /// [`Reply::then_stall`], a download that stops part way.
    pub fn content_length(self, len: u64) -> Reply {
        self.length(Length::Claimed(len))
    }

    /// Declares no length: the body ends when the connection closes (a stream whose size the
    /// client learns only as it reads).
    pub fn close_delimited(self) -> Reply {
        self.length(Length::CloseDelimited)
    }

    /// Sends the body with `Transfer-Encoding: chunked`, in chunks of 1 KiB.
    pub fn chunked(self) -> Reply {
        self.length(Length::Chunked)
    }

    /// After the reply, holds the connection open until the server is dropped instead of
    /// closing it: the client waits for the rest of a body that never comes.
    pub fn then_stall(mut self) -> Reply {
        self.stall = true;
        self
    }

    fn length(mut self, length: Length) -> Reply {
        if let Some(head) = &mut self.head {
            head.length = length;
        }
        self
    }

    /// Whether the connection is held open once [`Reply::wire`] is written.
    pub(crate) fn stalls(&self) -> bool {
        self.stall
    }

    /// The bytes to write: the head, and the body unless the request was a `HEAD`.
    pub(crate) fn wire(&self, with_body: bool) -> Vec<u8> {
        let Some(head) = &self.head else {
            return Vec::new();
        };
        let mut out = format!("HTTP/1.1 {} {}\r\n", head.status, reason(head.status));
        match head.length {
            Length::Declared => out += &format!("Content-Length: {}\r\n", self.body.len()),
            Length::Claimed(len) => out += &format!("Content-Length: {len}\r\n"),
            Length::CloseDelimited => {}
            Length::Chunked => out += "Transfer-Encoding: chunked\r\n",
        }
        for (name, value) in &head.headers {
            out += &format!("{name}: {value}\r\n");
        }
        out += "Connection: close\r\n\r\n";
        let mut wire = out.into_bytes();
        if !with_body {
            return wire;
        }
        match head.length {
            Length::Chunked => {
                for chunk in self.body.chunks(CHUNK) {
                    wire.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    wire.extend_from_slice(chunk);
                    wire.extend_from_slice(b"\r\n");
                }
                wire.extend_from_slice(b"0\r\n\r\n");
            }
            _ => wire.extend_from_slice(&self.body),
        }
        wire
    }
}

/// The reason phrase of the statuses tests use; clients go by the code.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(reply: &Reply) -> String {
        String::from_utf8(reply.wire(true)).unwrap()
    }

    #[test]
    fn lengths_are_declared_claimed_left_out_or_chunked() {
        assert_eq!(
            text(&Reply::ok("abc")),
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\
             Content-Type: application/octet-stream\r\nConnection: close\r\n\r\nabc"
        );
        assert_eq!(
            text(&Reply::status(200, "ab").content_length(100)),
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nab"
        );
        assert_eq!(
            text(&Reply::status(200, "ab").close_delimited()),
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nab"
        );
        let body = vec![b'x'; CHUNK + 1];
        let chunked = text(&Reply::status(200, body).chunked());
        let expected = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
             400\r\n{}\r\n1\r\nx\r\n0\r\n\r\n",
            "x".repeat(CHUNK)
        );
        assert_eq!(chunked, expected);
    }

    #[test]
    fn head_requests_get_no_body_and_silence_gets_nothing() {
        let head = String::from_utf8(Reply::status(503, "busy").wire(false)).unwrap();
        assert_eq!(
            head,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            text(&Reply::redirect(302, "/b")),
            "HTTP/1.1 302 Found\r\nContent-Length: 0\r\nLocation: /b\r\nConnection: close\r\n\r\n"
        );
        assert!(Reply::silence().wire(true).is_empty());
        assert!(Reply::silence().stalls() && !Reply::ok("").stalls());
        assert!(Reply::ok("").then_stall().stalls());
    }
}
