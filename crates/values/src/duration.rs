//! Durations (`stayalive=10m`, `grace = "5s"`, `timeout=30s`): humantime's spelling, at most a
//! year.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// A duration of at most [`BoundedDuration::MAX`], written `30s`, `500ms`, `10m`, `1h30m` (any
/// spelling humantime reads). Deadlines are computed as `Instant + Duration`, which panics past
/// the clock's range; a year is far beyond any real stay, grace or timeout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoundedDuration(Duration);

impl BoundedDuration {
    /// 365 days.
    pub const MAX: Duration = Duration::from_secs(365 * 24 * 3600);

    /// `Err` (the reason, for people) past [`BoundedDuration::MAX`].
    pub fn new(duration: Duration) -> Result<BoundedDuration, String> {
        if duration > Self::MAX {
            return Err("too long: the longest is 365 days (`8760h`)".to_owned());
        }
        Ok(BoundedDuration(duration))
    }

    pub const fn get(self) -> Duration {
        self.0
    }
}

impl From<BoundedDuration> for Duration {
    fn from(d: BoundedDuration) -> Duration {
        d.0
    }
}

impl FromStr for BoundedDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let duration = humantime::parse_duration(text.trim()).map_err(|_| {
            "not a duration: write a number and a unit, e.g. `30s`, `500ms`, `10m` or `1h30m`"
                .to_owned()
        })?;
        BoundedDuration::new(duration)
    }
}

/// humantime's spelling (`1h 30m`), which [`FromStr`] reads back.
impl fmt::Display for BoundedDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl serde::Serialize for BoundedDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// From text (`"5s"`, `"1h30m"`) or, in a configuration file, a whole number of seconds.
impl<'de> serde::Deserialize<'de> for BoundedDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = BoundedDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as \"5s\" or \"1h30m\", or a number of seconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BoundedDuration, E> {
                v.parse()
                    .map_err(|e| E::custom(format!("bad duration `{}`: {e}", crate::show::clip(v))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<BoundedDuration, E> {
                BoundedDuration::new(Duration::from_secs(v))
                    .map_err(|e| E::custom(format!("bad duration {v}: {e}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<BoundedDuration, E> {
                let secs = u64::try_from(v)
                    .map_err(|_| E::custom(format!("a duration cannot be negative ({v})")))?;
                self.visit_u64(secs)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> Result<u64, String> {
        text.parse::<BoundedDuration>().map(|d| d.get().as_secs())
    }

    #[test]
    fn humantime_spellings() {
        assert_eq!(secs("30s"), Ok(30));
        assert_eq!(secs(" 10m "), Ok(600));
        assert_eq!(secs("1h30m"), Ok(5400));
        assert_eq!(secs("1h 30m"), Ok(5400));
        assert_eq!(secs("8760h"), Ok(365 * 24 * 3600));
        let half: BoundedDuration = "500ms".parse().unwrap();
        assert_eq!(Duration::from(half), Duration::from_millis(500));
    }

    #[test]
    fn at_most_a_year() {
        assert_eq!(
            secs("8761h").unwrap_err(),
            "too long: the longest is 365 days (`8760h`)"
        );
        assert!(
            secs("9999999999999999999s")
                .unwrap_err()
                .starts_with("too long")
        );
        assert!(BoundedDuration::new(BoundedDuration::MAX).is_ok());
    }

    #[test]
    fn bad_durations_say_what_to_write() {
        for bad in ["", "30", "soon", "5 parsecs", "-1s"] {
            let e = secs(bad).expect_err(bad);
            assert!(
                e.starts_with("not a duration: write a number and a unit"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn text_round_trips() {
        for text in ["0s", "90s", "1h30m", "2days 3ms", "8760h"] {
            let d: BoundedDuration = text.parse().unwrap();
            assert_eq!(d.to_string().parse::<BoundedDuration>(), Ok(d), "{text}");
        }
        let d: BoundedDuration = "90s".parse().unwrap();
        assert_eq!(d.to_string(), "1m 30s");
    }
}
