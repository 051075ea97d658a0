//! `fstree=SOURCE` and its sub-options (`strip`, `sha256`, `dest`, `max-size`, `timeout`): the
//! built-in fstree plugin's configuration, values checked here and handed over as text.

use hookinit_values::{BoundedDuration, ByteSize, Sha256Pin, Source, SourceError};

use super::check_absolute;
use super::errors::{DebugError, bad, required};
use super::parser::Glue;
use crate::config::plan::{Builtin, PluginSpec};

pub(super) struct FstreeBuilder {
    source: String,
    /// Sub-options in the order first given, values already checked.
    subs: Vec<(&'static str, String)>,
}

impl FstreeBuilder {
    pub(super) fn new(source: &str) -> FstreeBuilder {
        FstreeBuilder {
            source: source.to_owned(),
            subs: Vec::new(),
        }
    }

    /// Applies the sub-option `name` (one of fstree's); returns what a following word that is
    /// not ours is glued onto. A repeated sub-option keeps its first place and its last value.
    pub(super) fn sub_option(
        &mut self,
        name: &str,
        value: Option<&str>,
    ) -> Result<Option<Glue>, DebugError> {
        let (key, checked, glue) = match name {
            "strip" => {
                let v = required(name, value, "`strip=N`, e.g. `strip=1`")?;
                let n: u32 = v.parse().map_err(|_| {
                    bad(
                        name,
                        v,
                        "expected a whole number of leading folders to drop, e.g. `strip=1`",
                    )
                })?;
                ("strip", n.to_string(), None)
            }
            "sha256" => {
                let v = required(name, value, "`sha256=HEX` (64 hexadecimal digits)")?;
                let pin: Sha256Pin = v.parse().map_err(|r: String| bad(name, v, &r))?;
                ("sha256", pin.to_string(), None)
            }
            "dest" => {
                let v = required(
                    name,
                    value,
                    "`dest=DIR` with an absolute DIR, e.g. `dest=/srv`",
                )?;
                check_absolute(v).map_err(|r| bad(name, v, &r))?;
                ("dest", v.to_owned(), Some(Glue::Dest))
            }
            "timeout" => {
                let v = required(name, value, "`timeout=DURATION`, e.g. `timeout=30s`")?;
                let d: BoundedDuration = v.parse().map_err(|r: String| bad(name, v, &r))?;
                let ms = u32::try_from(d.get().as_millis())
                    .ok()
                    .filter(|ms| *ms > 0)
                    .ok_or_else(|| bad(name, v, "expected a duration from 1ms to 49 days"))?;
                ("timeout", ms.to_string(), None)
            }
            _ => {
                let v = required(name, value, "`max-size=SIZE`, e.g. `max-size=2G`")?;
                let size: ByteSize = v.parse().map_err(|r: String| bad(name, v, &r))?;
                ("max-size", size.bytes().to_string(), None)
            }
        };
        match self.subs.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => *old = checked,
            None => self.subs.push((key, checked)),
        }
        Ok(glue)
    }

    pub(super) fn glue_target(&mut self, glue: Glue) -> &mut String {
        match glue {
            Glue::Source => &mut self.source,
            Glue::Dest => {
                let i = self.subs.iter().position(|(k, _)| *k == "dest");
                &mut self.subs[i.expect("glue target dest exists")].1
            }
            _ => unreachable!("glue target always belongs to the current option"),
        }
    }

    /// The built-in plugin, configured with `source` and the sub-options given.
    pub(super) fn finish(self) -> Result<PluginSpec, DebugError> {
        let source = parse_source(&self.source).map_err(|r| bad("fstree", &self.source, &r))?;
        let mut config = vec![("source".to_owned(), source.to_string())];
        config.extend(self.subs.into_iter().map(|(k, v)| (k.to_owned(), v)));
        Ok(PluginSpec::builtin(Builtin::Fstree, config))
    }
}

/// fstree reads any source: a path, a `file://` URL or an http(s) URL.
fn parse_source(text: &str) -> Result<Source, String> {
    text.parse().map_err(|e| match e {
        SourceError::Scheme(_) => {
            "fstree reads http://, https:// and file:// URLs or a path".to_owned()
        }
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn fstree_with_all_sub_options() {
        let value = format!(
            "fstree=https://h/tree.tar.gz,strip=1,sha256={},dest=/srv,max-size=2G",
            HEX.to_uppercase()
        );
        assert_eq!(
            opts(&value),
            vec![fstree(&[
                ("source", "https://h/tree.tar.gz"),
                ("strip", "1"),
                ("sha256", HEX),
                ("dest", "/srv"),
                ("max-size", "2147483648"),
            ])]
        );
    }

    #[test]
    fn fstree_timeout_in_milliseconds() {
        assert_eq!(
            opts("fstree=https://h/t.tgz,timeout=1m30s,verbose"),
            vec![
                fstree(&[("source", "https://h/t.tgz"), ("timeout", "90000")]),
                DebugOption::Verbose
            ]
        );
        assert!(matches!(
            err("fstree=/t.tgz,timeout=soon"),
            DebugError::BadValue { .. }
        ));
        assert!(matches!(
            err("fstree=/t.tgz,timeout=0s"),
            DebugError::BadValue { .. }
        ));
        assert!(matches!(
            err("timeout=30s,fstree=/t.tgz"),
            DebugError::OutOfContext { .. }
        ));
        assert!(matches!(
            err("fstree=/t.tgz,timout=30s"),
            DebugError::NearMiss { .. }
        ));
    }

    #[test]
    fn fstree_sources_url_file_and_path() {
        for source in [
            "http://h/t.tgz",
            "https://h/t.tgz",
            "file:///srv/t.tar",
            "/srv/t.tar",
            "t.zip",
        ] {
            assert_eq!(
                opts(&format!("fstree={source}")),
                vec![fstree(&[("source", source)])]
            );
        }
        assert!(matches!(
            err("fstree=ftp://h/t.tgz"),
            DebugError::BadValue { .. }
        ));
    }

    #[test]
    fn sub_option_repeated_last_wins_in_place() {
        assert_eq!(
            opts("fstree=/t.tgz,strip=1,dest=/a,strip=3"),
            vec![fstree(&[
                ("source", "/t.tgz"),
                ("strip", "3"),
                ("dest", "/a")
            ])]
        );
    }

    #[test]
    fn max_size_in_bytes() {
        for (text, bytes) in [("512", "512"), ("4KiB", "4096"), ("3m", "3145728")] {
            assert_eq!(
                opts(&format!("fstree=/t.tgz,max-size={text}")),
                vec![fstree(&[("source", "/t.tgz"), ("max-size", bytes)])]
            );
        }
        let e = err("fstree=/t.tgz,max-size=0").to_string();
        assert!(
            e.starts_with("bad value `0` for `max-size`: a size of 0"),
            "{e}"
        );
    }
}
