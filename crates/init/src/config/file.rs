//! The configuration file: `/etc/hookinit.toml`, or the path in `HOOKINIT_CONFIG`.
//!
//! It can say everything the flags and DEBUG say. Every key is optional; an unknown key is an
//! error (so a typo does not go unnoticed).
//!
//! ```toml
//! verbosity = 2                       # like -v: 0 errors, 1 warnings, 2 info, 3 debug
//! process-group = true                # -g
//! remap-exit = [143]                  # -e
//! pdeathsig = "USR1"                  # -p (a name, SIGNAME or number)
//! rewrite = ["TERM:QUIT", "USR1:0"]   # -r FROM:TO; TO = 0 drops the signal
//! subreaper = true                    # -s
//! grace = "5s"                        # HOOKINIT_GRACE (a duration, or a number of seconds)
//! debug = "verbose,stayalive"         # DEBUG grammar; used only when neither HOOKINIT_DEBUG nor DEBUG is set
//!
//! [stayalive]                         # stayalive as a table
//! after-success = true                # true: like stayalive=always (default false)
//! limit = "10m"                       # like stayalive=10m
//!
//! [[plugin]]                          # operator plugins, always loaded, after the DEBUG ones
//! name = "coredump"                   # optional, default: the file name without extension
//! path = "/debug/coredump.wasm"       # or url = "https://..." (exactly one of path/url)
//! sha256 = "..."                      # required with url unless allow-unpinned = true
//! allow-unpinned = false
//! required = false                    # true: no start unless it loads and its pre-exec succeeds
//! read = ["/etc"]                     # directories the plugin may read (absolute)
//! write = ["/cores"]                  # directories it may read and write (absolute)
//! fetch = ["example.com:443"]         # hosts it may download from
//! env = ["HOME", "APP_*"]             # the main process's variables it may see (`*`: all)
//! [plugin.config]                     # key/value pairs for the plugin's init
//! limit = "1G"                        # strings, numbers and booleans (handed over as text, order not significant)
//! ```
//!
//! In the file, `debug` words that are not hookinit options are errors (there is no application
//! to leave them to).
//!
//! A bad file is reported in one line, `PATH:LINE:COLUMN: MESSAGE`, e.g.
//! ``/etc/hookinit.toml:3:13: invalid type: string "x", expected u8 for key `verbosity` ``.
//! For a bad element of an array (`rewrite`, `read`, a `[[plugin]]` table...) the place is where
//! the array starts and the message names the element.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::debug::{self, DebugSpec};
use super::plan::{Grants, PluginSource, PluginSpec, StayAlive};
use crate::log::clip;
use crate::signals::names::{parse_signal, short_name};
use hookinit_values::{BoundedDuration, HostGrant, HttpUrl, Sha256Pin, SourceError};

/// Where the configuration file is looked for when HOOKINIT_CONFIG is not set.
pub const DEFAULT_PATH: &str = "/etc/hookinit.toml";

/// The configuration file, validated into typed values. `None`: the key is absent.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    /// 0 errors, 1 warnings, 2 info, 3 debug (`-v`).
    #[serde(default, deserialize_with = "de_verbosity")]
    pub verbosity: Option<u8>,
    /// `-g`.
    pub process_group: Option<bool>,
    /// `-e`.
    pub remap_exit: Option<Vec<u8>>,
    /// `-p`.
    #[serde(default, deserialize_with = "de_some_signal")]
    pub pdeathsig: Option<Signal>,
    /// `-r FROM:TO`; `None` drops the signal.
    #[serde(default, deserialize_with = "de_rewrite")]
    pub rewrite: Option<BTreeMap<Signal, Option<Signal>>>,
    /// `-s`.
    pub subreaper: Option<bool>,
    /// HOOKINIT_GRACE: a duration as text, or a whole number of seconds.
    pub grace: Option<BoundedDuration>,
    /// DEBUG grammar, used only when neither HOOKINIT_DEBUG nor DEBUG is set.
    #[serde(default, deserialize_with = "de_debug")]
    pub debug: Option<DebugSpec>,
    /// `[stayalive]`.
    #[serde(default, deserialize_with = "de_stayalive")]
    pub stayalive: Option<StayAlive>,
    /// `[[plugin]]` tables, in file order.
    #[serde(default, rename = "plugin", deserialize_with = "de_plugins")]
    pub plugins: Option<Vec<PluginSpec>>,
}

/// Why the configuration file was refused. Each message is one line starting with the path.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: cannot read the configuration file: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// Malformed or invalid, at a known place (1-based line and column, in characters).
    #[error("{}:{line}:{column}: {message}", path.display())]
    At {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// Invalid, with no place known.
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

/// Parses the text of a configuration file; `origin` is its path, for messages.
pub fn parse(text: &str, origin: &Path) -> Result<FileConfig, FileError> {
    toml::from_str(text).map_err(|e| toml_error(text, origin, &e))
}

/// Reads and parses the configuration file at `path`. `Ok(None)` when there is no such file:
/// the caller decides whether that is an error (it is when the path was given explicitly).
pub fn load(path: &Path) -> Result<Option<FileConfig>, FileError> {
    match read_config(path) {
        Ok(text) => parse(&text, path).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(FileError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The largest configuration file read: a real one is a few KiB.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads the file without ever blocking PID 1: opened non-blocking (a fifo would wait for a
/// writer), refused unless it is a regular file (or `/dev/null`, the usual "nothing"), and read
/// up to [`MAX_FILE_BYTES`] (`/dev/zero` or a huge file would fill memory).
fn read_config(path: &Path) -> io::Result<String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    let kind = meta.file_type();
    let dev_null = kind.is_char_device() && meta.rdev() == libc::makedev(1, 3);
    if dev_null {
        return Ok(String::new());
    }
    if !kind.is_file() {
        let what = if kind.is_fifo() {
            "a fifo"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "a directory"
        };
        return Err(io::Error::other(format!(
            "it is {what}, not a regular file: point HOOKINIT_CONFIG or --config at a TOML file"
        )));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(io::Error::other(format!(
            "it has {} bytes; a configuration file may have {MAX_FILE_BYTES} at most",
            meta.len()
        )));
    }
    let mut text = String::new();
    // The size was checked, but a file may grow while read: the cap holds regardless.
    io::Read::read_to_string(&mut io::Read::take(file, MAX_FILE_BYTES + 1), &mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(io::Error::other(format!(
            "it has more than {MAX_FILE_BYTES} bytes; a configuration file may have that many at most"
        )));
    }
    Ok(text)
}

/// Parses a signal rewrite `FROM:TO` (`-r` and the file's `rewrite`). TO may be `0`: drop FROM.
pub fn parse_rewrite(text: &str) -> Result<(Signal, Option<Signal>), String> {
    const HELP: &str = "write FROM:TO, e.g. `TERM:QUIT`, or `USR1:0` to drop USR1";
    let Some((from, to)) = text.split_once(':') else {
        return Err(format!("`{}` is not a rewrite: {HELP}", clip(text)));
    };
    let (from, to) = (from.trim(), to.trim());
    let signal = |name: &str| {
        if name.is_empty() {
            return Err(format!("`{}` lacks a signal: {HELP}", clip(text)));
        }
        parse_signal(name).ok_or_else(|| {
            format!(
                "unknown signal `{}` in `{}`: use a name such as TERM or SIGUSR1, or a number",
                clip(name),
                clip(text)
            )
        })
    };
    let from = signal(from)?;
    if matches!(from, Signal::SIGKILL | Signal::SIGSTOP) {
        return Err(format!(
            "`{text}`: {} cannot be caught, so it cannot be rewritten",
            short_name(from)
        ));
    }
    let to = if to == "0" { None } else { Some(signal(to)?) };
    Ok((from, to))
}

/// One line: `PATH:LINE:COLUMN: MESSAGE[ for key `KEY`]`.
fn toml_error(text: &str, origin: &Path, error: &toml::de::Error) -> FileError {
    let mut message = error.message().trim().replace('\n', "; ");
    match error.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            if let Some((place, name)) = place_at(text, span.start)
                && !message.contains(&name)
            {
                message = match message.as_str() {
                    // toml says only "duplicate key"; name it.
                    "duplicate key" => format!("duplicate {place}: keep one"),
                    _ => format!("{message} for {place}"),
                };
            }
            FileError::At {
                path: origin.to_owned(),
                line,
                column,
                message,
            }
        }
        None => FileError::Invalid {
            path: origin.to_owned(),
            message,
        },
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

/// What is at `offset`, for messages: (`key `plugin.sha256``, the text that already names it)
/// when `offset` is in a `key = value` line, or (`table `[stayalive]``, ...) on a table header.
/// A best effort: `None` when unsure (inside a multi-line array, quoted keys...).
fn place_at(text: &str, offset: usize) -> Option<(String, String)> {
    if offset > text.len() || !text.is_char_boundary(offset) {
        return None;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[line_start..line_end];
    let trimmed = line.trim();
    if trimmed.starts_with('[') {
        return Some((format!("table `{trimmed}`"), trimmed.to_owned()));
    }
    let (key, _) = line.split_once('=')?;
    let key_end = line_start + key.len();
    let key = key.trim();
    // The offset must be in the key or in the value right after it.
    let at_key = text[line_start..offset].trim().is_empty() && offset <= key_end;
    if key.is_empty() || !(at_key || offset > key_end) || key.starts_with('#') {
        return None;
    }
    if key.contains(['"', '\'', '{', ',', ']', '[']) {
        return None;
    }
    let table = text[..line_start].lines().rev().find_map(|l| {
        let l = l.trim();
        l.starts_with('[')
            .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned())
    });
    let full = match table {
        Some(table) if !table.is_empty() => format!("{table}.{key}"),
        _ => key.to_owned(),
    };
    let last = key.rsplit('.').next().unwrap_or(key).trim();
    Some((format!("key `{full}`"), format!("`{last}`")))
}

// --- typed values -----------------------------------------------------------------------------

fn de_verbosity<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    let level = u8::deserialize(d)?;
    if level > 3 {
        return Err(de::Error::custom(format!(
            "verbosity {level} is out of range: use 0 (errors), 1 (warnings), 2 (info) or 3 (debug)"
        )));
    }
    Ok(Some(level))
}

/// A signal as a name (`"TERM"`, `"SIGUSR1"`) or a number.
struct SignalValue(Signal);

impl<'de> Deserialize<'de> for SignalValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SignalValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a signal name such as \"TERM\" or a signal number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SignalValue, E> {
                parse_signal(v).map(SignalValue).ok_or_else(|| {
                    E::custom(format!(
                        "unknown signal `{}`: use a name such as \"TERM\" or \"SIGUSR1\", or a number",
                        clip(v)
                    ))
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SignalValue, E> {
                i32::try_from(v)
                    .ok()
                    .and_then(|n| Signal::try_from(n).ok())
                    .map(SignalValue)
                    .ok_or_else(|| E::custom(format!("{v} is not a signal number")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SignalValue, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
        }
        d.deserialize_any(V)
    }
}

fn de_some_signal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Signal>, D::Error> {
    SignalValue::deserialize(d).map(|s| Some(s.0))
}

/// One `FROM:TO` rewrite.
struct Rewrite(Signal, Option<Signal>);

impl<'de> Deserialize<'de> for Rewrite {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let (from, to) = parse_rewrite(&text).map_err(de::Error::custom)?;
        Ok(Rewrite(from, to))
    }
}

fn de_rewrite<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<Signal, Option<Signal>>>, D::Error> {
    let mut map = BTreeMap::new();
    for Rewrite(from, to) in Vec::<Rewrite>::deserialize(d)? {
        if map.insert(from, to).is_some() {
            return Err(de::Error::custom(format!(
                "{} is rewritten twice: keep one FROM:TO per signal",
                short_name(from)
            )));
        }
    }
    Ok(Some(map))
}

fn de_debug<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DebugSpec>, D::Error> {
    let text = String::deserialize(d)?;
    debug::parse(&text)
        .and_then(DebugSpec::all_ours)
        .map(Some)
        .map_err(de::Error::custom)
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a [stayalive] table with `after-success` and `limit`"
)]
struct StayAliveTable {
    after_success: Option<bool>,
    limit: Option<BoundedDuration>,
}

fn de_stayalive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<StayAlive>, D::Error> {
    let table = StayAliveTable::deserialize(d)?;
    Ok(Some(StayAlive {
        after_success: table.after_success.unwrap_or(false),
        limit: table.limit.map(BoundedDuration::get),
    }))
}

/// A string checked by `C` (whose error message says what is expected), as `C::Value`.
struct Checked<C: Check>(C::Value, PhantomData<C>);

trait Check {
    type Value;
    fn check(text: &str) -> Result<Self::Value, String>;
}

impl<'de, C: Check> Deserialize<'de> for Checked<C> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        C::check(&text)
            .map(|v| Checked(v, PhantomData))
            .map_err(|e| de::Error::custom(format!("bad value `{}`: {e}", clip(&text))))
    }
}

struct AbsDir;
impl Check for AbsDir {
    type Value = PathBuf;
    fn check(text: &str) -> Result<PathBuf, String> {
        debug::check_absolute(text).map(|()| text.into())
    }
}

struct EnvName;
impl Check for EnvName {
    type Value = String;
    fn check(text: &str) -> Result<String, String> {
        debug::check_env_name(text).map(|()| text.to_owned())
    }
}

/// `url`: an http(s) URL; a local file is `path`.
struct PluginUrl;
impl Check for PluginUrl {
    type Value = HttpUrl;
    fn check(text: &str) -> Result<HttpUrl, String> {
        text.parse().map_err(|e| match e {
            SourceError::Invalid(_) => e.to_string(),
            _ => "expected an http:// or https:// URL (use `path` for a file)".to_owned(),
        })
    }
}

struct NonEmpty;
impl Check for NonEmpty {
    type Value = String;
    fn check(text: &str) -> Result<String, String> {
        if text.trim().is_empty() {
            Err("must not be empty".to_owned())
        } else {
            Ok(text.to_owned())
        }
    }
}

/// `[plugin.config]`: values may be strings, numbers or booleans; kept as text.
struct ConfigPairs(Vec<(String, String)>);

impl<'de> Deserialize<'de> for ConfigPairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ScalarText(String);
        impl<'de> Deserialize<'de> for ScalarText {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = ScalarText;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a string, number or boolean")
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<ScalarText, E> {
                        Ok(ScalarText(v.to_owned()))
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ScalarText, E> {
                        Ok(ScalarText(v.to_string()))
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ScalarText, E> {
                        Ok(ScalarText(v.to_string()))
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ScalarText, E> {
                        Ok(ScalarText(v.to_string()))
                    }
                    fn visit_bool<E: de::Error>(self, v: bool) -> Result<ScalarText, E> {
                        Ok(ScalarText(v.to_string()))
                    }
                }
                d.deserialize_any(V)
            }
        }

        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ConfigPairs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of key = value pairs")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ConfigPairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some((key, ScalarText(value))) = map.next_entry::<String, ScalarText>()? {
                    pairs.push((key, value));
                }
                Ok(ConfigPairs(pairs))
            }
        }
        d.deserialize_map(V)
    }
}

/// One `[[plugin]]` table as written.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    expecting = "a [[plugin]] table"
)]
struct PluginTable {
    name: Option<Checked<NonEmpty>>,
    path: Option<Checked<NonEmpty>>,
    url: Option<Checked<PluginUrl>>,
    sha256: Option<Sha256Pin>,
    allow_unpinned: Option<bool>,
    required: Option<bool>,
    #[serde(default)]
    read: Vec<Checked<AbsDir>>,
    #[serde(default)]
    write: Vec<Checked<AbsDir>>,
    #[serde(default)]
    fetch: Vec<HostGrant>,
    #[serde(default)]
    env: Vec<Checked<EnvName>>,
    config: Option<ConfigPairs>,
}

impl PluginTable {
    /// Converts the table into a [`PluginSpec`]; `number` (1-based) names it in messages, since
    /// toml only knows where the whole `[[plugin]]` array starts.
    fn into_spec(self, number: usize) -> Result<PluginSpec, String> {
        let which = match &self.name {
            Some(name) => format!("[[plugin]] number {number} (`{}`)", name.0),
            None => format!("[[plugin]] number {number}"),
        };
        let source = match (self.path, self.url) {
            (Some(path), None) => PluginSource::Path(path.0.into()),
            (None, Some(url)) => PluginSource::Url(url.0),
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{which} has both `path` and `url`: keep exactly one"
                ));
            }
            (None, None) => {
                return Err(format!(
                    "{which} needs `path = \"/file.wasm\"` or `url = \"https://...\"`"
                ));
            }
        };
        let dirs = |v: Vec<Checked<AbsDir>>| v.into_iter().map(|c| c.0).collect();
        let name = self.name.map_or_else(|| source.default_name(), |n| n.0);
        let mut spec = PluginSpec::operator(name, source);
        spec.sha256 = self.sha256;
        spec.allow_unpinned = self.allow_unpinned.unwrap_or(false);
        spec.required = self.required.unwrap_or(false);
        spec.config = self.config.map(|c| c.0).unwrap_or_default();
        spec.grants = Grants {
            read: dirs(self.read),
            write: dirs(self.write),
            fetch: self.fetch,
            env: self.env.into_iter().map(|c| c.0).collect(),
            ..Grants::default()
        };
        if let Some(url) = spec.unpinned_url() {
            return Err(format!(
                "{which} comes from the URL `{}` without a pin: add `sha256 = \"HEX\"`, or `allow-unpinned = true` to run whatever the URL serves",
                clip(url.as_str())
            ));
        }
        Ok(spec)
    }
}

fn de_plugins<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<PluginSpec>>, D::Error> {
    let tables = Vec::<PluginTable>::deserialize(d)?;
    let specs = tables
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.into_spec(i + 1))
        .collect::<Result<_, _>>()
        .map_err(de::Error::custom)?;
    Ok(Some(specs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::debug::DebugOption;
    use std::time::Duration;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn origin() -> &'static Path {
        Path::new("/etc/hookinit.toml")
    }

    fn ok(text: &str) -> FileConfig {
        parse(text, origin()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(text: &str) -> String {
        let e = parse(text, origin()).expect_err(text).to_string();
        assert!(!e.contains('\n'), "not one line: {e}");
        e
    }

    #[test]
    fn only_a_regular_file_is_read_and_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.toml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // Opening a fifo for reading would wait for a writer; this returns at once.
        for (path, says) in [
            (fifo.as_path(), "it is a fifo, not a regular file"),
            (Path::new("/dev/zero"), "it is a device"),
            (dir.path(), "it is a directory"),
        ] {
            let e = load(path).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let big = dir.path().join("big.toml");
        std::fs::write(&big, "# x\n".repeat(MAX_FILE_BYTES as usize)).unwrap();
        let e = load(&big).unwrap_err().to_string();
        assert!(e.contains("may have 1048576 at most"), "{e}");
        assert!(load(Path::new("/dev/null")).unwrap().is_some());
        assert!(load(&dir.path().join("missing.toml")).unwrap().is_none());
    }

    #[test]
    fn empty_file_is_all_none() {
        assert_eq!(ok(""), FileConfig::default());
        assert_eq!(ok("# nothing\n\n"), FileConfig::default());
    }

    #[test]
    fn full_file() {
        let text = format!(
            r#"
verbosity = 2
process-group = true
remap-exit = [143, 0]
pdeathsig = "USR1"
rewrite = ["TERM:QUIT", "USR1:0", "SIGHUP:10"]
subreaper = true
grace = "5s"
debug = "verbose,stayalive"

[stayalive]
after-success = true
limit = "10m"

[[plugin]]
name = "cores"
path = "/debug/coredump.wasm"
sha256 = "{HEX}"
allow-unpinned = false
read = ["/etc"]
write = ["/cores"]
fetch = ["example.com:443"]
env = ["HOME"]
[plugin.config]
limit = "1G"
count = 3
on = true

[[plugin]]
url = "https://h.example/dl/trace.wasm?v=2"
allow-unpinned = true
"#
        );
        let config = ok(&text);
        assert_eq!(config.verbosity, Some(2));
        assert_eq!(config.process_group, Some(true));
        assert_eq!(config.remap_exit, Some(vec![143, 0]));
        assert_eq!(config.pdeathsig, Some(Signal::SIGUSR1));
        assert_eq!(
            config.rewrite,
            Some(BTreeMap::from([
                (Signal::SIGTERM, Some(Signal::SIGQUIT)),
                (Signal::SIGUSR1, None),
                (Signal::SIGHUP, Some(Signal::SIGUSR1)),
            ]))
        );
        assert_eq!(config.subreaper, Some(true));
        assert_eq!(
            config.grace.map(Duration::from),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            config.debug.as_ref().map(|d| d.options.clone()),
            Some(vec![
                DebugOption::Verbose,
                DebugOption::StayAlive(StayAlive::default())
            ])
        );
        assert_eq!(
            config.stayalive,
            Some(StayAlive {
                after_success: true,
                limit: Some(Duration::from_secs(600))
            })
        );
        let plugins = config.plugins.expect("plugins");
        assert_eq!(plugins.len(), 2);
        let mut first = plugins[0].clone();
        first.config.sort();
        assert_eq!(
            first,
            PluginSpec {
                sha256: Some(HEX.parse().unwrap()),
                config: vec![
                    ("count".into(), "3".into()),
                    ("limit".into(), "1G".into()),
                    ("on".into(), "true".into()),
                ],
                grants: Grants {
                    read: vec!["/etc".into()],
                    write: vec!["/cores".into()],
                    fetch: vec!["example.com:443".parse().unwrap()],
                    env: vec!["HOME".into()],
                    ..Grants::default()
                },
                ..PluginSpec::operator(
                    "cores".into(),
                    PluginSource::Path("/debug/coredump.wasm".into())
                )
            }
        );
        assert_eq!(
            plugins[1],
            PluginSpec {
                allow_unpinned: true,
                ..PluginSpec::operator(
                    "trace".into(),
                    PluginSource::Url("https://h.example/dl/trace.wasm?v=2".parse().unwrap())
                )
            }
        );
    }

    #[test]
    fn default_plugin_name_from_path() {
        let config = ok("[[plugin]]\npath = \"/debug/coredump.wasm\"\n");
        assert_eq!(config.plugins.unwrap()[0].name, "coredump");
    }

    #[test]
    fn numbers_for_signals_and_durations() {
        let config = ok("pdeathsig = 10\ngrace = 3\n[stayalive]\n");
        assert_eq!(config.pdeathsig, Some(Signal::SIGUSR1));
        assert_eq!(
            config.grace.map(Duration::from),
            Some(Duration::from_secs(3))
        );
        assert_eq!(config.stayalive, Some(StayAlive::default()));
    }

    #[test]
    fn type_error_has_line_column_and_key() {
        assert_eq!(
            err("# comment\n\nverbosity = \"x\"\n"),
            "/etc/hookinit.toml:3:13: invalid type: string \"x\", expected u8 for key `verbosity`"
        );
        assert_eq!(
            err("verbosity = 7"),
            "/etc/hookinit.toml:1:13: verbosity 7 is out of range: use 0 (errors), 1 (warnings), 2 (info) or 3 (debug) for key `verbosity`"
        );
    }

    #[test]
    fn syntax_error_has_line_column() {
        let e = err("verbosity = 1\nsubreaper = \n");
        assert!(e.starts_with("/etc/hookinit.toml:2:"), "{e}");
        let e = err("[stayalive\n");
        assert!(e.starts_with("/etc/hookinit.toml:1:"), "{e}");
    }

    #[test]
    fn unknown_keys() {
        let e = err("verbosity = 1\nverbose = true\n");
        assert!(
            e.starts_with("/etc/hookinit.toml:2:1: unknown field `verbose`"),
            "{e}"
        );
        let e = err("[stayalive]\nafter_success = true\n");
        assert!(
            e.starts_with("/etc/hookinit.toml:2:1: unknown field `after_success`"),
            "{e}"
        );
        let e = err("[[plugin]]\npath = \"/p.wasm\"\nreed = [\"/etc\"]\n");
        assert!(
            e.starts_with("/etc/hookinit.toml:3:1: unknown field `reed`"),
            "{e}"
        );
    }

    #[test]
    fn bad_signal_rewrite_and_duration() {
        assert_eq!(
            err("pdeathsig = \"NOPE\""),
            "/etc/hookinit.toml:1:13: unknown signal `NOPE`: use a name such as \"TERM\" or \"SIGUSR1\", or a number for key `pdeathsig`"
        );
        let e = err("rewrite = [\"TERM:QUIT\", \"TERM\"]");
        assert!(
            e.starts_with("/etc/hookinit.toml:1:11: `TERM` is not a rewrite"),
            "{e}"
        );
        let e = err("rewrite = [\"KILL:TERM\"]");
        assert!(e.contains("KILL cannot be caught"), "{e}");
        let e = err("rewrite = [\"TERM:QUIT\", \"15:HUP\"]");
        assert!(e.contains("TERM is rewritten twice"), "{e}");
        let e = err("\ngrace = \"5 parsecs\"");
        assert!(
            e.starts_with("/etc/hookinit.toml:2:9: bad duration `5 parsecs`"),
            "{e}"
        );
        assert!(e.ends_with("for key `grace`"), "{e}");
        let e = err("[stayalive]\nlimit = \"soon\"");
        assert!(
            e.starts_with("/etc/hookinit.toml:2:9: bad duration `soon`"),
            "{e}"
        );
        assert!(e.ends_with("for key `stayalive.limit`"), "{e}");
    }

    #[test]
    fn bad_debug_value() {
        assert_eq!(
            err("debug = \"verbos\""),
            "/etc/hookinit.toml:1:9: unknown option `verbos`: did you mean `verbose`? for key `debug`"
        );
        let e = err("debug = \"verbose,1\"");
        assert!(
            e.starts_with("/etc/hookinit.toml:1:9: `1` is not a hookinit option"),
            "{e}"
        );
    }

    #[test]
    fn plugin_path_and_url_both_or_neither() {
        let e = err(&format!(
            "[[plugin]]\npath = \"/p.wasm\"\nurl = \"https://h/p.wasm\"\nsha256 = \"{HEX}\"\n"
        ));
        assert!(
            e.contains("has both `path` and `url`: keep exactly one"),
            "{e}"
        );
        assert!(e.starts_with("/etc/hookinit.toml:"), "{e}");
        let e = err("[[plugin]]\nname = \"x\"\n");
        assert!(
            e.contains("needs `path = \"/file.wasm\"` or `url = \"https://...\"`"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_plugin_and_the_duplicate_key() {
        let e = err("[[plugin]]\npath = \"/a.wasm\"\n\n[[plugin]]\nname = \"b\"\n");
        assert_eq!(
            e,
            "/etc/hookinit.toml:1:1: [[plugin]] number 2 (`b`) needs `path = \"/file.wasm\"` or `url = \"https://...\"`"
        );
        assert_eq!(
            err("verbosity = 1\nverbosity = 2\n"),
            "/etc/hookinit.toml:2:1: duplicate key `verbosity`: keep one"
        );
        let e = err("stayalive = true");
        assert!(e.starts_with("/etc/hookinit.toml:1:13: invalid type: boolean `true`, expected a [stayalive] table"), "{e}");
    }

    #[test]
    fn plugin_value_errors() {
        let e = err("[[plugin]]\nurl = \"https://h/p.wasm\"\n");
        assert!(e.contains("without a pin"), "{e}");
        let e = err("[[plugin]]\nurl = \"ftp://h/p.wasm\"\nallow-unpinned = true\n");
        assert!(
            e.starts_with("/etc/hookinit.toml:2:7: bad value `ftp://h/p.wasm`"),
            "{e}"
        );
        let e = err("[[plugin]]\npath = \"/p.wasm\"\nsha256 = \"abc\"\n");
        assert!(
            e.starts_with("/etc/hookinit.toml:3:10: bad value `abc`"),
            "{e}"
        );
        assert!(e.ends_with("for key `plugin.sha256`"), "{e}");
        let e = err("[[plugin]]\npath = \"/p.wasm\"\nread = [\"/ok\", \"rel\"]\n");
        assert!(
            e.starts_with("/etc/hookinit.toml:3:8: bad value `rel`"),
            "{e}"
        );
        let e = err("[[plugin]]\npath = \"/p.wasm\"\nfetch = [\"https://h/\"]\n");
        assert!(e.contains("bad value `https://h/`"), "{e}");
        let e = err("[[plugin]]\npath = \"/p.wasm\"\nenv = [\"A=B\"]\n");
        assert!(e.contains("bad value `A=B`"), "{e}");
        let e = err("[[plugin]]\npath = \"/p.wasm\"\n[plugin.config]\nlist = [1]\n");
        assert!(e.starts_with("/etc/hookinit.toml:4:8: invalid type"), "{e}");
    }

    #[test]
    fn rewrite_syntax() {
        assert_eq!(
            parse_rewrite("TERM:QUIT"),
            Ok((Signal::SIGTERM, Some(Signal::SIGQUIT)))
        );
        assert_eq!(parse_rewrite("sigusr1:0"), Ok((Signal::SIGUSR1, None)));
        assert_eq!(
            parse_rewrite(" 15 : 3 "),
            Ok((Signal::SIGTERM, Some(Signal::SIGQUIT)))
        );
        assert_eq!(
            parse_rewrite("INT:KILL"),
            Ok((Signal::SIGINT, Some(Signal::SIGKILL)))
        );
        for bad in [
            "TERM",
            "TERM:",
            ":QUIT",
            "NOPE:QUIT",
            "TERM:NOPE",
            "STOP:TERM",
            "0:TERM",
            "",
        ] {
            let e = parse_rewrite(bad).expect_err(bad);
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn line_columns() {
        assert_eq!(line_column("abc", 0), (1, 1));
        assert_eq!(line_column("abc\ndef", 5), (2, 2));
        assert_eq!(line_column("é = x", 4), (1, 4));
        assert_eq!(line_column("ab", 99), (1, 3));
    }

    #[test]
    fn load_missing_is_none_and_reads_a_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(&dir.path().join("absent.toml")).unwrap().is_none());
        let path = dir.path().join("hookinit.toml");
        std::fs::write(&path, "subreaper = true\n").unwrap();
        assert_eq!(load(&path).unwrap().unwrap().subreaper, Some(true));
        std::fs::write(&path, "subreaper = 1\n").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}:1:13: invalid type", path.display())),
            "{e}"
        );
        let e = load(dir.path()).unwrap_err();
        assert!(matches!(e, FileError::Read { .. }), "{e}");
    }
}
