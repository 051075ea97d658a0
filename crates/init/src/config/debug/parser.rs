//! The parser: word by word, which option is open (its sub-options may follow), and onto which
//! value a word that is not ours is glued back, comma included.

use super::errors::{DebugError, near_miss, no_value, required};
use super::fstree::FstreeBuilder;
use super::plugin::PluginBuilder;
use super::stayalive::parse_stayalive;
use super::tokens::Token;
use super::words::{
    CONFIG_PREFIX, FSTREE_SUBS, OPTIONS, PLUGIN_SUBS, Word, is_one_of, sub_option_home,
};
use super::{DebugOption, DebugSpec};

/// The `fstree` or `plugin` whose sub-options may follow.
#[derive(Default)]
enum Current {
    #[default]
    None,
    Fstree(FstreeBuilder),
    Plugin(PluginBuilder),
}

/// The value a following word that is not ours gets glued onto.
#[derive(Clone, Copy)]
pub(super) enum Glue {
    Source,
    Dest,
    Read,
    Write,
    /// Index into the plugin's `config`.
    Config(usize),
}

pub(super) struct Parser {
    /// Parsing `DEBUG` (see [`super::parse_shared`]).
    shared: bool,
    spec: DebugSpec,
    current: Current,
    glue: Option<Glue>,
}

impl Parser {
    pub(super) fn new(shared: bool) -> Parser {
        Parser {
            shared,
            spec: DebugSpec::default(),
            current: Current::None,
            glue: None,
        }
    }

    pub(super) fn word(&mut self, token: &Token) -> Result<(), DebugError> {
        let Token {
            text: word,
            name,
            value,
            empties_before,
        } = *token;
        if is_one_of(&OPTIONS, name) {
            self.close()?;
            return self.option(name, value);
        }
        if self.in_context(name) {
            return self.sub_option(word, name, value);
        }
        // A sub-option means something only after its option; in DEBUG, elsewhere it is the
        // application's word.
        if let Some((parent, example)) = sub_option_home(name).filter(|_| !self.shared) {
            return Err(DebugError::OutOfContext {
                word: word.to_owned(),
                parent: parent.to_owned(),
                example: example.to_owned(),
            });
        }
        // `plugin:*`, `stayalive:db`: a namespace pattern of the application's (DEBUG only).
        let pattern = self.shared && name.contains([':', '*']);
        let in_plugin = matches!(self.current, Current::Plugin(_));
        if let Some(suggestion) = near_miss(name, self.subs(), in_plugin).filter(|_| !pattern) {
            return Err(DebugError::NearMiss {
                word: name.to_owned(),
                suggestion,
            });
        }
        if let Some(glue) = self.glue {
            let joined = format!("{}{word}", ",".repeat(empties_before + 1));
            self.glue_onto(glue).push_str(&joined);
            return Ok(());
        }
        self.spec.ignored.push(word.to_owned());
        Ok(())
    }

    fn option(&mut self, name: &str, value: Option<&str>) -> Result<(), DebugError> {
        match name {
            "verbose" => {
                no_value(name, value)?;
                if !self.spec.verbose() {
                    self.spec.options.push(DebugOption::Verbose);
                }
            }
            "stayalive" => {
                let stay = parse_stayalive(value)?;
                let existing = self.spec.options.iter_mut().find_map(|o| match o {
                    DebugOption::StayAlive(s) => Some(s),
                    _ => None,
                });
                match existing {
                    Some(s) => *s = stay,
                    None => self.spec.options.push(DebugOption::StayAlive(stay)),
                }
            }
            "fstree" => {
                let source = required(
                    name,
                    value,
                    "`fstree=SOURCE`, SOURCE being an http, https or file URL or a path",
                )?;
                self.current = Current::Fstree(FstreeBuilder::new(source));
                self.glue = Some(Glue::Source);
            }
            _ => {
                let source = required(
                    name,
                    value,
                    "`plugin=SOURCE`, SOURCE being a path or an http/https URL",
                )?;
                self.current = Current::Plugin(PluginBuilder::new(source));
                self.glue = Some(Glue::Source);
            }
        }
        Ok(())
    }

    /// The sub-options of the open option.
    fn subs(&self) -> &'static [Word] {
        match self.current {
            Current::None => &[],
            Current::Fstree(_) => &FSTREE_SUBS,
            Current::Plugin(_) => &PLUGIN_SUBS,
        }
    }

    fn in_context(&self, name: &str) -> bool {
        is_one_of(self.subs(), name)
            || (matches!(self.current, Current::Plugin(_)) && name.starts_with(CONFIG_PREFIX))
    }

    fn sub_option(
        &mut self,
        word: &str,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), DebugError> {
        self.glue = None;
        self.glue = match &mut self.current {
            Current::None => unreachable!("sub_option is only called in a context"),
            Current::Fstree(fstree) => fstree.sub_option(name, value)?,
            Current::Plugin(plugin) => plugin.sub_option(word, name, value)?,
        };
        Ok(())
    }

    fn glue_onto(&mut self, glue: Glue) -> &mut String {
        match &mut self.current {
            Current::Fstree(fstree) => fstree.glue_target(glue),
            Current::Plugin(plugin) => plugin.glue_target(glue),
            Current::None => unreachable!("glue target always belongs to the current option"),
        }
    }

    /// Ends the current `fstree`/`plugin`: checks it and appends it to the options.
    fn close(&mut self) -> Result<(), DebugError> {
        self.glue = None;
        match std::mem::take(&mut self.current) {
            Current::None => {}
            Current::Fstree(fstree) => {
                let spec = fstree.finish()?;
                self.spec.options.push(DebugOption::Fstree(spec));
            }
            Current::Plugin(plugin) => {
                let spec = plugin.finish()?;
                self.spec.options.push(DebugOption::Plugin(spec));
            }
        }
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<DebugSpec, DebugError> {
        self.close()?;
        Ok(self.spec)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use std::path::PathBuf;
    use std::time::Duration;

    #[test]
    fn debug_words_that_only_resemble_ours_are_the_applications() {
        // Found with Docker: each of these stopped the start (exit 2).
        let spec = parse_shared("env,fetch,plugin:*,stayalive:*,express:*,strip=1").unwrap();
        assert_eq!(
            spec.ignored,
            [
                "env",
                "fetch",
                "plugin:*",
                "stayalive:*",
                "express:*",
                "strip=1"
            ]
        );
        assert!(spec.options.is_empty());
        // Typos of our option names are still refused, and sub-options still follow options.
        assert!(matches!(
            parse_shared("verbos"),
            Err(DebugError::NearMiss { .. })
        ));
        let spec = parse_shared("fstree=/t.tgz,strip=1,env").unwrap();
        assert_eq!(spec.plugins().count(), 1);
        // Where every word is hookinit's, the same words are mistakes.
        assert!(matches!(
            parse("plugin:*"),
            Err(DebugError::NearMiss { .. })
        ));
        assert!(matches!(
            parse("strip=1"),
            Err(DebugError::OutOfContext { .. })
        ));
    }

    #[test]
    fn simple_options_in_order() {
        assert_eq!(
            opts("verbose,stayalive"),
            vec![
                DebugOption::Verbose,
                DebugOption::StayAlive(StayAlive::default())
            ]
        );
        assert_eq!(
            opts("stayalive,verbose"),
            vec![
                DebugOption::StayAlive(StayAlive::default()),
                DebugOption::Verbose
            ]
        );
    }

    #[test]
    fn duplicates_verbose_idempotent_stayalive_last_wins() {
        assert_eq!(opts("verbose,verbose"), vec![DebugOption::Verbose]);
        assert_eq!(
            opts("stayalive=always,verbose,stayalive=10m"),
            vec![
                DebugOption::StayAlive(StayAlive {
                    after_success: false,
                    limit: Some(Duration::from_secs(600))
                }),
                DebugOption::Verbose
            ]
        );
    }

    #[test]
    fn several_fstrees_and_plugins_keep_order() {
        let options =
            opts("fstree=/a.tgz,plugin=/p/one.wasm,fstree=/b.tgz,strip=1,plugin=/p/two.wasm");
        let names: Vec<String> = options
            .iter()
            .map(|o| match o {
                DebugOption::Fstree(p) => format!("fstree:{}", p.config[0].1),
                DebugOption::Plugin(p) => format!("plugin:{}", p.name),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            names,
            ["fstree:/a.tgz", "plugin:one", "fstree:/b.tgz", "plugin:two"]
        );
    }

    #[test]
    fn url_with_commas_is_glued() {
        let options = opts("fstree=https://h/a,b.tgz,verbose");
        assert_eq!(
            options,
            vec![
                fstree(&[("source", "https://h/a,b.tgz")]),
                DebugOption::Verbose
            ]
        );

        let options = opts("fstree=https://h/get?files=a,b,c&x=1#p,q,strip=1,stayalive");
        assert_eq!(
            options,
            vec![
                fstree(&[
                    ("source", "https://h/get?files=a,b,c&x=1#p,q"),
                    ("strip", "1")
                ]),
                DebugOption::StayAlive(StayAlive::default())
            ]
        );

        let options = opts("fstree=https://h/a,,b.tgz");
        assert_eq!(fstree_source(&options), "https://h/a,,b.tgz");

        let options = opts(&format!("plugin=https://h/dl/x,y.wasm?k=1,2,sha256={HEX}"));
        let p = plugin_of(&options);
        assert_eq!(
            p.source,
            PluginSource::Url("https://h/dl/x,y.wasm?k=1,2".parse().unwrap())
        );
        assert_eq!(p.name, "x,y");
    }

    #[test]
    fn glue_onto_path_sub_option_values() {
        let options = opts("fstree=/t.tgz,dest=/srv/a,b,strip=1");
        assert_eq!(
            options,
            vec![fstree(&[
                ("source", "/t.tgz"),
                ("dest", "/srv/a,b"),
                ("strip", "1")
            ])]
        );
        let options = opts("plugin=/p.wasm,read=/a,b,write=/c,d,config.list=x,y,z");
        let p = plugin_of(&options);
        assert_eq!(p.grants.read, vec![PathBuf::from("/a,b")]);
        assert_eq!(p.grants.write, vec![PathBuf::from("/c,d")]);
        assert_eq!(p.config, vec![("list".into(), "x,y,z".into())]);
    }

    #[test]
    fn no_glue_after_typed_values_or_flags() {
        let spec = parse("fstree=/t.tgz,strip=1,myapp:*").unwrap();
        assert_eq!(
            spec.options,
            vec![fstree(&[("source", "/t.tgz"), ("strip", "1")])]
        );
        assert_eq!(spec.ignored, vec!["myapp:*"]);
        let spec = parse("plugin=https://h/p.wasm,unpinned,1").unwrap();
        assert_eq!(spec.ignored, vec!["1"]);
        let spec = parse("stayalive=10m,express:*").unwrap();
        assert_eq!(spec.ignored, vec!["express:*"]);
        // Sub-options keep applying after an ignored word.
        let spec = parse("plugin=/p.wasm,unpinned,1,read=/etc").unwrap();
        assert_eq!(
            plugin_of(&spec.options).grants.read,
            vec![PathBuf::from("/etc")]
        );
    }

    #[test]
    fn sub_options_out_of_context() {
        let e = err("strip=1,fstree=/t.tgz");
        assert_eq!(
            e,
            DebugError::OutOfContext {
                word: "strip=1".into(),
                parent: "`fstree=SOURCE`".into(),
                example: "fstree=https://host/tree.tgz,strip=1".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "`strip=1` is a sub-option of `fstree=SOURCE` and must follow it: move it right after the option it modifies, e.g. `fstree=https://host/tree.tgz,strip=1`"
        );
        for value in [
            "sha256=abc",
            "read=/etc",
            "unpinned",
            "config.x=1",
            "fstree=/t.tgz,read=/etc",
            "fstree=/t.tgz,unpinned",
            "plugin=/p.wasm,strip=1",
            "plugin=/p.wasm,max-size=1G",
            "fstree=/t.tgz,verbose,strip=1",
            "fstree=https://h/a?x,dest=/srv,env=HOME",
        ] {
            assert!(
                matches!(err(value), DebugError::OutOfContext { .. }),
                "{value}"
            );
        }
    }
}
