//! Downloads for `fstree=URL` and for plugins with a network grant.
//!
//! Sources: `http://`, `https://` (rustls, bundled web PKI roots, so an image without
//! ca-certificates still works; the `https` feature, see `HTTPS_MISSING`), `file://` and plain
//! paths. The body streams to the destination file while its sha256 is computed; nothing is
//! kept in memory and nothing is written for a non-2xx answer (the ceph original unpacked the
//! server's HTML 404 page).
//!
//! Redirects are followed here rather than by ureq so that every hop's host is checked against
//! the grant *before* connecting to it, and so that a redirect to another scheme (`file://`) is
//! refused. Proxies follow curl's rules: `https_proxy`/`HTTPS_PROXY` for https,
//! `http_proxy`/`HTTP_PROXY` for http, `ALL_PROXY` for both, `NO_PROXY` to bypass.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use ureq::http::{StatusCode, Uri};

use hookinit_values::show::{human_bytes, human_duration};
use hookinit_values::{HostGrant, Sha256Pin};

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(300);
/// Default download cap: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
pub const DEFAULT_MAX_REDIRECTS: u32 = 10;

const BUF_SIZE: usize = 128 * 1024;

/// Why an `https://` URL is refused by a build without the `https` feature (the smallest build,
/// `--no-default-features`); `None` when https works. DEBUG and the config file accept such a
/// URL in every build (one grammar); the download is what fails, with this line.
const HTTPS_MISSING: Option<&str> = if cfg!(feature = "https") {
    None
} else {
    Some(
        "this hookinit was built without https (cargo feature `https`); \
         use an http:// URL pinned with sha256=HEX, a file, or the standard build",
    )
};

/// How to fetch. `Default` is what the built-in `fstree` uses.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Time to establish the connection (DNS, TCP, proxy, TLS).
    pub connect_timeout: Duration,
    /// Time for everything, redirects and body included.
    pub total_timeout: Duration,
    /// Largest body accepted.
    pub max_bytes: u64,
    pub max_redirects: u32,
    /// Hosts the fetch may reach, each `host` (any port) or `host:port` (`[v6]:port` for IPv6),
    /// checked on the URL and on every redirect before connecting. `None` allows any host
    /// (built-in plugins); an operator's plugin gets exactly its grant.
    pub allowed_hosts: Option<Vec<HostGrant>>,
    /// Whether `file://` URLs and plain paths are accepted. A caller acting for a plugin turns
    /// this off unless it has checked the path against the plugin's read grant.
    pub allow_local: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            total_timeout: DEFAULT_TOTAL_TIMEOUT,
            max_bytes: DEFAULT_MAX_BYTES,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            allowed_hosts: None,
            allow_local: true,
        }
    }
}

/// A finished download; its `Display` is the line the caller logs.
#[derive(Debug, Clone)]
pub struct FetchReport {
    /// Where the data came from after redirects (credentials masked).
    pub url: String,
    pub bytes: u64,
    pub sha256: Sha256Pin,
    pub elapsed: Duration,
}

impl std::fmt::Display for FetchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fetched {} from {} (sha256 {}) in {}",
            human_bytes(self.bytes),
            self.url,
            self.sha256,
            human_duration(self.elapsed)
        )
    }
}

/// Why a fetch failed: one line naming the URL (credentials masked) and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{what} for {url}; check the URL or path")]
    NotFound { url: String, what: String },
    #[error("HTTP {status} {reason} for {url}; the server refused the download")]
    HttpStatus {
        url: String,
        status: u16,
        reason: String,
    },
    #[error(
        "timed out after {} fetching {url} ({detail}); check the network or raise the timeout",
        human_duration(*after)
    )]
    Timeout {
        url: String,
        after: Duration,
        detail: String,
    },
    #[error(
        "cannot fetch {url}: {detail}; check the host name, the network and HTTP(S)_PROXY/NO_PROXY"
    )]
    Connect { url: String, detail: String },
    #[error("fetching {url} is denied: {reason}")]
    Denied { url: String, reason: String },
    #[error("{url} is larger than the {} download cap; raise the cap if this is expected", human_bytes(*limit))]
    TooLarge { url: String, limit: u64 },
    #[error("more than {limit} redirects fetching {url}; the server is redirecting in a loop")]
    TooManyRedirects { url: String, limit: u32 },
    #[error("invalid source {url:?}: {detail}")]
    InvalidSource { url: String, detail: String },
    #[error("fetching {url}: {path}: {source}")]
    Io {
        url: String,
        path: PathBuf,
        source: io::Error,
    },
}

/// Copies `source` (`http://`, `https://`, `file://` or a path) to the file `dest`, replacing
/// it. On error a partly written `dest` is removed; a `dest` that was never opened is left as
/// it was.
pub fn fetch_to_file(
    source: &str,
    dest: &Path,
    opts: &FetchOptions,
) -> Result<FetchReport, FetchError> {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    let start = Instant::now();
    // Clamped so that an absurd timeout cannot overflow the clock.
    let deadline = start + opts.total_timeout.min(CENTURY);
    let source = source.trim();
    match classify(source)? {
        Source::Http(url) => fetch_http(&url, dest, opts, start, deadline),
        Source::Local(_) if !opts.allow_local => Err(FetchError::Denied {
            url: source.to_string(),
            reason: "local files are not granted to this caller".into(),
        }),
        Source::Local(path) => fetch_local(&path, source, dest, opts, start, deadline),
    }
}

enum Source {
    Http(String),
    Local(PathBuf),
}

fn classify(source: &str) -> Result<Source, FetchError> {
    let invalid = |detail: &str| FetchError::InvalidSource {
        url: redact(source),
        detail: detail.into(),
    };
    if source.is_empty() {
        return Err(invalid("empty"));
    }
    match scheme_of(source).map(str::to_ascii_lowercase).as_deref() {
        Some("https") if let Some(why) = HTTPS_MISSING => Err(invalid(why)),
        Some("http" | "https") => Ok(Source::Http(source.to_string())),
        Some("file") => file_url_path(source)
            .map(Source::Local)
            .ok_or_else(|| invalid("a file URL names a local path: file:///path/to/archive")),
        Some(_) => Err(invalid(
            "unsupported scheme; use http, https, file or a plain path",
        )),
        None => Ok(Source::Local(PathBuf::from(source))),
    }
}

/// The scheme of `scheme://...`; a plain path (even one holding a colon) has none.
fn scheme_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    (valid && !rest.is_empty()).then_some(scheme)
}

/// `file:///p` or `file://localhost/p` to a path, percent-decoded; query and fragment dropped.
fn file_url_path(url: &str) -> Option<PathBuf> {
    let rest = &url["file://".len()..];
    let rest = if rest.len() >= 9 && rest[..9].eq_ignore_ascii_case("localhost") {
        &rest[9..]
    } else {
        rest
    };
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    path.starts_with('/')
        .then(|| PathBuf::from(std::ffi::OsString::from_vec(percent_decode(path))))
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match decoded {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// Masks the password of `scheme://user:password@host/...` for messages and logs.
fn redact(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        // `user:password@` keeps the user; a bare `token@` is all secret.
        Some(at) => match url[start..start + at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..start], &url[start + at..]),
            None => format!("{}***{}", &url[..start], &url[start + at..]),
        },
        None => url.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Local files

fn fetch_local(
    path: &Path,
    url: &str,
    dest: &Path,
    opts: &FetchOptions,
    start: Instant,
    deadline: Instant,
) -> Result<FetchReport, FetchError> {
    let io_err = |source| FetchError::Io {
        url: url.to_string(),
        path: path.to_path_buf(),
        source,
    };
    // Opened without blocking (a fifo would wait for a writer), then checked as opened: a path
    // swapped between a check and the open cannot slip a fifo or a device in.
    let opened = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let mut file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(FetchError::NotFound {
                url: url.to_string(),
                what: "no such file".into(),
            });
        }
        Err(e) => return Err(io_err(e)),
    };
    let meta = file.metadata().map_err(io_err)?;
    let invalid = |detail: &str| FetchError::InvalidSource {
        url: url.to_string(),
        detail: detail.into(),
    };
    if !meta.is_file() {
        // A fifo or device would block or never end.
        return Err(invalid(
            "not a regular file (a fifo, a device or a directory)",
        ));
    }
    if fs::metadata(dest).is_ok_and(|d| (d.dev(), d.ino()) == (meta.dev(), meta.ino())) {
        return Err(invalid("the source is the destination file itself"));
    }
    if meta.len() > opts.max_bytes {
        return Err(FetchError::TooLarge {
            url: url.to_string(),
            limit: opts.max_bytes,
        });
    }
    let sink = Sink {
        url,
        dest,
        max_bytes: opts.max_bytes,
        deadline,
        total: opts.total_timeout,
    };
    let (bytes, sha256) = sink.save(&mut file, io_err)?;
    Ok(FetchReport {
        url: url.to_string(),
        bytes,
        sha256,
        elapsed: start.elapsed(),
    })
}

// ---------------------------------------------------------------------------------------------
// HTTP

fn fetch_http(
    url: &str,
    dest: &Path,
    opts: &FetchOptions,
    start: Instant,
    deadline: Instant,
) -> Result<FetchReport, FetchError> {
    let agent = ureq::Agent::config_builder()
        .timeout_connect(Some(opts.connect_timeout))
        // Redirects are ours, to check each hop's host before connecting.
        .max_redirects(0)
        .http_status_as_error(false)
        // Chosen per request from the URL's scheme and NO_PROXY.
        .proxy(None)
        .user_agent(concat!("hookinit/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent();

    let mut current = url.to_string();
    for _ in 0..=opts.max_redirects {
        let shown = redact(&current);
        let uri = checked_uri(&current, opts)?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            let detail = "before the request".to_string();
            return Err(FetchError::Timeout {
                url: shown,
                after: opts.total_timeout,
                detail,
            });
        }
        let proxy = proxy_for(&uri).map_err(|detail| FetchError::Connect {
            url: shown.clone(),
            detail,
        })?;
        let response = agent
            .get(&current)
            .config()
            .timeout_global(Some(remaining))
            .proxy(proxy)
            .build()
            .call()
            .map_err(|e| transport_error(e, &shown, opts))?;

        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok());
        if status.is_redirection()
            && let Some(location) = location
        {
            current = resolve_location(&uri, location);
            continue;
        }
        if !status.is_success() {
            return Err(status_error(status, shown));
        }
        let declared = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|len| len > opts.max_bytes) {
            return Err(FetchError::TooLarge {
                url: shown,
                limit: opts.max_bytes,
            });
        }
        let mut body = response.into_body().into_reader();
        let sink = Sink {
            url: &shown,
            dest,
            max_bytes: opts.max_bytes,
            deadline,
            total: opts.total_timeout,
        };
        let (bytes, sha256) = sink.save(&mut body, |e| {
            transport_error(ureq::Error::from(e), &shown, opts)
        })?;
        return Ok(FetchReport {
            url: shown,
            bytes,
            sha256,
            elapsed: start.elapsed(),
        });
    }
    Err(FetchError::TooManyRedirects {
        url: redact(url),
        limit: opts.max_redirects,
    })
}

/// Parses a hop's URL and checks its scheme and host against the grant.
fn checked_uri(url: &str, opts: &FetchOptions) -> Result<Uri, FetchError> {
    let shown = redact(url);
    let uri: Uri =
        url.parse()
            .map_err(|e: ureq::http::uri::InvalidUri| FetchError::InvalidSource {
                url: shown.clone(),
                detail: e.to_string(),
            })?;
    // Only reachable through a redirect: the first URL was classified as http(s).
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        let reason = "redirected to a scheme other than http or https".into();
        return Err(FetchError::Denied { url: shown, reason });
    }
    if uri.scheme_str() == Some("https")
        && let Some(why) = HTTPS_MISSING
    {
        let reason = format!("redirected to https: {why}");
        return Err(FetchError::Denied { url: shown, reason });
    }
    let Some(host) = host_of(&uri) else {
        return Err(FetchError::InvalidSource {
            url: shown,
            detail: "no host".into(),
        });
    };
    if let Some(allowed) = &opts.allowed_hosts
        && !allowed
            .iter()
            .any(|grant| grant.allows(&host, port_of(&uri)))
    {
        let granted = if allowed.is_empty() {
            "none".to_string()
        } else {
            let names: Vec<String> = allowed.iter().map(HostGrant::to_string).collect();
            names.join(", ")
        };
        let reason = format!(
            "host {host}:{} is not granted (granted: {granted})",
            port_of(&uri)
        );
        return Err(FetchError::Denied { url: shown, reason });
    }
    Ok(uri)
}

/// Lower-case host without IPv6 brackets or a trailing dot.
fn host_of(uri: &Uri) -> Option<String> {
    let host = uri
        .host()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.');
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn port_of(uri: &Uri) -> u16 {
    uri.port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        })
}

/// The proxy for this URL from the environment, with curl's variable names and `NO_PROXY` rules.
fn proxy_for(uri: &Uri) -> Result<Option<ureq::Proxy>, String> {
    let host = host_of(uri).unwrap_or_default();
    // Like Go's net/http: a proxy cannot reach this container's own loopback.
    if is_loopback(&host) {
        return Ok(None);
    }
    if env_first(&["no_proxy", "NO_PROXY"]).is_some_and(|list| no_proxy_matches(&list, &host)) {
        return Ok(None);
    }
    let names: &[&str] = if uri.scheme_str() == Some("https") {
        &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    } else {
        &["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
    };
    let Some(value) = env_first(names) else {
        return Ok(None);
    };
    ureq::Proxy::new(&value)
        .map(Some)
        .map_err(|e| format!("invalid proxy {:?}: {e}", redact(&value)))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn env_first(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
}

/// curl's `NO_PROXY`: `*`, host names matching themselves and their subdomains (a leading `.` or
/// `*.` is ignored), IP addresses and CIDR ranges; an optional `:port` is ignored.
fn no_proxy_matches(list: &str, host: &str) -> bool {
    let ip: Option<IpAddr> = host.parse().ok();
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.to_ascii_lowercase();
            let entry = entry.trim_start_matches("*.").trim_start_matches('.');
            if let (Some(ip), Some((net, bits))) = (ip, entry.split_once('/')) {
                return in_cidr(ip, net, bits);
            }
            let name = match split_host_port(entry) {
                (name, Some(_)) => name,
                _ => entry,
            };
            host == name
                || host
                    .strip_suffix(name)
                    .is_some_and(|prefix| prefix.ends_with('.'))
        })
}

/// A `NO_PROXY` entry's host: `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
fn split_host_port(entry: &str) -> (&str, Option<&str>) {
    if let Some(rest) = entry.strip_prefix('[')
        && let Some((host, tail)) = rest.split_once(']')
    {
        return (host, tail.strip_prefix(':'));
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (entry, None),
    }
}

fn in_cidr(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    let (addr, net, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u128::from(u32::from(a)), u128::from(u32::from(n)), 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    if bits > width {
        return false;
    }
    let shift = width - bits;
    shift >= 128 || (addr >> shift) == (net >> shift)
}

/// The absolute URL a `Location` header points at, relative to the request's URL (RFC 3986
/// resolution: `..` and `.` segments are removed, as a browser or curl does).
fn resolve_location(base: &Uri, location: &str) -> String {
    let location = location.trim();
    match url::Url::parse(&base.to_string()).and_then(|base| base.join(location)) {
        Ok(url) => url.to_string(),
        // Not a URL relative to the base: the hop's own check says what is wrong with it.
        Err(_) => location.to_string(),
    }
}

fn status_error(status: StatusCode, url: String) -> FetchError {
    let reason = status.canonical_reason().unwrap_or("").to_string();
    match status.as_u16() {
        404 | 410 => FetchError::NotFound {
            url,
            what: format!("HTTP {} {reason}", status.as_u16()),
        },
        code => FetchError::HttpStatus {
            url,
            status: code,
            reason,
        },
    }
}

fn transport_error(e: ureq::Error, url: &str, opts: &FetchOptions) -> FetchError {
    let url = url.to_string();
    match e {
        ureq::Error::Timeout(which) => {
            let after = if which == ureq::Timeout::Connect {
                opts.connect_timeout
            } else {
                opts.total_timeout
            };
            FetchError::Timeout {
                url,
                after,
                detail: format!("{which} timeout"),
            }
        }
        ureq::Error::HostNotFound => FetchError::Connect {
            url,
            detail: "host not found".into(),
        },
        ureq::Error::Io(io) => FetchError::Connect {
            url,
            detail: io.to_string(),
        },
        ureq::Error::BadUri(detail) => FetchError::InvalidSource { url, detail },
        other => FetchError::Connect {
            url,
            detail: other.to_string(),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Streams a body to the destination file, hashing and counting as it goes.
struct Sink<'a> {
    url: &'a str,
    dest: &'a Path,
    max_bytes: u64,
    deadline: Instant,
    total: Duration,
}

impl Sink<'_> {
    fn save(
        &self,
        body: &mut dyn Read,
        read_err: impl Fn(io::Error) -> FetchError,
    ) -> Result<(u64, Sha256Pin), FetchError> {
        let write_err = |source| FetchError::Io {
            url: self.url.to_string(),
            path: self.dest.to_path_buf(),
            source,
        };
        let mut file = File::create(self.dest).map_err(write_err)?;
        let copied = self.copy(body, &mut file, read_err);
        if copied.is_err() {
            drop(file);
            let _ = fs::remove_file(self.dest);
        }
        copied
    }

    fn copy(
        &self,
        body: &mut dyn Read,
        file: &mut File,
        read_err: impl Fn(io::Error) -> FetchError,
    ) -> Result<(u64, Sha256Pin), FetchError> {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; BUF_SIZE];
        let mut total = 0u64;
        loop {
            // ureq enforces the deadline on the network; this covers slow local files too.
            if Instant::now() > self.deadline {
                let detail = "while reading the data".to_string();
                return Err(FetchError::Timeout {
                    url: self.url.to_string(),
                    after: self.total,
                    detail,
                });
            }
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_err(e)),
            };
            total += n as u64;
            if total > self.max_bytes {
                return Err(FetchError::TooLarge {
                    url: self.url.to_string(),
                    limit: self.max_bytes,
                });
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).map_err(|source| FetchError::Io {
                url: self.url.to_string(),
                path: self.dest.to_path_buf(),
                source,
            })?;
        }
        Ok((total, Sha256Pin::from_digest(hasher.finalize().into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookinit_test_http::{HttpServer, Reply, closed_port};
    use hookinit_values::show::hex;

    fn body(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    fn dest_in(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("download")
    }

    #[test]
    fn http_200_streams_to_the_file_with_sha256() {
        let data = body(300_000);
        let server = HttpServer::start();
        let url = server.route("/tree.tar.gz", Reply::ok(data.clone()));
        let dir = tempfile::tempdir().expect("tempdir");
        let report = fetch_to_file(&url, &dest_in(&dir), &FetchOptions::default()).expect("fetch");
        assert_eq!(fs::read(dest_in(&dir)).expect("dest"), data);
        assert_eq!(
            (report.bytes, report.url.as_str()),
            (data.len() as u64, url.as_str())
        );
        assert_eq!(report.sha256.to_string(), hex(&Sha256::digest(&data)));
        assert!(
            report
                .to_string()
                .starts_with("fetched 293.0 KiB from http://127.0.0.1:")
        );
        assert_eq!(server.requests(), ["GET /tree.tar.gz HTTP/1.1"]);
    }

    #[test]
    fn http_404_is_not_found_and_writes_nothing() {
        let server = HttpServer::start();
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dest_in(&dir), "previous").expect("dest");
        let url = server.url("/missing.tar.gz");
        let err = fetch_to_file(&url, &dest_in(&dir), &FetchOptions::default()).expect_err("404");
        assert!(matches!(err, FetchError::NotFound { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("HTTP 404 Not Found for {url}")),
            "{err}"
        );
        assert_eq!(
            fs::read(dest_in(&dir)).expect("dest"),
            b"previous",
            "no HTML page written"
        );
    }

    #[test]
    fn http_500_reports_the_status() {
        let server = HttpServer::start();
        let url = server.route("/x", Reply::status(503, "busy"));
        let dir = tempfile::tempdir().expect("tempdir");
        let err = fetch_to_file(&url, &dest_in(&dir), &FetchOptions::default()).expect_err("503");
        assert!(
            matches!(err, FetchError::HttpStatus { status: 503, .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("HTTP 503 Service Unavailable for http://127.0.0.1:"),
            "{err}"
        );
        assert!(!dest_in(&dir).exists());
    }

    #[test]
    fn connection_refused_is_a_connect_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("http://127.0.0.1:{}/x.tar", closed_port());
        let err =
            fetch_to_file(&url, &dest_in(&dir), &FetchOptions::default()).expect_err("refused");
        assert!(matches!(err, FetchError::Connect { .. }), "{err}");
        assert!(err.to_string().contains(&url), "{err}");
    }

    #[test]
    fn a_stalled_body_hits_the_total_timeout() {
        let server = HttpServer::start();
        let stalled = Reply::ok(b"partial").content_length(100_000).then_stall();
        let url = server.route("/slow", stalled);
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = FetchOptions {
            total_timeout: Duration::from_secs(1),
            ..FetchOptions::default()
        };
        let started = Instant::now();
        let err = fetch_to_file(&url, &dest_in(&dir), &opts).expect_err("timeout");
        assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(!dest_in(&dir).exists(), "the partial download is removed");
        assert_eq!(server.requests(), ["GET /slow HTTP/1.1"]);
    }

    #[test]
    fn a_redirect_to_an_ungranted_host_is_denied_before_connecting() {
        // Nothing listens on 127.0.0.2:80: connecting would be a Connect error, not Denied.
        let server = HttpServer::start();
        let url = server.route("/a.tar", Reply::redirect(302, "http://127.0.0.2/evil.tar"));
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = FetchOptions {
            allowed_hosts: Some(vec![server.addr().to_string().parse().unwrap()]),
            ..FetchOptions::default()
        };
        let err = fetch_to_file(&url, &dest_in(&dir), &opts).expect_err("denied");
        assert!(
            matches!(&err, FetchError::Denied { url, .. } if url.contains("127.0.0.2")),
            "{err}"
        );
        assert_eq!(server.requests().len(), 1);
        assert!(!dest_in(&dir).exists());
    }

    #[test]
    fn an_ungranted_first_host_is_denied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = FetchOptions {
            allowed_hosts: Some(vec!["example.com".parse().unwrap()]),
            ..FetchOptions::default()
        };
        let err =
            fetch_to_file("http://127.0.0.1:9/a.tar", &dest_in(&dir), &opts).expect_err("denied");
        assert!(matches!(err, FetchError::Denied { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("127.0.0.1:9 is not granted (granted: example.com)"),
            "{err}"
        );
    }

    #[test]
    fn redirects_within_the_grant_are_followed() {
        let data = body(1000);
        let server = HttpServer::start();
        let url = server.route("/latest", Reply::redirect(301, "/releases/v1.tar"));
        server.route("/releases/v1.tar", Reply::redirect(302, "v1-final.tar"));
        let last = server.route("/releases/v1-final.tar", Reply::ok(data.clone()));
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = FetchOptions {
            allowed_hosts: Some(vec!["127.0.0.1".parse().unwrap()]),
            ..FetchOptions::default()
        };
        let report = fetch_to_file(&url, &dest_in(&dir), &opts).expect("fetch");
        assert_eq!(report.url, last);
        assert_eq!(fs::read(dest_in(&dir)).expect("dest"), data);
        assert_eq!(
            server.requests(),
            [
                "GET /latest HTTP/1.1",
                "GET /releases/v1.tar HTTP/1.1",
                "GET /releases/v1-final.tar HTTP/1.1"
            ]
        );
    }

    #[test]
    fn redirect_loops_end() {
        let server = HttpServer::start();
        let url = server.route("/x", Reply::redirect(302, "/again"));
        server.route("/again", Reply::redirect(302, "/again"));
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = FetchOptions {
            max_redirects: 1,
            ..FetchOptions::default()
        };
        let err = fetch_to_file(&url, &dest_in(&dir), &opts).expect_err("loop");
        assert!(
            matches!(err, FetchError::TooManyRedirects { limit: 1, .. }),
            "{err}"
        );
        assert_eq!(
            server.requests(),
            ["GET /x HTTP/1.1", "GET /again HTTP/1.1"],
            "the second redirect is not followed"
        );
    }

    #[test]
    fn the_size_cap_applies_to_declared_and_streamed_bodies() {
        let data = body(4096);
        let server = HttpServer::start();
        let urls = [
            server.route("/declared", Reply::ok(data.clone())),
            server.route("/undeclared", Reply::ok(data.clone()).close_delimited()),
            server.route("/chunked", Reply::ok(data).chunked()),
        ];
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = FetchOptions {
            max_bytes: 1000,
            ..FetchOptions::default()
        };
        for url in urls {
            let err = fetch_to_file(&url, &dest_in(&dir), &opts).expect_err("too large");
            assert!(
                matches!(err, FetchError::TooLarge { limit: 1000, .. }),
                "{err}"
            );
            assert!(!dest_in(&dir).exists());
        }
    }

    #[test]
    fn file_urls_and_plain_paths_are_copied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = dir.path().join("my tree.tar");
        let data = body(5000);
        fs::write(&source, &data).expect("source");
        let plain = source.to_str().expect("utf-8").to_string();
        let url = format!("file://{}", plain.replace(' ', "%20"));
        for (i, src) in [plain, url].iter().enumerate() {
            let dest = dir.path().join(format!("copy{i}"));
            let report = fetch_to_file(src, &dest, &FetchOptions::default()).expect("fetch");
            assert_eq!(fs::read(&dest).expect("dest"), data);
            assert_eq!(report.sha256.to_string(), hex(&Sha256::digest(&data)));
        }
    }

    #[test]
    fn local_sources_fail_clearly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.tar");
        let err = fetch_to_file(
            missing.to_str().expect("utf-8"),
            &dest_in(&dir),
            &FetchOptions::default(),
        )
        .expect_err("missing");
        assert!(matches!(err, FetchError::NotFound { .. }), "{err}");
        let err = fetch_to_file(
            dir.path().to_str().expect("utf-8"),
            &dest_in(&dir),
            &FetchOptions::default(),
        )
        .expect_err("a directory");
        assert!(matches!(err, FetchError::InvalidSource { .. }), "{err}");
        // A fifo with no writer: refused at once, never waited on.
        let fifo = dir.path().join("fifo.tar");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("fifo");
        let err = fetch_to_file(
            fifo.to_str().expect("utf-8"),
            &dest_in(&dir),
            &FetchOptions::default(),
        )
        .expect_err("a fifo");
        assert!(err.to_string().contains("not a regular file"), "{err}");
        fs::write(dest_in(&dir), "x").expect("dest");
        let same = dest_in(&dir).to_str().expect("utf-8").to_string();
        let err =
            fetch_to_file(&same, &dest_in(&dir), &FetchOptions::default()).expect_err("itself");
        assert!(matches!(err, FetchError::InvalidSource { .. }), "{err}");
        let opts = FetchOptions {
            allow_local: false,
            ..FetchOptions::default()
        };
        let err = fetch_to_file("file:///etc/hostname", &dest_in(&dir), &opts).expect_err("denied");
        assert!(matches!(err, FetchError::Denied { .. }), "{err}");
    }

    /// The smallest build refuses https with one line saying why and what to use instead, at
    /// the first URL and at a redirect.
    #[cfg(not(feature = "https"))]
    #[test]
    fn https_is_refused_without_the_feature() {
        let err = classify("HTTPS://example.com/a.tgz")
            .err()
            .expect("refused");
        assert!(matches!(err, FetchError::InvalidSource { .. }), "{err}");
        assert!(err.to_string().contains("built without https"), "{err}");
        let err = checked_uri("https://example.com/b.tgz", &FetchOptions::default())
            .expect_err("refused");
        assert!(err.to_string().contains("redirected to https"), "{err}");
    }

    #[test]
    fn sources_are_classified() {
        assert!(matches!(
            classify("HTTP://example.com/a"),
            Ok(Source::Http(_))
        ));
        #[cfg(feature = "https")]
        assert!(matches!(
            classify("HTTPS://example.com/a"),
            Ok(Source::Http(_))
        ));
        assert!(matches!(classify("/srv/a.tar"), Ok(Source::Local(_))));
        assert!(matches!(classify("./odd:name.tar"), Ok(Source::Local(_))));
        assert!(matches!(
            classify("ftp://host/a.tar"),
            Err(FetchError::InvalidSource { .. })
        ));
        assert!(matches!(
            classify("file://otherhost/a.tar"),
            Err(FetchError::InvalidSource { .. })
        ));
        assert!(matches!(
            classify(""),
            Err(FetchError::InvalidSource { .. })
        ));
        assert_eq!(
            file_url_path("file://localhost/a%20b.tar?x#y"),
            Some(PathBuf::from("/a b.tar"))
        );
    }

    #[test]
    fn credentials_are_masked() {
        assert_eq!(
            redact("https://user:secret@host/p?q=1"),
            "https://user:***@host/p?q=1"
        );
        assert_eq!(redact("https://ghp_token@host/p"), "https://***@host/p");
        assert_eq!(redact("https://host/p@x"), "https://host/p@x");
        assert_eq!(redact("/plain/path"), "/plain/path");
    }

    #[test]
    fn locations_resolve_against_the_request() {
        let base: Uri = "https://h.example:8443/dir/file?q".parse().expect("uri");
        assert_eq!(resolve_location(&base, "http://o/x"), "http://o/x");
        assert_eq!(resolve_location(&base, "//cdn/x"), "https://cdn/x");
        assert_eq!(
            resolve_location(&base, "/abs"),
            "https://h.example:8443/abs"
        );
        assert_eq!(
            resolve_location(&base, "rel"),
            "https://h.example:8443/dir/rel"
        );
        assert_eq!(
            resolve_location(&base, "?page=2"),
            "https://h.example:8443/dir/file?page=2"
        );
        // `..` and `.` segments are resolved, never kept in the next request.
        assert_eq!(
            resolve_location(&base, "../../a/./b/../x"),
            "https://h.example:8443/a/x"
        );
        assert_eq!(
            resolve_location(&base, "/a/%2e%2e/x"),
            "https://h.example:8443/x"
        );
    }

    #[test]
    fn grants_match_host_and_the_effective_port() {
        let grants: Vec<HostGrant> = ["github.com", "10.0.0.5:8080", "[::1]:443", "h:443"]
            .iter()
            .map(|g| g.parse().unwrap())
            .collect();
        let allowed = |url: &str| {
            let uri: Uri = url.parse().expect("uri");
            let host = host_of(&uri).unwrap();
            grants.iter().any(|g| g.allows(&host, port_of(&uri)))
        };
        assert!(allowed("https://GitHub.com./x"));
        assert!(allowed("http://10.0.0.5:8080/x"));
        assert!(!allowed("http://10.0.0.5/x"));
        assert!(allowed("https://[::1]/x"));
        // A grant with the default port allows the URL that leaves it out.
        assert!(allowed("https://h/x"));
        assert!(!allowed("http://h/x"));
        assert!(!allowed("https://evilgithub.com/x"));
    }

    #[test]
    fn no_proxy_follows_curl() {
        let list = " example.com, .internal ,10.0.0.0/8, [::1]:8080";
        assert!(no_proxy_matches(list, "example.com"));
        assert!(no_proxy_matches(list, "api.example.com"));
        assert!(!no_proxy_matches(list, "badexample.com"));
        assert!(no_proxy_matches(list, "svc.internal"));
        assert!(no_proxy_matches(list, "10.1.2.3"));
        assert!(!no_proxy_matches(list, "11.1.2.3"));
        assert!(no_proxy_matches("*", "anything"));
        assert!(is_loopback("127.0.0.1") && is_loopback("localhost") && !is_loopback("10.0.0.1"));
    }
}
