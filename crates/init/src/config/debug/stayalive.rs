//! `stayalive`, `stayalive=always`, `stayalive=DURATION`.

use hookinit_values::BoundedDuration;

use super::StayAlive;
use super::errors::{DebugError, bad};

pub(super) fn parse_stayalive(value: Option<&str>) -> Result<StayAlive, DebugError> {
    let Some(v) = value else {
        return Ok(StayAlive::default());
    };
    if v.eq_ignore_ascii_case("always") {
        return Ok(StayAlive {
            after_success: true,
            limit: None,
        });
    }
    v.parse::<BoundedDuration>()
        .map(|limit| StayAlive {
            after_success: false,
            limit: Some(limit.get()),
        })
        .map_err(|r| {
            bad(
                "stayalive",
                v,
                &format!("{r}; or write `stayalive=always`, or just `stayalive`"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use std::time::Duration;

    #[test]
    fn stayalive_values() {
        let stay = |v: &str| match opts(v).remove(0) {
            DebugOption::StayAlive(s) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            stay("stayalive"),
            StayAlive {
                after_success: false,
                limit: None
            }
        );
        assert_eq!(
            stay("stayalive=always"),
            StayAlive {
                after_success: true,
                limit: None
            }
        );
        assert_eq!(
            stay("stayalive=30s"),
            StayAlive {
                after_success: false,
                limit: Some(Duration::from_secs(30))
            }
        );
        assert_eq!(stay("stayalive=10m").limit, Some(Duration::from_secs(600)));
        assert_eq!(
            stay("stayalive=1h30m").limit,
            Some(Duration::from_secs(5400))
        );
    }
}
