//! `plugin=SOURCE` and its sub-options (`sha256`, `unpinned`, the grants `read`, `write`,
//! `fetch`, `env`, and `config.KEY`): an operator's plugin.

use hookinit_values::{HostGrant, Sha256Pin};

use super::errors::{DebugError, bad, no_value, required};
use super::parser::Glue;
use super::words::CONFIG_PREFIX;
use super::{check_absolute, check_env_name};
use crate::config::plan::{Grants, PluginSource, PluginSpec};

#[derive(Default)]
pub(super) struct PluginBuilder {
    source: String,
    sha256: Option<Sha256Pin>,
    unpinned: bool,
    required: bool,
    read: Vec<String>,
    write: Vec<String>,
    fetch: Vec<HostGrant>,
    env: Vec<String>,
    config: Vec<(String, String)>,
}

impl PluginBuilder {
    pub(super) fn new(source: &str) -> PluginBuilder {
        PluginBuilder {
            source: source.to_owned(),
            ..PluginBuilder::default()
        }
    }

    /// Applies the sub-option `name` (one of a plugin's; `word` is all of it); returns what a
    /// following word that is not ours is glued onto. Grants add up; for the rest the last
    /// one wins.
    pub(super) fn sub_option(
        &mut self,
        word: &str,
        name: &str,
        value: Option<&str>,
    ) -> Result<Option<Glue>, DebugError> {
        match name {
            "sha256" => {
                let v = required(name, value, "`sha256=HEX` (64 hexadecimal digits)")?;
                self.sha256 = Some(v.parse().map_err(|r: String| bad(name, v, &r))?);
            }
            "unpinned" => {
                no_value(name, value)?;
                self.unpinned = true;
            }
            "required" => {
                no_value(name, value)?;
                self.required = true;
            }
            "read" | "write" => {
                let usage = format!("`{name}=DIR` with an absolute DIR, e.g. `{name}=/srv`");
                let v = required(name, value, &usage)?;
                check_absolute(v).map_err(|r| bad(name, v, &r))?;
                if name == "read" {
                    self.read.push(v.to_owned());
                    return Ok(Some(Glue::Read));
                }
                self.write.push(v.to_owned());
                return Ok(Some(Glue::Write));
            }
            "fetch" => {
                let v = required(name, value, "`fetch=HOST` or `fetch=HOST:PORT`")?;
                let grant = v.parse().map_err(|r: String| bad(name, v, &r))?;
                self.fetch.push(grant);
            }
            "env" => {
                let v = required(name, value, "`env=NAME`, `env=PREFIX_*` or `env=*`")?;
                check_env_name(v).map_err(|r| bad(name, v, &r))?;
                self.env.push(v.to_owned());
            }
            _ => {
                let key = &name[CONFIG_PREFIX.len()..];
                let Some(v) = value else {
                    return Err(DebugError::MissingValue {
                        option: name.to_owned(),
                        usage: format!("`{name}=VALUE`"),
                    });
                };
                if key.is_empty() {
                    return Err(bad(
                        name,
                        word,
                        "the key is missing: write `config.KEY=VALUE`, e.g. `config.limit=1G`",
                    ));
                }
                let index = match self.config.iter().position(|(k, _)| k == key) {
                    Some(i) => {
                        self.config[i].1 = v.to_owned();
                        i
                    }
                    None => {
                        self.config.push((key.to_owned(), v.to_owned()));
                        self.config.len() - 1
                    }
                };
                return Ok(Some(Glue::Config(index)));
            }
        }
        Ok(None)
    }

    pub(super) fn glue_target(&mut self, glue: Glue) -> &mut String {
        match glue {
            Glue::Source => &mut self.source,
            Glue::Read => self.read.last_mut().expect("glue target read exists"),
            Glue::Write => self.write.last_mut().expect("glue target write exists"),
            Glue::Config(i) => &mut self.config[i].1,
            Glue::Dest => unreachable!("glue target always belongs to the current option"),
        }
    }

    /// The plugin; one fetched from a URL needs a pin or `unpinned`.
    pub(super) fn finish(self) -> Result<PluginSpec, DebugError> {
        let source =
            PluginSource::operator(&self.source).map_err(|r| bad("plugin", &self.source, &r))?;
        let mut spec = PluginSpec::operator(source.default_name(), source);
        spec.sha256 = self.sha256;
        spec.allow_unpinned = self.unpinned;
        spec.required = self.required;
        spec.config = self.config;
        spec.grants = Grants {
            read: self.read.into_iter().map(Into::into).collect(),
            write: self.write.into_iter().map(Into::into).collect(),
            fetch: self.fetch,
            env: self.env,
            ..Grants::default()
        };
        if let Some(url) = spec.unpinned_url() {
            return Err(DebugError::Unpinned {
                url: url.to_string(),
            });
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn plugin_path_with_grants_and_config() {
        let options = opts(
            "plugin=/debug/coredump.wasm,read=/etc,read=/proc,write=/cores,fetch=example.com:443,fetch=mirror,env=HOME,config.limit=1G,config.mode=full",
        );
        assert_eq!(
            plugin_of(&options),
            &PluginSpec {
                config: vec![
                    ("limit".into(), "1G".into()),
                    ("mode".into(), "full".into())
                ],
                grants: Grants {
                    read: vec![PathBuf::from("/etc"), PathBuf::from("/proc")],
                    write: vec![PathBuf::from("/cores")],
                    fetch: vec![
                        "example.com:443".parse().unwrap(),
                        "mirror".parse().unwrap()
                    ],
                    env: vec!["HOME".into()],
                    ..Grants::default()
                },
                ..PluginSpec::operator(
                    "coredump".into(),
                    PluginSource::Path("/debug/coredump.wasm".into())
                )
            }
        );
    }

    #[test]
    fn plugin_url_pinned_or_unpinned() {
        let options = opts(&format!(
            "plugin=https://h/dl/coredump.wasm?v=2,sha256={HEX}"
        ));
        let p = plugin_of(&options);
        assert_eq!(p.name, "coredump");
        assert_eq!(
            p.source,
            PluginSource::Url("https://h/dl/coredump.wasm?v=2".parse().unwrap())
        );
        assert_eq!(p.sha256, Some(HEX.parse().unwrap()));
        assert!(!p.allow_unpinned);

        let options = opts("plugin=http://h/x.wasm,unpinned");
        let p = plugin_of(&options);
        assert_eq!(
            p.source,
            PluginSource::Url("http://h/x.wasm".parse().unwrap())
        );
        assert!(p.allow_unpinned);
        assert_eq!(p.sha256, None);

        assert_eq!(
            err("plugin=https://h/x.wasm"),
            DebugError::Unpinned {
                url: "https://h/x.wasm".into()
            }
        );
        assert!(matches!(
            err("plugin=ftp://h/x.wasm,unpinned"),
            DebugError::BadValue { .. }
        ));
    }
}
