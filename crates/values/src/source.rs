//! Where a plugin or an archive comes from (`plugin=SOURCE`, `fstree=SOURCE`, a fetch): a local
//! file, by path or `file://` URL, or an `http://` or `https://` URL.
//!
//! A URL keeps the text it was written as beside the parsed URL: that text is what messages
//! quote and what the DEBUG grammar writes back (parsing normalises, e.g. drops tabs and decodes
//! the host, which could turn a glued word into an option); hosts and paths come from the parse.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A source as written: text that does not start with `SCHEME://` is a path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A path, absolute or relative (`/debug/x.wasm`, `tree.zip`, `./odd:name.tar`).
    Path(PathBuf),
    /// A `file://` URL (`url`, as written) naming the local file `path` (percent-decoded).
    File {
        url: String,
        path: PathBuf,
    },
    Http(HttpUrl),
}

/// An `http://` or `https://` URL.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HttpUrl {
    text: String,
    url: url::Url,
}

/// Why a source was refused; callers that accept fewer kinds of source branch on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceError {
    Empty,
    /// A URL whose scheme (lower case) is none of http, https, file.
    Scheme(String),
    /// A URL that does not parse (the reason).
    Invalid(String),
    /// A `file://` URL naming another host.
    FileHost,
    /// A path or a `file://` URL where an http(s) URL is required.
    NotHttp,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Empty => f.write_str("empty: write a path or a URL"),
            SourceError::Scheme(scheme) => write!(
                f,
                "unsupported scheme `{scheme}`: write a path or an http://, https:// or file:// URL"
            ),
            SourceError::Invalid(why) => write!(f, "not a valid URL: {why}"),
            SourceError::FileHost => {
                f.write_str("a file URL names a local path, without a host: file:///path/to/file")
            }
            SourceError::NotHttp => f.write_str("expected an http:// or https:// URL"),
        }
    }
}

impl std::error::Error for SourceError {}

impl Source {
    /// The local file of a path or a `file://` URL.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            Source::Path(path) | Source::File { path, .. } => Some(path),
            Source::Http(_) => None,
        }
    }
}

/// The scheme of `scheme://...`, as written; a plain path (even one holding a colon) has none.
fn scheme_of(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

impl FromStr for Source {
    type Err = SourceError;

    fn from_str(text: &str) -> Result<Self, SourceError> {
        if text.trim().is_empty() {
            return Err(SourceError::Empty);
        }
        let Some(scheme) = scheme_of(text) else {
            return Ok(Source::Path(PathBuf::from(text)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "http" | "https" => Ok(Source::Http(HttpUrl {
                text: text.to_owned(),
                url: parse_url(text)?,
            })),
            "file" => {
                let path = parse_url(text)?
                    .to_file_path()
                    .map_err(|()| SourceError::FileHost)?;
                Ok(Source::File {
                    url: text.to_owned(),
                    path,
                })
            }
            other => Err(SourceError::Scheme(other.to_owned())),
        }
    }
}

fn parse_url(text: &str) -> Result<url::Url, SourceError> {
    url::Url::parse(text).map_err(|e| SourceError::Invalid(e.to_string()))
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Path(path) => write!(f, "{}", path.display()),
            Source::File { url, .. } => f.write_str(url),
            Source::Http(url) => fmt::Display::fmt(url, f),
        }
    }
}

serde_as_text!(Source);

impl HttpUrl {
    /// As written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// The host (lower case, IPv6 without brackets, IDNA-encoded, no trailing dot) and the port
    /// (written, or the scheme's default): what [`crate::HostGrant::allows`] compares with.
    pub fn host_port(&self) -> (String, u16) {
        let host = match self.url.host() {
            Some(url::Host::Domain(name)) => name.trim_end_matches('.').to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            // An http(s) URL always has a host: the url crate refuses one without.
            None => String::new(),
        };
        // Always known for http and https.
        let port = self.url.port_or_known_default().unwrap_or(0);
        (host, port)
    }

    /// The last segment of the path (`x.wasm` for `https://h/dl/x.wasm?v=2`), empty when the
    /// path ends with `/`.
    pub fn file_name(&self) -> &str {
        self.url
            .path_segments()
            .and_then(|mut segments| segments.next_back())
            .unwrap_or_default()
    }
}

impl FromStr for HttpUrl {
    type Err = SourceError;

    fn from_str(text: &str) -> Result<Self, SourceError> {
        match text.parse::<Source>()? {
            Source::Http(url) => Ok(url),
            Source::Path(_) | Source::File { .. } => Err(SourceError::NotHttp),
        }
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpUrl({:?})", self.text)
    }
}

serde_as_text!(HttpUrl);

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn paths_file_urls_and_http_urls() {
        assert_eq!(source("/srv/t.tar"), Source::Path("/srv/t.tar".into()));
        assert_eq!(source("t.zip"), Source::Path("t.zip".into()));
        assert_eq!(
            source("./odd:name.tar"),
            Source::Path("./odd:name.tar".into())
        );
        assert_eq!(source("/a/x://y"), Source::Path("/a/x://y".into()));
        assert_eq!(
            source("file://localhost/a%20b.tar?x#y"),
            Source::File {
                url: "file://localhost/a%20b.tar?x#y".into(),
                path: "/a b.tar".into()
            }
        );
        // Dot segments, written or percent-encoded, are resolved: the path is what is opened.
        assert_eq!(
            source("file:///grant/%2e%2e/etc/passwd").local_path(),
            Some(Path::new("/etc/passwd"))
        );
        let Source::Http(url) = source("HTTPS://Example.COM/dl/x,y.wasm?k=1,2") else {
            panic!("not http");
        };
        assert_eq!(url.as_str(), "HTTPS://Example.COM/dl/x,y.wasm?k=1,2");
        assert_eq!(url.host_port(), ("example.com".into(), 443));
        assert_eq!(url.file_name(), "x,y.wasm");
        assert_eq!(url.url().scheme(), "https");
        assert!(source("http://h/x").local_path().is_none());
    }

    #[test]
    fn text_round_trips_as_written() {
        for text in [
            "/srv/t.tar",
            "file:///srv/t.tar",
            "https://h.example/a,b.tgz?x=1#f",
            "http://[::1]:8080/x",
            "https://h/a\tb",
        ] {
            assert_eq!(source(text).to_string(), text);
            assert_eq!(source(&source(text).to_string()), source(text));
        }
    }

    #[test]
    fn hosts_ports_and_file_names() {
        let url = |text: &str| text.parse::<HttpUrl>().unwrap();
        assert_eq!(
            url("https://user:pw@h.example./x").host_port(),
            ("h.example".into(), 443)
        );
        assert_eq!(url("http://[::1]:8080/").host_port(), ("::1".into(), 8080));
        assert_eq!(url("http://10.0.0.1/").host_port(), ("10.0.0.1".into(), 80));
        assert_eq!(url("https://h/a/b/coredump#frag.x").file_name(), "coredump");
        assert_eq!(url("https://h/").file_name(), "");
        assert_eq!(url("https://h").file_name(), "");
    }

    #[test]
    fn refusals_say_why() {
        let err = |text: &str| text.parse::<Source>().expect_err(text);
        assert_eq!(err(""), SourceError::Empty);
        assert_eq!(err("  "), SourceError::Empty);
        assert_eq!(err("FTP://h/a"), SourceError::Scheme("ftp".into()));
        assert_eq!(err("file://otherhost/a.tar"), SourceError::FileHost);
        assert!(matches!(err("https://"), SourceError::Invalid(_)));
        assert!(matches!(err("http://h:99999/"), SourceError::Invalid(_)));
        assert_eq!(
            err("gopher://h/").to_string(),
            "unsupported scheme `gopher`: write a path or an http://, https:// or file:// URL"
        );
        assert_eq!(
            "/p.wasm".parse::<HttpUrl>().unwrap_err(),
            SourceError::NotHttp
        );
        assert_eq!(
            "file:///p.wasm".parse::<HttpUrl>().unwrap_err(),
            SourceError::NotHttp
        );
        assert_eq!(
            "ftp://h/p".parse::<HttpUrl>().unwrap_err(),
            SourceError::Scheme("ftp".into())
        );
    }
}
