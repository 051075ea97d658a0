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
//!
//! Files, by what they do: this one, the API (options, report, errors) and which kind of source
//! goes where; `http.rs`, downloads and redirects; `proxy.rs`, proxies from the environment;
//! `local.rs`, local files; `sink.rs`, writing a body while hashing and counting it.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hookinit_values::show::{human_bytes, human_duration};
use hookinit_values::{HostGrant, Sha256Pin, Source};

mod http;
mod local;
mod proxy;
mod sink;

use http::fetch_http;
use local::fetch_local;

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

/// Copies `source` (an http(s) URL, or a local file: `file://` or a path) to the file `dest`,
/// replacing it. On error a partly written `dest` is removed; a `dest` that was never opened is
/// left as it was.
pub fn fetch_to_file(
    source: &Source,
    dest: &Path,
    opts: &FetchOptions,
) -> Result<FetchReport, FetchError> {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    let start = Instant::now();
    // Clamped so that an absurd timeout cannot overflow the clock.
    let deadline = start + opts.total_timeout.min(CENTURY);
    match source {
        Source::Http(url) => {
            if url.url().scheme() == "https"
                && let Some(why) = HTTPS_MISSING
            {
                return Err(FetchError::InvalidSource {
                    url: redact(url.as_str()),
                    detail: why.into(),
                });
            }
            fetch_http(url.as_str(), dest, opts, start, deadline)
        }
        Source::Path(_) | Source::File { .. } if !opts.allow_local => Err(FetchError::Denied {
            url: source.to_string(),
            reason: "local files are not granted to this caller".into(),
        }),
        Source::Path(path) | Source::File { path, .. } => {
            fetch_local(path, &source.to_string(), dest, opts, start, deadline)
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(not(feature = "https"))]
    use crate::http::checked_uri;
    #[cfg(not(feature = "https"))]
    use crate::testing::source;

    /// The smallest build refuses https with one line saying why and what to use instead, at
    /// the first URL and at a redirect.
    #[cfg(not(feature = "https"))]
    #[test]
    fn https_is_refused_without_the_feature() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = fetch_to_file(
            &source("HTTPS://example.com/a.tgz"),
            &crate::testing::dest_in(&dir),
            &FetchOptions::default(),
        )
        .expect_err("refused");
        assert!(matches!(err, FetchError::InvalidSource { .. }), "{err}");
        assert!(err.to_string().contains("built without https"), "{err}");
        let err = checked_uri("https://example.com/b.tgz", &FetchOptions::default())
            .expect_err("refused");
        assert!(err.to_string().contains("redirected to https"), "{err}");
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
}

/// What the tests of every module share.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::PathBuf;

    use hookinit_values::Source;

    pub(crate) fn source(text: &str) -> Source {
        text.parse().expect("a source")
    }

    pub(crate) fn body(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    pub(crate) fn dest_in(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("download")
    }
}
