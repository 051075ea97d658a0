//! Signal names as operators write them: `TERM`, `SIGTERM`, `term` or `15`.

use nix::sys::signal::Signal;

/// Parses a signal name or number. Returns `None` for anything that is not a signal.
pub fn parse_signal(text: &str) -> Option<Signal> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let upper = text.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse::<Signal>().ok()
}

/// `SIGTERM` -> `TERM`, for messages.
pub fn short_name(sig: Signal) -> &'static str {
    sig.as_str().trim_start_matches("SIG")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_case() {
        assert_eq!(parse_signal("TERM"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("sigusr1"), Some(Signal::SIGUSR1));
        assert_eq!(parse_signal("9"), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("SIGWINCH"), Some(Signal::SIGWINCH));
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(parse_signal("0"), None);
        assert_eq!(short_name(Signal::SIGHUP), "HUP");
    }
}
