//! Proxies from the environment, with curl's variable names and `NO_PROXY` rules.

use std::net::IpAddr;

use ureq::http::Uri;

use crate::http::host_of;
use crate::redact;

/// The proxy for this URL from the environment, with curl's variable names and `NO_PROXY` rules.
pub(crate) fn proxy_for(uri: &Uri) -> Result<Option<ureq::Proxy>, String> {
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

pub(crate) fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub(crate) fn env_first(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
}

/// curl's `NO_PROXY`: `*`, host names matching themselves and their subdomains (a leading `.` or
/// `*.` is ignored), IP addresses and CIDR ranges; an optional `:port` is ignored.
pub(crate) fn no_proxy_matches(list: &str, host: &str) -> bool {
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
pub(crate) fn split_host_port(entry: &str) -> (&str, Option<&str>) {
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

pub(crate) fn in_cidr(ip: IpAddr, net: &str, bits: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
