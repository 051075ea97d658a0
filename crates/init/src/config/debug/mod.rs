//! The DEBUG grammar: what `DEBUG` (or `HOOKINIT_DEBUG`) may say.
//!
//! ```text
//! DEBUG=verbose,stayalive,fstree=https://host/tree.tar.gz,strip=1,plugin=/debug/coredump.wasm,write=/cores
//! ```
//!
//! `HOOKINIT_DEBUG`, when set, is read instead of `DEBUG`; use it when your application uses
//! `DEBUG` itself. `DEBUG` is always passed to the main process unchanged.
//!
//! # Words
//!
//! The value is a list of *words* separated by commas. Whitespace around each word is trimmed and
//! empty words (`verbose,,stayalive`, a trailing comma) are skipped. A word is `name` or
//! `name=value`, split at the **first** `=`, so a value keeps any later `=`
//! (`fstree=https://h/x.tgz?a=1&b=2` keeps its whole query).
//!
//! # Options
//!
//! | option | value | meaning |
//! |---|---|---|
//! | `verbose` | none | trace the entrypoint's shell commands and log every lifecycle step |
//! | `stayalive` | none, `always`, or a duration (`30s`, `10m`, `1h30m`) | stay up after the main process fails; `always`: after a success too; a duration: for that long at most |
//! | `fstree=SOURCE` | required | unpack an archive over the file system; SOURCE is an `http://`, `https://` or `file://` URL, or a path |
//! | `plugin=SOURCE` | required | load a WebAssembly plugin; SOURCE is a path or an `http://`/`https://` URL |
//!
//! A repeated `verbose` or `stayalive` is harmless: `verbose` is idempotent and the last
//! `stayalive` wins. `fstree` and `plugin` may be given several times; they run in the order given.
//!
//! # Sub-options
//!
//! Sub-options are words that follow, comma-separated, the `fstree` or `plugin` they modify
//! (until the next option). Any other place is an error (`strip=1,fstree=...` is refused).
//!
//! After `fstree=SOURCE`:
//! - `strip=N`: drop N leading folders from every archive entry (N is a whole number).
//! - `sha256=HEX`: refuse the archive unless its sha256 is HEX (64 hexadecimal digits).
//! - `dest=DIR`: unpack under DIR (an absolute path) instead of `/`.
//! - `max-size=SIZE`: refuse archives that unpack to more than SIZE bytes; SIZE is a whole
//!   number with an optional suffix `K`, `M`, `G`, `T` (or `KiB`, `MiB`, `GiB`, `TiB`, all
//!   powers of 1024; `B` for bytes), e.g. `max-size=2G`.
//! - `timeout=DURATION`: give up a download that takes longer than DURATION in total (`30s`,
//!   `10m`; default 5 minutes; connecting has its own 10 s limit).
//!
//! After `plugin=SOURCE`:
//! - `sha256=HEX`: the component's expected sha256. A plugin fetched from a URL must have one...
//! - `unpinned`: ...unless this flag says to run whatever the URL serves.
//! - `required`: the main process does not start unless this plugin loads and its pre-exec
//!   succeeds (a policy plugin); without it, a plugin that cannot be loaded is reported and left
//!   out.
//! - `read=DIR`, `write=DIR`: let the plugin read (or read and write) the directory DIR (absolute).
//! - `fetch=HOST` or `fetch=HOST:PORT`: let the plugin download from that host.
//! - `env=NAME`, `env=PREFIX_*`, `env=*`: let the plugin see the main process's variable NAME,
//!   those whose name starts with PREFIX_, or all of them.
//! - `config.KEY=VALUE`: hand `KEY=VALUE` to the plugin's `init`.
//!
//! `read`, `write`, `fetch` and `env` may be repeated to grant several; for the other
//! sub-options the last one wins. A plugin is named after its file: `plugin=/debug/coredump.wasm`
//! and `plugin=https://h/dl/coredump.wasm?v=2` are both `coredump` in the logs.
//!
//! # Commas inside values
//!
//! A comma ends a word only where the text after it starts a known option (`verbose`,
//! `stayalive`, `fstree`, `plugin`) or a sub-option of the current `fstree`/`plugin`. Otherwise the
//! text is glued back, comma included, onto the value before it when that value may contain a
//! comma: an `fstree`/`plugin` SOURCE, `dest`, `read`, `write` or a `config.KEY` value. So
//! `fstree=https://h/a,b.tgz,verbose` fetches `https://h/a,b.tgz` and then turns on `verbose`.
//! (Empty words inside such a value are kept: `a,,b` stays `a,,b`.) A URL whose comma is followed
//! by one of our names (`https://h/x?a,strip=2`) cannot be written this way: write the comma as
//! `%2C`.
//!
//! # Words that are not ours
//!
//! Many applications use `DEBUG` themselves (`DEBUG=1`, `DEBUG=express:*`). A word is checked in
//! this order:
//! 1. a known option, or a sub-option valid right here: used;
//! 2. a sub-option name out of its place (`strip=1` before any `fstree`, `read=/x` after an
//!    `fstree`): **error**;
//! 3. a *near miss* of a known option or (inside `fstree`/`plugin`) sub-option name: the part
//!    before `=` equals one of them ignoring case, or is at most 2 edits away (insert, delete,
//!    substitute, swap two neighbours), e.g. `verbos`, `stayalvie`, `Fstree=...`: **error**, with
//!    a "did you mean" line, before anything starts. This also applies inside a URL value;
//! 4. after a value that may contain a comma (see above): glued onto that value;
//! 5. anything else (`1`, `true`, `express:*`, `myapp:*`): not ours; it is left to the
//!    application, hookinit prints one notice line and carries on.
//!
//! Put application words first (`DEBUG=myapp:*,verbose`), or better use `HOOKINIT_DEBUG`.

mod checks;
mod errors;
mod fstree;
mod parser;
mod plugin;
mod stayalive;
#[cfg(test)]
mod testing;
mod tokens;
mod words;

use crate::log::clip;

use super::plan::{PluginSpec, StayAlive};
pub(crate) use checks::{check_absolute, check_env_name};
pub use errors::DebugError;
use parser::Parser;
pub use words::{FSTREE_SUBS, OPTIONS, PLUGIN_SUBS, Word, help};

/// One option of DEBUG, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DebugOption {
    /// `verbose`.
    Verbose,
    /// `stayalive`, `stayalive=always`, `stayalive=DURATION`.
    StayAlive(StayAlive),
    /// `fstree=SOURCE[,sub-options]`: the built-in fstree plugin, configured with `source` and
    /// the sub-options given (`strip`, `sha256`, `dest`, `max-size` in bytes).
    Fstree(PluginSpec),
    /// `plugin=SOURCE[,sub-options]`: an operator's plugin.
    Plugin(PluginSpec),
}

/// The parsed value of DEBUG.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DebugSpec {
    /// Options in the order given (one `Verbose` and one `StayAlive` at most).
    pub options: Vec<DebugOption>,
    /// Words that are not ours, left to the application.
    pub ignored: Vec<String>,
}

impl DebugSpec {
    /// `verbose` was given.
    pub fn verbose(&self) -> bool {
        self.options
            .iter()
            .any(|o| matches!(o, DebugOption::Verbose))
    }

    /// The stayalive policy, if `stayalive` was given.
    pub fn stayalive(&self) -> Option<&StayAlive> {
        self.options.iter().find_map(|o| match o {
            DebugOption::StayAlive(s) => Some(s),
            _ => None,
        })
    }

    /// The `fstree` and `plugin` specs, in the order given.
    pub fn plugins(&self) -> impl Iterator<Item = &PluginSpec> {
        self.options.iter().filter_map(|o| match o {
            DebugOption::Fstree(p) | DebugOption::Plugin(p) => Some(p),
            _ => None,
        })
    }

    /// Refuses words left to the application, for values that are hookinit's alone
    /// (`HOOKINIT_DEBUG`, `--debug`, the file's `debug`).
    pub fn all_ours(self) -> Result<Self, DebugError> {
        match self.ignored.first() {
            Some(word) => Err(DebugError::NotOurs { word: word.clone() }),
            None => Ok(self),
        }
    }

    /// The one notice line to print when some words of `DEBUG` were left to the application.
    pub fn ignored_notice(&self) -> Option<String> {
        if self.ignored.is_empty() {
            return None;
        }
        let words: Vec<String> = self
            .ignored
            .iter()
            .map(|w| format!("`{}`", clip(w)))
            .collect();
        Some(format!(
            "DEBUG: {} not a hookinit option, left to the application (set HOOKINIT_DEBUG to give hookinit its own options)",
            if words.len() == 1 {
                format!("{} is", words[0])
            } else {
                format!("{} are", words.join(", "))
            }
        ))
    }
}

/// Parses a value that is hookinit's alone (HOOKINIT_DEBUG, `--debug`, the file's `debug`). See
/// the module documentation for the grammar. Words that are not ours end up in
/// [`DebugSpec::ignored`]; such callers refuse them ([`DebugSpec::all_ours`]).
pub fn parse(value: &str) -> Result<DebugSpec, DebugError> {
    parse_with(value, false)
}

/// Parses `DEBUG`, which applications use too: a sub-option name out of its place (`env`,
/// `fetch`) and a namespace pattern resembling an option (`plugin:*`, `stayalive:db`) are the
/// application's, not errors. Typos of our option names are still refused.
pub fn parse_shared(value: &str) -> Result<DebugSpec, DebugError> {
    parse_with(value, true)
}

fn parse_with(value: &str, shared: bool) -> Result<DebugSpec, DebugError> {
    let mut parser = Parser::new(shared);
    for token in tokens::tokens(value) {
        parser.word(&token)?;
    }
    parser.finish()
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn empty_value_is_empty_spec() {
        assert_eq!(parse("").unwrap(), DebugSpec::default());
        assert_eq!(parse(" , ,").unwrap(), DebugSpec::default());
    }

    #[test]
    fn words_that_are_not_ours_are_ignored() {
        for value in ["1", "true", "express:*", "*", "yes", "on", "app"] {
            let spec = parse(value).unwrap();
            assert_eq!(spec.ignored, vec![value], "{value}");
            assert!(spec.options.is_empty());
        }
        let spec = parse("myapp:*,other:*").unwrap();
        assert_eq!(spec.ignored, vec!["myapp:*", "other:*"]);
        let spec = parse("myapp:*,verbose, 1 ").unwrap();
        assert_eq!(spec.options, vec![DebugOption::Verbose]);
        assert_eq!(spec.ignored, vec!["myapp:*", "1"]);
        assert_eq!(
            spec.ignored_notice().unwrap(),
            "DEBUG: `myapp:*`, `1` are not a hookinit option, left to the application (set HOOKINIT_DEBUG to give hookinit its own options)"
        );
        assert_eq!(parse("verbose").unwrap().ignored_notice(), None);
    }

    #[test]
    fn spec_helpers() {
        let spec = parse("fstree=/t.tgz,verbose,stayalive=always,plugin=/p.wasm").unwrap();
        assert!(spec.verbose());
        assert_eq!(
            spec.stayalive(),
            Some(&StayAlive {
                after_success: true,
                limit: None
            })
        );
        let names: Vec<&str> = spec.plugins().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["fstree", "p"]);
        assert!(!parse("").unwrap().verbose());
    }

    // --- property tests -------------------------------------------------------------------

    /// A piece of a value after a comma: no letters (so never a near miss of our names) and no
    /// whitespace or commas, never empty.
    fn chunk() -> impl Strategy<Value = String> {
        "[0-9%._~/=?&#:+-]{1,6}"
    }

    /// A value tail: zero or more chunks, each after a comma.
    fn comma_tail() -> impl Strategy<Value = String> {
        prop::collection::vec(chunk(), 0..4)
            .prop_map(|chunks| chunks.iter().map(|c| format!(",{c}")).collect::<String>())
    }

    /// Like [`comma_tail`] without `/`, for a file name.
    fn comma_tail_no_slash() -> impl Strategy<Value = String> {
        prop::collection::vec("[0-9%._~=?&#:+-]{1,6}", 0..4)
            .prop_map(|chunks| chunks.iter().map(|c| format!(",{c}")).collect::<String>())
    }

    #[derive(Clone, Debug)]
    enum FsSub {
        Strip(u32),
        Sha(String),
        Dest(String),
        MaxSize(u64, &'static str, u64),
    }

    #[derive(Clone, Debug)]
    enum PlSub {
        Read(String),
        Write(String),
        Fetch(String),
        Env(String),
        Config(String, String),
    }

    fn hex64() -> impl Strategy<Value = String> {
        "[0-9a-f]{64}"
    }

    fn fs_sub() -> impl Strategy<Value = FsSub> {
        prop_oneof![
            any::<u32>().prop_map(FsSub::Strip),
            hex64().prop_map(FsSub::Sha),
            ("[a-z]{1,6}", comma_tail()).prop_map(|(d, t)| FsSub::Dest(format!("/srv/{d}{t}"))),
            (
                1u64..5000,
                prop::sample::select(vec![
                    ("", 1u64),
                    ("K", 1 << 10),
                    ("MiB", 1 << 20),
                    ("G", 1 << 30)
                ])
            )
                .prop_map(|(n, (s, m))| FsSub::MaxSize(n, s, n * m)),
        ]
    }

    fn pl_sub() -> impl Strategy<Value = PlSub> {
        prop_oneof![
            ("[a-z]{1,6}", comma_tail()).prop_map(|(d, t)| PlSub::Read(format!("/{d}{t}"))),
            ("[a-z]{1,6}", comma_tail()).prop_map(|(d, t)| PlSub::Write(format!("/{d}{t}"))),
            ("[a-z]{1,8}\\.example", prop::option::of(1u16..)).prop_map(|(h, p)| PlSub::Fetch(
                match p {
                    Some(p) => format!("{h}:{p}"),
                    None => h,
                }
            )),
            "[A-Z_]{1,8}".prop_map(PlSub::Env),
            ("[a-z]{1,6}", "[a-z0-9]{0,4}", comma_tail())
                .prop_map(|(k, v, t)| PlSub::Config(k, format!("{v}{t}"))),
        ]
    }

    /// (words joined later, expected option)
    fn option() -> impl Strategy<Value = (String, DebugOption)> {
        let verbose = Just(("verbose".to_owned(), DebugOption::Verbose));
        let stay = prop_oneof![
            Just(("stayalive".to_owned(), StayAlive::default())),
            Just((
                "stayalive=always".to_owned(),
                StayAlive {
                    after_success: true,
                    limit: None
                }
            )),
            (1u64..100).prop_map(|n| (
                format!("stayalive={n}m"),
                StayAlive {
                    after_success: false,
                    limit: Some(Duration::from_secs(n * 60))
                }
            )),
            (1u64..10, 1u64..60).prop_map(|(h, m)| (
                format!("stayalive={h}h{m}m"),
                StayAlive {
                    after_success: false,
                    limit: Some(Duration::from_secs(h * 3600 + m * 60))
                }
            )),
        ]
        .prop_map(|(w, s)| (w, DebugOption::StayAlive(s)));
        let fs_source = prop_oneof![
            ("[a-z]{1,6}", comma_tail())
                .prop_map(|(s, t)| format!("https://h.example/{s}.tgz?x=1{t}")),
            ("[a-z]{1,6}", comma_tail())
                .prop_map(|(s, t)| format!("http://h.example/a{t}/{s}.tar.gz")),
            ("[a-z]{1,6}", comma_tail()).prop_map(|(s, t)| format!("file:///srv/{s}{t}.tar")),
            ("[a-z]{1,6}", comma_tail()).prop_map(|(s, t)| format!("/srv/{s}{t}.zip")),
        ];
        let fs = (fs_source, prop::collection::vec(fs_sub(), 0..5)).prop_map(|(source, subs)| {
            let mut words = vec![format!("fstree={source}")];
            let mut config = vec![("source".to_owned(), source)];
            for sub in subs {
                let (word, key, value) = match sub {
                    FsSub::Strip(n) => (format!("strip={n}"), "strip", n.to_string()),
                    FsSub::Sha(h) => (format!("sha256={h}"), "sha256", h),
                    FsSub::Dest(d) => (format!("dest={d}"), "dest", d),
                    FsSub::MaxSize(n, s, bytes) => {
                        (format!("max-size={n}{s}"), "max-size", bytes.to_string())
                    }
                };
                words.push(word);
                match config.iter_mut().find(|(k, _)| k == key) {
                    Some((_, v)) => *v = value,
                    None => config.push((key.to_owned(), value)),
                }
            }
            let spec = PluginSpec::builtin(Builtin::Fstree, config);
            (words.join(","), DebugOption::Fstree(spec))
        });
        let pl_source = prop_oneof![
            ("[a-z]{1,6}", comma_tail())
                .prop_map(|(s, t)| (s.clone(), format!("https://h.example/dl/{s}.wasm?v=1{t}"))),
            ("[a-z]{1,6}", comma_tail())
                .prop_map(|(s, t)| (s.clone(), format!("http://h.example/{s}.wasm#x{t}"))),
            ("[a-z]{1,6}", comma_tail_no_slash())
                .prop_map(|(s, t)| (format!("{s}{t}"), format!("/debug/{s}{t}.wasm"))),
        ];
        let pl = (
            pl_source,
            prop::option::of(hex64()),
            any::<bool>(),
            prop::collection::vec(pl_sub(), 0..6),
        )
            .prop_map(|((name, source), sha, unpinned, subs)| {
                let is_url = source.starts_with("http");
                let unpinned = unpinned || (is_url && sha.is_none());
                let mut words = vec![format!("plugin={source}")];
                let mut spec = PluginSpec::operator(
                    name,
                    if is_url {
                        PluginSource::Url(source.parse().unwrap())
                    } else {
                        PluginSource::Path(source.clone().into())
                    },
                );
                spec.sha256 = sha.as_deref().map(|h| h.parse().unwrap());
                spec.allow_unpinned = unpinned;
                if let Some(h) = sha {
                    words.push(format!("sha256={h}"));
                }
                if unpinned {
                    words.push("unpinned".into());
                }
                for sub in subs {
                    match sub {
                        PlSub::Read(d) => {
                            words.push(format!("read={d}"));
                            spec.grants.read.push(d.into());
                        }
                        PlSub::Write(d) => {
                            words.push(format!("write={d}"));
                            spec.grants.write.push(d.into());
                        }
                        PlSub::Fetch(h) => {
                            words.push(format!("fetch={h}"));
                            spec.grants.fetch.push(h.parse().unwrap());
                        }
                        PlSub::Env(n) => {
                            words.push(format!("env={n}"));
                            spec.grants.env.push(n);
                        }
                        PlSub::Config(k, v) => {
                            words.push(format!("config.{k}={v}"));
                            match spec.config.iter_mut().find(|(key, _)| *key == k) {
                                Some((_, old)) => *old = v,
                                None => spec.config.push((k, v)),
                            }
                        }
                    }
                }
                (words.join(","), DebugOption::Plugin(spec))
            });
        prop_oneof![verbose, stay, fs, pl]
    }

    /// What parse keeps of a list of options: one `Verbose` (first place), one `StayAlive`
    /// (first place, last value).
    fn normalize(options: Vec<DebugOption>) -> Vec<DebugOption> {
        let mut out: Vec<DebugOption> = Vec::new();
        for option in options {
            match option {
                DebugOption::Verbose if out.contains(&DebugOption::Verbose) => {}
                DebugOption::StayAlive(s) => {
                    match out
                        .iter_mut()
                        .find(|o| matches!(o, DebugOption::StayAlive(_)))
                    {
                        Some(existing) => *existing = DebugOption::StayAlive(s),
                        None => out.push(DebugOption::StayAlive(s)),
                    }
                }
                other => out.push(other),
            }
        }
        out
    }

    /// Text made of pieces of the grammar, to reach deep into the parser.
    fn grammar_soup() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just(",".to_owned()),
            Just("=".to_owned()),
            Just(" ".to_owned()),
            prop::sample::select(vec![
                "verbose",
                "stayalive",
                "fstree",
                "plugin",
                "strip",
                "sha256",
                "dest",
                "max-size",
                "read",
                "write",
                "fetch",
                "env",
                "unpinned",
                "required",
                "config.",
                "always",
                "https://",
                "file://",
                "ftp://",
                "/",
                "?",
                "&",
                "#",
                "[",
                "]",
                ":",
                "10m",
                "2G",
                HEX,
            ])
            .prop_map(str::to_owned),
            ".{0,4}",
        ];
        prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn never_panics_on_any_string(value in ".*") {
            let _ = parse(&value);
        }

        #[test]
        fn never_panics_on_grammar_soup(value in grammar_soup()) {
            if let Err(e) = parse(&value) {
                prop_assert!(!e.to_string().contains('\n'));
            }
        }

        #[test]
        fn valid_options_round_trip(list in prop::collection::vec(option(), 0..6)) {
            let text = list.iter().map(|(w, _)| w.as_str()).collect::<Vec<_>>().join(",");
            let expected = normalize(list.into_iter().map(|(_, o)| o).collect());
            let spec = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(spec.ignored, Vec::<String>::new());
            prop_assert_eq!(spec.options, expected, "{}", text);
        }

        #[test]
        fn foreign_words_are_ignored(
            words in prop::collection::vec("[0-9:*._/-]{1,12}", 1..6),
            verbose_at in any::<prop::sample::Index>(),
        ) {
            // Interleave one `verbose`: foreign words around our options are still ignored.
            let mut all: Vec<&str> = words.iter().map(String::as_str).collect();
            all.insert(verbose_at.index(all.len() + 1), "verbose");
            let spec = parse(&all.join(",")).unwrap();
            prop_assert_eq!(spec.ignored, words);
            prop_assert_eq!(spec.options, vec![DebugOption::Verbose]);
        }
    }
}
