//! HTTP(S) downloads: the agent, redirects followed here (each hop's host checked against the
//! grant before connecting, no scheme change), statuses and transport errors in one line.

use std::path::Path;
use std::time::Instant;

use ureq::http::{StatusCode, Uri};

use hookinit_values::HostGrant;

use crate::proxy::proxy_for;
use crate::sink::Sink;
use crate::{FetchError, FetchOptions, FetchReport, HTTPS_MISSING, redact};

pub(crate) fn fetch_http(
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
pub(crate) fn checked_uri(url: &str, opts: &FetchOptions) -> Result<Uri, FetchError> {
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
pub(crate) fn host_of(uri: &Uri) -> Option<String> {
    let host = uri
        .host()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.');
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

pub(crate) fn port_of(uri: &Uri) -> u16 {
    uri.port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        })
}

/// The absolute URL a `Location` header points at, relative to the request's URL (RFC 3986
/// resolution: `..` and `.` segments are removed, as a browser or curl does).
pub(crate) fn resolve_location(base: &Uri, location: &str) -> String {
    let location = location.trim();
    match url::Url::parse(&base.to_string()).and_then(|base| base.join(location)) {
        Ok(url) => url.to_string(),
        // Not a URL relative to the base: the hop's own check says what is wrong with it.
        Err(_) => location.to_string(),
    }
}

pub(crate) fn status_error(status: StatusCode, url: String) -> FetchError {
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

pub(crate) fn transport_error(e: ureq::Error, url: &str, opts: &FetchOptions) -> FetchError {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::{FetchError, FetchOptions, fetch_to_file};
    use hookinit_test_http::{HttpServer, Reply, closed_port};
    use hookinit_values::show::hex;
    use sha2::{Digest, Sha256};
    use std::fs;
    use std::time::Duration;

    #[test]
    fn http_200_streams_to_the_file_with_sha256() {
        let data = body(300_000);
        let server = HttpServer::start();
        let url = server.route("/tree.tar.gz", Reply::ok(data.clone()));
        let dir = tempfile::tempdir().expect("tempdir");
        let report =
            fetch_to_file(&source(&url), &dest_in(&dir), &FetchOptions::default()).expect("fetch");
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
        let err = fetch_to_file(&source(&url), &dest_in(&dir), &FetchOptions::default())
            .expect_err("404");
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
        let err = fetch_to_file(&source(&url), &dest_in(&dir), &FetchOptions::default())
            .expect_err("503");
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
        let err = fetch_to_file(&source(&url), &dest_in(&dir), &FetchOptions::default())
            .expect_err("refused");
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
        let err = fetch_to_file(&source(&url), &dest_in(&dir), &opts).expect_err("timeout");
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
        let err = fetch_to_file(&source(&url), &dest_in(&dir), &opts).expect_err("denied");
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
        let err = fetch_to_file(&source("http://127.0.0.1:9/a.tar"), &dest_in(&dir), &opts)
            .expect_err("denied");
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
        let report = fetch_to_file(&source(&url), &dest_in(&dir), &opts).expect("fetch");
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
        let err = fetch_to_file(&source(&url), &dest_in(&dir), &opts).expect_err("loop");
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
            let err = fetch_to_file(&source(&url), &dest_in(&dir), &opts).expect_err("too large");
            assert!(
                matches!(err, FetchError::TooLarge { limit: 1000, .. }),
                "{err}"
            );
            assert!(!dest_in(&dir).exists());
        }
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
}
