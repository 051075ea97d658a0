//! Why a DEBUG value is refused, and the "did you mean" suggestion for a near miss.

use super::words::{CONFIG_PREFIX, OPTIONS, Word};
use crate::log::clip;

/// Why a DEBUG value was refused. Each message is one line saying what is wrong and what to do;
/// the caller puts the name of the value in front (`DEBUG`, `HOOKINIT_DEBUG`, `--debug`, the
/// file's `debug` key), so that the line names what the operator wrote.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum DebugError {
    /// A word close to one of our names: most likely a typo.
    #[error("unknown option `{}`: did you mean `{suggestion}`?", clip(.word))]
    NearMiss { word: String, suggestion: String },
    /// A word unlike any of ours where every word must be ours (HOOKINIT_DEBUG, `--debug`, the
    /// file): there is no application to leave it to.
    #[error(
        "`{}` is not a hookinit option: use verbose, stayalive, fstree=SOURCE or plugin=SOURCE with their sub-options (hookinit --help lists them)",
        clip(.word)
    )]
    NotOurs { word: String },
    /// An option or sub-option that needs `=value` came without one.
    #[error("`{option}` needs a value: write {usage}")]
    MissingValue { option: String, usage: String },
    /// A value that does not parse.
    #[error("bad value `{}` for `{option}`: {reason}", clip(.value))]
    BadValue {
        option: String,
        value: String,
        reason: String,
    },
    /// A sub-option that is not right after the option it modifies.
    #[error(
        "`{}` is a sub-option of {parent} and must follow it: move it right after the option it modifies, e.g. `{example}`",
        clip(.word)
    )]
    OutOfContext {
        word: String,
        parent: String,
        example: String,
    },
    /// A plugin fetched from a URL with neither `sha256=` nor `unpinned`.
    #[error(
        "plugin `{}` comes from a URL without a pin: add `,sha256=HEX` (the component's sha256) after it, or `,unpinned` to run whatever the URL serves",
        clip(.url)
    )]
    Unpinned { url: String },
}

pub(super) fn bad(option: &str, value: &str, reason: &str) -> DebugError {
    DebugError::BadValue {
        option: option.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

pub(super) fn required<'v>(
    option: &str,
    value: Option<&'v str>,
    usage: &str,
) -> Result<&'v str, DebugError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(DebugError::MissingValue {
            option: option.to_owned(),
            usage: usage.to_owned(),
        }),
    }
}

pub(super) fn no_value(option: &str, value: Option<&str>) -> Result<(), DebugError> {
    match value {
        None => Ok(()),
        Some(v) => Err(bad(
            option,
            v,
            &format!("`{option}` takes no value: write just `{option}`"),
        )),
    }
}

/// A suggestion when `name` is at most 2 edits (insert, delete, substitute, swap two
/// neighbours), ignoring case, from a name valid here: an option, one of `subs` (the current
/// option's sub-options), or `config.KEY` when `config` says it is one of them.
pub(super) fn near_miss(name: &str, subs: &[Word], config: bool) -> Option<String> {
    let lower = name.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for candidate in OPTIONS.iter().chain(subs).map(|w| w.name) {
        let distance = strsim::osa_distance(&lower, candidate);
        if distance <= 2 && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    if let Some((_, candidate)) = best {
        return Some(candidate.to_owned());
    }
    if config
        && let Some((head, rest)) = name.split_once('.')
        && strsim::osa_distance(&head.to_lowercase(), "config") <= 2
    {
        return Some(format!("{CONFIG_PREFIX}{rest}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn near_misses_are_refused() {
        for (word, name, suggestion) in [
            ("verbos", "verbos", "verbose"),
            ("stayalvie", "stayalvie", "stayalive"),
            ("VERBOSE", "VERBOSE", "verbose"),
            ("Stayalive=10m", "Stayalive", "stayalive"),
            ("fstre=https://h/x", "fstre", "fstree"),
            ("plugins=/x.wasm", "plugins", "plugin"),
            ("verbose,stayalive,plugn=/x", "plugn", "plugin"),
        ] {
            assert_eq!(
                err(word),
                DebugError::NearMiss {
                    word: name.into(),
                    suggestion: suggestion.into()
                },
                "{word}"
            );
        }
        assert_eq!(
            err("verbos").to_string(),
            "unknown option `verbos`: did you mean `verbose`?"
        );
    }

    #[test]
    fn near_misses_of_sub_options_in_context() {
        assert_eq!(
            err("fstree=/t.tgz,stirp=1"),
            DebugError::NearMiss {
                word: "stirp".into(),
                suggestion: "strip".into()
            }
        );
        assert_eq!(
            err("fstree=/t.tgz,max_size=1G"),
            DebugError::NearMiss {
                word: "max_size".into(),
                suggestion: "max-size".into()
            }
        );
        assert_eq!(
            err("plugin=/p.wasm,writ=/x"),
            DebugError::NearMiss {
                word: "writ".into(),
                suggestion: "write".into()
            }
        );
        assert_eq!(
            err("plugin=/p.wasm,conifg.limit=1"),
            DebugError::NearMiss {
                word: "conifg.limit".into(),
                suggestion: "config.limit".into()
            }
        );
        assert_eq!(
            err("plugin=/p.wasm,Config.limit=1"),
            DebugError::NearMiss {
                word: "Config.limit".into(),
                suggestion: "config.limit".into()
            }
        );
        // Outside a context, sub-option look-alikes are not ours.
        assert_eq!(parse("stirp=1").unwrap().ignored, vec!["stirp=1"]);
    }

    #[test]
    fn near_miss_inside_a_url_value_is_refused() {
        assert_eq!(
            err("fstree=https://h/a,verbos"),
            DebugError::NearMiss {
                word: "verbos".into(),
                suggestion: "verbose".into()
            }
        );
        assert_eq!(
            err("fstree=https://h/a?x=1,stirp=2"),
            DebugError::NearMiss {
                word: "stirp".into(),
                suggestion: "strip".into()
            }
        );
    }

    #[test]
    fn missing_values() {
        for (value, option) in [
            ("fstree", "fstree"),
            ("fstree=", "fstree"),
            ("plugin", "plugin"),
            ("fstree=/t.tgz,strip", "strip"),
            ("fstree=/t.tgz,dest=", "dest"),
            ("plugin=/p.wasm,read", "read"),
            ("plugin=/p.wasm,config.x", "config.x"),
        ] {
            match err(value) {
                DebugError::MissingValue { option: o, .. } => assert_eq!(o, option, "{value}"),
                other => panic!("{value}: {other:?}"),
            }
        }
        assert_eq!(
            err("fstree").to_string(),
            "`fstree` needs a value: write `fstree=SOURCE`, SOURCE being an http, https or file URL or a path"
        );
        // An explicitly empty config value is allowed.
        let options = opts("plugin=/p.wasm,config.x=");
        assert_eq!(
            plugin_of(&options).config,
            vec![("x".into(), String::new())]
        );
    }

    #[test]
    fn bad_values() {
        for (value, option, bad_value) in [
            ("stayalive=forever", "stayalive", "forever"),
            ("stayalive=30", "stayalive", "30"),
            ("verbose=1", "verbose", "1"),
            ("fstree=/t.tgz,strip=x", "strip", "x"),
            ("fstree=/t.tgz,strip=-1", "strip", "-1"),
            ("fstree=/t.tgz,sha256=abc", "sha256", "abc"),
            ("fstree=/t.tgz,dest=srv", "dest", "srv"),
            ("fstree=/t.tgz,max-size=2GB", "max-size", "2GB"),
            ("plugin=/p.wasm,sha256=zz", "sha256", "zz"),
            ("plugin=/p.wasm,read=etc", "read", "etc"),
            ("plugin=/p.wasm,write=./x", "write", "./x"),
            ("plugin=/p.wasm,fetch=https://h/x", "fetch", "https://h/x"),
            ("plugin=/p.wasm,fetch=h:99999", "fetch", "h:99999"),
            ("plugin=/p.wasm,env=A=B", "env", "A=B"),
            ("plugin=/p.wasm,unpinned=yes", "unpinned", "yes"),
        ] {
            match err(value) {
                DebugError::BadValue {
                    option: o,
                    value: v,
                    ..
                } => {
                    assert_eq!((o.as_str(), v.as_str()), (option, bad_value), "{value}")
                }
                other => panic!("{value}: {other:?}"),
            }
        }
        assert_eq!(
            err("fstree=/t.tgz,strip=x").to_string(),
            "bad value `x` for `strip`: expected a whole number of leading folders to drop, e.g. `strip=1`"
        );
        let message = err("stayalive=forever").to_string();
        assert!(
            message.starts_with("bad value `forever` for `stayalive`: "),
            "{message}"
        );
        assert!(!message.contains('\n'));
    }

    #[test]
    fn every_error_is_one_line() {
        for value in [
            "verbos",
            "fstree",
            "strip=1",
            "fstree=/t,strip=x",
            "plugin=https://h/x.wasm",
        ] {
            let e = err(value);
            assert!(!e.to_string().contains('\n'), "{e}");
        }
        let stay = err("stayalive=9999999999999999999s").to_string();
        assert!(stay.contains("too long: the longest is 365 days"), "{stay}");
        let leftovers = err("stayalive=forever").to_string();
        assert!(!leftovers.contains("expected number at"), "{leftovers}");
        assert_eq!(
            parse("verbose,1").unwrap().all_ours(),
            Err(DebugError::NotOurs { word: "1".into() })
        );
    }
}
