//! Host grants (`fetch=HOST[:PORT]`, `*.DOMAIN`): which hosts a plugin may download from.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use crate::source::HttpUrl;

/// A `fetch=` grant: a host, or `*.DOMAIN` for every host under DOMAIN, with an optional port.
/// Without a port any port is allowed; with one, a URL matches when its port, written or the
/// scheme's default (80, 443), is that one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostGrant {
    host: HostPattern,
    port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum HostPattern {
    /// Lower case, without IPv6 brackets or a trailing dot.
    Exact(String),
    /// `*.DOMAIN`: DOMAIN here (lower case), matching its subdomains, not DOMAIN itself.
    Under(String),
}

impl HostGrant {
    /// Whether a request to `host` (as [`HttpUrl::host_port`] gives it) on `port` is granted.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host_ok = match &self.host {
            HostPattern::Exact(name) => name == host,
            HostPattern::Under(domain) => host
                .strip_suffix(domain.as_str())
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        };
        host_ok && self.port.is_none_or(|p| p == port)
    }

    /// The grant for exactly the host and port of `url`.
    pub fn for_url(url: &HttpUrl) -> HostGrant {
        let (host, port) = url.host_port();
        HostGrant {
            host: HostPattern::Exact(host),
            port: Some(port),
        }
    }
}

const HOST_HELP: &str = "expected HOST, HOST:PORT or *.DOMAIN (for its subdomains), without scheme or path, e.g. `example.com:443`";

impl FromStr for HostGrant {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.contains(['/', '@', '?', '#']) {
            return Err(HOST_HELP.to_owned());
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (v6, after) = rest.split_once(']').ok_or(HOST_HELP)?;
            let ip: Ipv6Addr = v6.parse().map_err(|_| HOST_HELP)?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or(HOST_HELP)?),
            };
            (HostPattern::Exact(ip.to_string()), port)
        } else {
            let (name, port) = match text.split_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (text, None),
            };
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let pattern = match name.strip_prefix("*.") {
                Some(domain) => HostPattern::Under(domain.to_owned()),
                None => HostPattern::Exact(name),
            };
            let checked = match &pattern {
                HostPattern::Exact(n) | HostPattern::Under(n) => n,
            };
            let valid = !checked.is_empty()
                && checked
                    .split('.')
                    .all(|label| !label.is_empty() && label.bytes().all(is_label_byte));
            if !valid {
                return Err(HOST_HELP.to_owned());
            }
            (pattern, port)
        };
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n != 0 => Some(n),
                _ => return Err(format!("bad port `{p}`: a number from 1 to 65535")),
            },
        };
        Ok(HostGrant { host, port })
    }
}

fn is_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

impl fmt::Display for HostGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostPattern::Exact(name) if name.contains(':') => write!(f, "[{name}]")?,
            HostPattern::Exact(name) => f.write_str(name)?,
            HostPattern::Under(domain) => write!(f, "*.{domain}")?,
        }
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

serde_as_text!(HostGrant);

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(text: &str) -> HostGrant {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn allows(grant_text: &str, url: &str) -> bool {
        let url: HttpUrl = url.parse().unwrap_or_else(|e| panic!("{url}: {e}"));
        let (host, port) = url.host_port();
        grant(grant_text).allows(&host, port)
    }

    #[test]
    fn a_port_matches_the_schemes_default() {
        // The bug found by reading the four old parsers side by side.
        assert!(allows("example.com:443", "https://example.com/x"));
        assert!(allows("example.com:80", "http://example.com/x"));
        assert!(!allows("example.com:443", "http://example.com/x"));
        assert!(allows("example.com:8443", "https://example.com:8443/x"));
        assert!(allows("example.com", "http://Example.COM.:8080/x"));
        assert!(!allows("example.com", "https://example.com.evil.org/x"));
    }

    #[test]
    fn a_wildcard_grants_the_subdomains_only() {
        assert!(allows("*.example.com", "https://a.example.com/x"));
        assert!(allows("*.example.com", "https://a.b.example.com/x"));
        assert!(!allows("*.example.com", "https://example.com/x"));
        assert!(!allows("*.example.com", "https://badexample.com/x"));
        assert!(allows("*.example.com:443", "https://a.example.com/x"));
    }

    #[test]
    fn ipv6_and_ipv4_hosts() {
        assert!(allows("[::1]:8080", "http://[::1]:8080/x"));
        assert!(allows("[0:0::1]", "http://[::1]/x"));
        assert!(allows("127.0.0.1", "http://127.0.0.1:9/x"));
        assert_eq!(grant("[::1]:443").to_string(), "[::1]:443");
    }

    #[test]
    fn bad_grants_say_what_to_write() {
        for bad in [
            "",
            ":443",
            "h:",
            "h:0",
            "h:70000",
            "h/x",
            "user@h",
            "[::1",
            "[::1]x",
            "a.*.com",
            "*",
            "https://h",
            "h..com",
        ] {
            assert!(bad.parse::<HostGrant>().is_err(), "{bad}");
        }
        let e = "h:0".parse::<HostGrant>().unwrap_err();
        assert!(e.contains("1 to 65535"), "{e}");
    }

    #[test]
    fn text_round_trips() {
        for text in [
            "example.com",
            "example.com:443",
            "*.example.com",
            "[::1]:1",
            "10.0.0.1",
        ] {
            assert_eq!(grant(text).to_string(), text);
            assert_eq!(grant(&grant(text).to_string()), grant(text));
        }
        assert_eq!(grant("Example.COM.").to_string(), "example.com");
    }

    #[test]
    fn a_url_grants_exactly_its_host_and_port() {
        let url: HttpUrl = "https://user:pw@H.example/x?a=1".parse().unwrap();
        assert_eq!(HostGrant::for_url(&url).to_string(), "h.example:443");
        let url: HttpUrl = "http://[::1]:8080/x".parse().unwrap();
        assert_eq!(HostGrant::for_url(&url).to_string(), "[::1]:8080");
    }
}
