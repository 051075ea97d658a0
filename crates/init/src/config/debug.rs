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
//! - `read=DIR`, `write=DIR`: let the plugin read (or read and write) the directory DIR (absolute).
//! - `fetch=HOST` or `fetch=HOST:PORT`: let the plugin download from that host.
//! - `env=NAME`: let the plugin see the environment variable NAME.
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

use std::path::Path;

use crate::log::clip;
use hookinit_values::{BoundedDuration, ByteSize, HostGrant, Sha256Pin, Source, SourceError};

use super::plan::{Builtin, Grants, PluginSource, PluginSpec, StayAlive};

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
    let mut parser = Parser {
        shared,
        ..Parser::default()
    };
    for raw in value.split(',') {
        let word = raw.trim();
        if word.is_empty() {
            parser.empties += 1;
            continue;
        }
        parser.word(word)?;
        parser.empties = 0;
    }
    parser.finish()
}

/// A word of the grammar: its name for the parser, how it is written and what it does for
/// `hookinit --help` ([`help`]), so that the two cannot drift apart.
pub struct Word {
    pub name: &'static str,
    pub form: &'static str,
    pub help: &'static str,
}

const fn word(name: &'static str, form: &'static str, help: &'static str) -> Word {
    Word { name, form, help }
}

pub const OPTIONS: [Word; 4] = [
    word(
        "verbose",
        "verbose",
        "trace entrypoint scripts (set -x) and log every lifecycle step",
    ),
    word(
        "stayalive",
        "stayalive[=always|=DURATION]",
        "stay up after the main process fails, for `docker exec`; always: after a success too; DURATION: that long at most",
    ),
    word(
        "fstree",
        "fstree=SOURCE",
        "unpack a tar (gz, xz, zst) or zip over / before the main process starts; SOURCE: an http, https or file URL, or a path",
    ),
    word(
        "plugin",
        "plugin=SOURCE",
        "run an operator's WebAssembly plugin; SOURCE: a path or an http/https URL",
    ),
];
pub const FSTREE_SUBS: [Word; 5] = [
    word(
        "strip",
        "strip=N",
        "drop N leading folders of every entry (without it, a single top folder holding everything is dropped)",
    ),
    word(
        "sha256",
        "sha256=HEX",
        "refuse the archive unless its sha256 is HEX",
    ),
    word("dest", "dest=DIR", "unpack under DIR instead of /"),
    word(
        "max-size",
        "max-size=SIZE",
        "refuse an archive that unpacks to more than SIZE (512K, 2G; default 1G)",
    ),
    word(
        "timeout",
        "timeout=DURATION",
        "give up a download that takes longer (default 5m)",
    ),
];
pub const PLUGIN_SUBS: [Word; 6] = [
    word(
        "sha256",
        "sha256=HEX",
        "the component's sha256: required for a URL, checked for a path",
    ),
    word(
        "unpinned",
        "unpinned",
        "run whatever the URL serves, without a sha256",
    ),
    word(
        "read",
        "read=DIR",
        "let the plugin read DIR (repeatable, like the grants below)",
    ),
    word("write", "write=DIR", "let the plugin read and write DIR"),
    word(
        "fetch",
        "fetch=HOST[:PORT]",
        "let the plugin download from HOST (any port; with :PORT that one, 443 matching https:// URLs without a port); *.DOMAIN grants DOMAIN's subdomains",
    ),
    word(
        "env",
        "env=NAME",
        "let the plugin see the environment variable NAME",
    ),
];
const CONFIG_PREFIX: &str = "config.";
/// `config.KEY=VALUE`, for `--help`: not in [`PLUGIN_SUBS`] as its name is a prefix.
const CONFIG_WORD: Word = word(
    "config.",
    "config.KEY=VALUE",
    "hand KEY=VALUE to the plugin's init (repeatable)",
);

fn is_one_of(words: &[Word], name: &str) -> bool {
    words.iter().any(|w| w.name == name)
}

/// The DEBUG options and sub-options with what each does, for `hookinit --help`.
pub fn help() -> String {
    // Wrapped here, to under clap's 100 columns, with the description column kept.
    const FORM: usize = 32;
    const WIDTH: usize = 96 - FORM - 3;
    let mut text = String::new();
    let mut line = |indent: usize, w: &Word| {
        let mut form = format!("{:indent$}{}", "", w.form);
        let mut current = String::new();
        for word in w.help.split(' ') {
            if !current.is_empty() && current.len() + 1 + word.len() > WIDTH {
                text.push_str(&format!("  {form:<FORM$} {current}\n"));
                form.clear();
                current.clear();
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        text.push_str(&format!("  {form:<FORM$} {current}\n"));
    };
    for option in &OPTIONS {
        line(0, option);
        let subs: &[Word] = match option.name {
            "fstree" => &FSTREE_SUBS,
            "plugin" => &PLUGIN_SUBS,
            _ => &[],
        };
        for sub in subs {
            line(2, sub);
        }
        if option.name == "plugin" {
            line(2, &CONFIG_WORD);
        }
    }
    text
}

/// The `fstree` or `plugin` whose sub-options may follow.
#[derive(Default)]
enum Current {
    #[default]
    None,
    Fstree(FstreeBuilder),
    Plugin(PluginBuilder),
}

struct FstreeBuilder {
    source: String,
    /// Sub-options in the order first given, values already checked.
    subs: Vec<(&'static str, String)>,
}

#[derive(Default)]
struct PluginBuilder {
    source: String,
    sha256: Option<Sha256Pin>,
    unpinned: bool,
    read: Vec<String>,
    write: Vec<String>,
    fetch: Vec<HostGrant>,
    env: Vec<String>,
    config: Vec<(String, String)>,
}

/// The value a following word that is not ours gets glued onto.
#[derive(Clone, Copy)]
enum Glue {
    Source,
    Dest,
    Read,
    Write,
    /// Index into the plugin's `config`.
    Config(usize),
}

#[derive(Default)]
struct Parser {
    /// Parsing `DEBUG` (see [`parse_shared`]).
    shared: bool,
    spec: DebugSpec,
    current: Current,
    glue: Option<Glue>,
    /// Empty words since the last non-empty one (kept when gluing: `a,,b`).
    empties: usize,
}

impl Parser {
    fn word(&mut self, word: &str) -> Result<(), DebugError> {
        let (name, value) = match word.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim())),
            None => (word, None),
        };
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
        if let Some(suggestion) = self.near_miss(name).filter(|_| !pattern) {
            return Err(DebugError::NearMiss {
                word: name.to_owned(),
                suggestion,
            });
        }
        if let Some(glue) = self.glue {
            let joined = format!("{}{word}", ",".repeat(self.empties + 1));
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
                self.current = Current::Fstree(FstreeBuilder {
                    source: source.to_owned(),
                    subs: Vec::new(),
                });
                self.glue = Some(Glue::Source);
            }
            _ => {
                let source = required(
                    name,
                    value,
                    "`plugin=SOURCE`, SOURCE being a path or an http/https URL",
                )?;
                self.current = Current::Plugin(PluginBuilder {
                    source: source.to_owned(),
                    ..PluginBuilder::default()
                });
                self.glue = Some(Glue::Source);
            }
        }
        Ok(())
    }

    fn in_context(&self, name: &str) -> bool {
        match self.current {
            Current::None => false,
            Current::Fstree(_) => is_one_of(&FSTREE_SUBS, name),
            Current::Plugin(_) => is_one_of(&PLUGIN_SUBS, name) || name.starts_with(CONFIG_PREFIX),
        }
    }

    fn sub_option(
        &mut self,
        word: &str,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), DebugError> {
        self.glue = None;
        match &mut self.current {
            Current::None => unreachable!("sub_option is only called in a context"),
            Current::Fstree(fstree) => {
                let (key, checked, glue) = match name {
                    "strip" => {
                        let v = required(name, value, "`strip=N`, e.g. `strip=1`")?;
                        let n: u32 = v.parse().map_err(|_| {
                            bad(name, v, "expected a whole number of leading folders to drop, e.g. `strip=1`")
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
                            .ok_or_else(|| {
                                bad(name, v, "expected a duration from 1ms to 49 days")
                            })?;
                        ("timeout", ms.to_string(), None)
                    }
                    _ => {
                        let v = required(name, value, "`max-size=SIZE`, e.g. `max-size=2G`")?;
                        let size: ByteSize = v.parse().map_err(|r: String| bad(name, v, &r))?;
                        ("max-size", size.bytes().to_string(), None)
                    }
                };
                match fstree.subs.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, old)) => *old = checked,
                    None => fstree.subs.push((key, checked)),
                }
                self.glue = glue;
            }
            Current::Plugin(plugin) => match name {
                "sha256" => {
                    let v = required(name, value, "`sha256=HEX` (64 hexadecimal digits)")?;
                    plugin.sha256 = Some(v.parse().map_err(|r: String| bad(name, v, &r))?);
                }
                "unpinned" => {
                    no_value(name, value)?;
                    plugin.unpinned = true;
                }
                "read" | "write" => {
                    let usage = format!("`{name}=DIR` with an absolute DIR, e.g. `{name}=/srv`");
                    let v = required(name, value, &usage)?;
                    check_absolute(v).map_err(|r| bad(name, v, &r))?;
                    if name == "read" {
                        plugin.read.push(v.to_owned());
                        self.glue = Some(Glue::Read);
                    } else {
                        plugin.write.push(v.to_owned());
                        self.glue = Some(Glue::Write);
                    }
                }
                "fetch" => {
                    let v = required(name, value, "`fetch=HOST` or `fetch=HOST:PORT`")?;
                    let grant = v.parse().map_err(|r: String| bad(name, v, &r))?;
                    plugin.fetch.push(grant);
                }
                "env" => {
                    let v = required(name, value, "`env=NAME`, e.g. `env=HOME`")?;
                    check_env_name(v).map_err(|r| bad(name, v, &r))?;
                    plugin.env.push(v.to_owned());
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
                    let index = match plugin.config.iter().position(|(k, _)| k == key) {
                        Some(i) => {
                            plugin.config[i].1 = v.to_owned();
                            i
                        }
                        None => {
                            plugin.config.push((key.to_owned(), v.to_owned()));
                            plugin.config.len() - 1
                        }
                    };
                    self.glue = Some(Glue::Config(index));
                }
            },
        }
        Ok(())
    }

    /// A suggestion when `name` is close to one of the names valid here.
    fn near_miss(&self, name: &str) -> Option<String> {
        let lower = name.to_lowercase();
        let subs: &[Word] = match self.current {
            Current::None => &[],
            Current::Fstree(_) => &FSTREE_SUBS,
            Current::Plugin(_) => &PLUGIN_SUBS,
        };
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
        if let Current::Plugin(_) = self.current
            && let Some((head, rest)) = name.split_once('.')
            && strsim::osa_distance(&head.to_lowercase(), "config") <= 2
        {
            return Some(format!("{CONFIG_PREFIX}{rest}"));
        }
        None
    }

    fn glue_onto(&mut self, glue: Glue) -> &mut String {
        match (&mut self.current, glue) {
            (Current::Fstree(f), Glue::Source) => &mut f.source,
            (Current::Plugin(p), Glue::Source) => &mut p.source,
            (Current::Fstree(f), Glue::Dest) => {
                let i = f.subs.iter().position(|(k, _)| *k == "dest");
                &mut f.subs[i.expect("glue target dest exists")].1
            }
            (Current::Plugin(p), Glue::Read) => p.read.last_mut().expect("glue target read exists"),
            (Current::Plugin(p), Glue::Write) => {
                p.write.last_mut().expect("glue target write exists")
            }
            (Current::Plugin(p), Glue::Config(i)) => &mut p.config[i].1,
            _ => unreachable!("glue target always belongs to the current option"),
        }
    }

    /// Ends the current `fstree`/`plugin`: checks it and appends it to the options.
    fn close(&mut self) -> Result<(), DebugError> {
        self.glue = None;
        match std::mem::take(&mut self.current) {
            Current::None => {}
            Current::Fstree(f) => {
                let source = fstree_source(&f.source).map_err(|r| bad("fstree", &f.source, &r))?;
                let mut config = vec![("source".to_owned(), source.to_string())];
                config.extend(f.subs.into_iter().map(|(k, v)| (k.to_owned(), v)));
                self.spec.options.push(DebugOption::Fstree(PluginSpec {
                    name: Builtin::Fstree.name().to_owned(),
                    source: PluginSource::Builtin(Builtin::Fstree),
                    sha256: None,
                    allow_unpinned: false,
                    config,
                    grants: Grants::default(),
                }));
            }
            Current::Plugin(p) => {
                let source =
                    PluginSource::operator(&p.source).map_err(|r| bad("plugin", &p.source, &r))?;
                let spec = PluginSpec {
                    name: source.default_name(),
                    source,
                    sha256: p.sha256,
                    allow_unpinned: p.unpinned,
                    config: p.config,
                    grants: Grants {
                        read: p.read.into_iter().map(Into::into).collect(),
                        write: p.write.into_iter().map(Into::into).collect(),
                        fetch: p.fetch,
                        env: p.env,
                    },
                };
                if let Some(url) = spec.unpinned_url() {
                    return Err(DebugError::Unpinned {
                        url: url.to_string(),
                    });
                }
                self.spec.options.push(DebugOption::Plugin(spec));
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<DebugSpec, DebugError> {
        self.close()?;
        Ok(self.spec)
    }
}

/// Where a sub-option belongs, when `name` is one: (parent, example).
fn sub_option_home(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "sha256" => Some((
            "`fstree=SOURCE` or `plugin=SOURCE`",
            "plugin=https://host/x.wasm,sha256=HEX",
        )),
        "strip" => Some(("`fstree=SOURCE`", "fstree=https://host/tree.tgz,strip=1")),
        "dest" => Some(("`fstree=SOURCE`", "fstree=https://host/tree.tgz,dest=/srv")),
        "max-size" => Some((
            "`fstree=SOURCE`",
            "fstree=https://host/tree.tgz,max-size=2G",
        )),
        "timeout" => Some((
            "`fstree=SOURCE`",
            "fstree=https://host/tree.tgz,timeout=30s",
        )),
        "read" => Some(("`plugin=SOURCE`", "plugin=/debug/x.wasm,read=/etc")),
        "write" => Some(("`plugin=SOURCE`", "plugin=/debug/x.wasm,write=/cores")),
        "fetch" => Some((
            "`plugin=SOURCE`",
            "plugin=/debug/x.wasm,fetch=example.com:443",
        )),
        "env" => Some(("`plugin=SOURCE`", "plugin=/debug/x.wasm,env=HOME")),
        "unpinned" => Some(("`plugin=SOURCE`", "plugin=https://host/x.wasm,unpinned")),
        _ if name.starts_with(CONFIG_PREFIX) => {
            Some(("`plugin=SOURCE`", "plugin=/debug/x.wasm,config.limit=1G"))
        }
        _ => None,
    }
}

fn bad(option: &str, value: &str, reason: &str) -> DebugError {
    DebugError::BadValue {
        option: option.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

fn required<'v>(option: &str, value: Option<&'v str>, usage: &str) -> Result<&'v str, DebugError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(DebugError::MissingValue {
            option: option.to_owned(),
            usage: usage.to_owned(),
        }),
    }
}

fn no_value(option: &str, value: Option<&str>) -> Result<(), DebugError> {
    match value {
        None => Ok(()),
        Some(v) => Err(bad(
            option,
            v,
            &format!("`{option}` takes no value: write just `{option}`"),
        )),
    }
}

fn parse_stayalive(value: Option<&str>) -> Result<StayAlive, DebugError> {
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

pub(crate) fn check_absolute(path: &str) -> Result<(), String> {
    if Path::new(path).is_absolute() {
        Ok(())
    } else {
        Err("expected an absolute directory such as `/srv/data`".to_owned())
    }
}

pub(crate) fn check_env_name(name: &str) -> Result<(), String> {
    if !name.is_empty() && !name.contains(['=', '\0']) && !name.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err("expected the name of an environment variable, e.g. `HOME`".to_owned())
    }
}

/// fstree reads any source: a path, a `file://` URL or an http(s) URL.
fn fstree_source(text: &str) -> Result<Source, String> {
    text.parse().map_err(|e| match e {
        SourceError::Scheme(_) => {
            "fstree reads http://, https:// and file:// URLs or a path".to_owned()
        }
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;
    use std::time::Duration;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn opts(value: &str) -> Vec<DebugOption> {
        let spec = parse(value).unwrap_or_else(|e| panic!("{value:?}: {e}"));
        assert!(
            spec.ignored.is_empty(),
            "{value:?} ignored {:?}",
            spec.ignored
        );
        spec.options
    }

    fn fstree(config: &[(&str, &str)]) -> DebugOption {
        DebugOption::Fstree(PluginSpec {
            name: "fstree".into(),
            source: PluginSource::Builtin(Builtin::Fstree),
            sha256: None,
            allow_unpinned: false,
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            grants: Grants::default(),
        })
    }

    fn plugin_of(options: &[DebugOption]) -> &PluginSpec {
        options
            .iter()
            .find_map(|o| match o {
                DebugOption::Plugin(p) => Some(p),
                _ => None,
            })
            .expect("a plugin option")
    }

    fn fstree_source(options: &[DebugOption]) -> String {
        match &options[0] {
            DebugOption::Fstree(p) => p.config[0].1.clone(),
            other => panic!("not fstree: {other:?}"),
        }
    }

    fn err(value: &str) -> DebugError {
        parse(value).expect_err(value)
    }

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
    fn empty_value_is_empty_spec() {
        assert_eq!(parse("").unwrap(), DebugSpec::default());
        assert_eq!(parse(" , ,").unwrap(), DebugSpec::default());
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
    fn whitespace_and_empty_words() {
        assert_eq!(
            opts(" verbose ,, stayalive ,"),
            vec![
                DebugOption::Verbose,
                DebugOption::StayAlive(StayAlive::default())
            ]
        );
        assert_eq!(
            opts("fstree = /x.tgz , strip = 2"),
            vec![fstree(&[("source", "/x.tgz"), ("strip", "2")])]
        );
    }

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
    fn plugin_path_with_grants_and_config() {
        let options = opts(
            "plugin=/debug/coredump.wasm,read=/etc,read=/proc,write=/cores,fetch=example.com:443,fetch=mirror,env=HOME,config.limit=1G,config.mode=full",
        );
        assert_eq!(
            plugin_of(&options),
            &PluginSpec {
                name: "coredump".into(),
                source: PluginSource::Path("/debug/coredump.wasm".into()),
                sha256: None,
                allow_unpinned: false,
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
                },
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

    #[test]
    fn value_keeps_later_equals_and_query() {
        let options = opts("fstree=https://h/x.tgz?a=1&b=2#frag=3");
        assert_eq!(fstree_source(&options), "https://h/x.tgz?a=1&b=2#frag=3");
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
            let spec = PluginSpec {
                name: "fstree".into(),
                source: PluginSource::Builtin(Builtin::Fstree),
                sha256: None,
                allow_unpinned: false,
                config,
                grants: Grants::default(),
            };
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
                let mut spec = PluginSpec {
                    name,
                    source: if is_url {
                        PluginSource::Url(source.parse().unwrap())
                    } else {
                        PluginSource::Path(source.clone().into())
                    },
                    sha256: sha.as_deref().map(|h| h.parse().unwrap()),
                    allow_unpinned: unpinned,
                    config: Vec::new(),
                    grants: Grants::default(),
                };
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
