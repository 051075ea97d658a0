//! Configuration: command-line flags, then the environment, then `/etc/hookinit.toml`, merged
//! into one immutable [`plan::Plan`]. Nothing here has side effects; `main` acts on the plan.

pub mod debug;
pub mod file;
pub mod plan;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::cli::Cli;
use crate::log::clip;
use crate::signals::names::parse_signal;
use debug::{DebugOption, DebugSpec};
use hookinit_values::BoundedDuration;
use plan::{Builtin, Plan, PluginSource, PluginSpec};

/// A configuration mistake: one line saying what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A refused debug value, with the name of what held it (`DEBUG`, `HOOKINIT_DEBUG`,
    /// `--debug`).
    #[error("{from}: {error}{}", shared_hint(from, error))]
    Debug {
        from: &'static str,
        error: debug::DebugError,
    },
    #[error("{source_name}: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
    #[error("{0}")]
    File(String),
}

/// A typo in `DEBUG`, which applications use too, may have been meant for the application:
/// the hint says how to keep the two apart.
fn shared_hint(from: &str, error: &debug::DebugError) -> &'static str {
    match (from, error) {
        ("DEBUG", debug::DebugError::NearMiss { .. }) => {
            " (set HOOKINIT_DEBUG instead of DEBUG to keep DEBUG for your application)"
        }
        _ => "",
    }
}

fn invalid(source_name: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        source_name: source_name.to_string(),
        message: message.into(),
    }
}

/// The plan and the notices worth one line each (DEBUG words left to the application).
#[derive(Debug)]
pub struct Loaded {
    pub plan: Plan,
    pub notices: Vec<String>,
}

/// Reads the environment through a function so that tests need not touch the process's own.
pub fn load(cli: Cli, env: &dyn Fn(&str) -> Option<OsString>) -> Result<Loaded, ConfigError> {
    let env_str = |name: &str| env(name).map(|v| v.to_string_lossy().into_owned());
    let file = load_file(&cli, env)?.unwrap_or_default();
    let mut plan = Plan {
        command: cli.command.clone(),
        ..Plan::default()
    };
    let mut notices = Vec::new();

    // Verbosity: -v counts up from the default; the variable and the file set it outright.
    if cli.verbose > 0 {
        plan.verbosity = 1 + cli.verbose;
    } else if let Some(v) = env_str("HOOKINIT_VERBOSITY") {
        plan.verbosity = v.trim().parse().map_err(|_| {
            invalid(
                "HOOKINIT_VERBOSITY",
                format!("`{}` is not a number from 0 to 3", clip(&v)),
            )
        })?;
    } else if let Some(v) = file.verbosity {
        plan.verbosity = v;
    }

    plan.process_group = cli.process_group
        || env_flag(&env_str, "HOOKINIT_KILL_PROCESS_GROUP")?.or(file.process_group) == Some(true);
    plan.subreaper =
        cli.subreaper || env_flag(&env_str, "HOOKINIT_SUBREAPER")?.or(file.subreaper) == Some(true);

    plan.remap_exit = if !cli.remap_exit.is_empty() {
        cli.remap_exit.clone()
    } else if let Some(v) = env_str("HOOKINIT_REMAP_EXIT") {
        parse_list(&v, "HOOKINIT_REMAP_EXIT", |c| {
            c.parse::<u8>()
                .map_err(|_| format!("`{}` is not an exit status from 0 to 255", clip(c)))
        })?
    } else {
        file.remap_exit.clone().unwrap_or_default()
    };

    let pdeathsig = cli
        .pdeathsig
        .clone()
        .map(|v| ("-p", v))
        .or_else(|| env_str("HOOKINIT_PDEATHSIG").map(|v| ("HOOKINIT_PDEATHSIG", v)));
    plan.pdeathsig = match pdeathsig {
        Some((from, v)) => Some(signal(from, &v)?),
        None => file.pdeathsig,
    };

    let rewrites: Vec<(&str, String)> = if !cli.rewrite.is_empty() {
        cli.rewrite.iter().map(|r| ("-r", r.clone())).collect()
    } else if let Some(v) = env_str("HOOKINIT_REWRITE") {
        split_list(&v)
            .map(|r| ("HOOKINIT_REWRITE", r.to_string()))
            .collect()
    } else {
        Vec::new()
    };
    if rewrites.is_empty() {
        plan.rewrite = file.rewrite.clone().unwrap_or_default();
    }
    for (from, rule) in rewrites {
        let (sig, to) = file::parse_rewrite(&rule).map_err(|m| invalid(from, m))?;
        plan.rewrite.insert(sig, to);
    }

    let grace = cli
        .grace
        .clone()
        .map(|v| ("--grace", v))
        .or_else(|| env_str("HOOKINIT_GRACE").map(|v| ("HOOKINIT_GRACE", v)));
    plan.grace = match grace {
        Some((from, v)) => duration(from, &v)?,
        None => file.grace.map_or(plan.grace, Duration::from),
    };

    plan.run_dir = crate::run_dir::from_env(env("HOOKINIT_RUN_DIR"));
    if let Some(path) = env("HOOKINIT_TERMINATION_LOG") {
        plan.termination_log = PathBuf::from(path);
    }

    // The file's defaults first, so that DEBUG's options (which come later) win over them.
    plan.stayalive = file.stayalive.clone();
    // DEBUG: the flag, else HOOKINIT_DEBUG, else DEBUG, else the file's `debug`. DEBUG itself
    // reaches the main process unchanged.
    let debug_value = cli
        .debug
        .clone()
        .map(|v| ("--debug", v))
        .or_else(|| env_str("HOOKINIT_DEBUG").map(|v| ("HOOKINIT_DEBUG", v)))
        .or_else(|| env_str("DEBUG").map(|v| ("DEBUG", v)));
    let spec = match debug_value {
        Some((from, value)) => {
            let error = |error| ConfigError::Debug { from, error };
            let spec = if from == "DEBUG" {
                debug::parse_shared(&value)
            } else {
                debug::parse(&value)
            }
            .map_err(error)?;
            // DEBUG is shared with the application; HOOKINIT_DEBUG and --debug are ours alone.
            let spec = if from == "DEBUG" {
                notices.extend(spec.ignored_notice());
                spec
            } else {
                spec.all_ours().map_err(error)?
            };
            Some(spec)
        }
        None => file.debug.clone(),
    };
    if let Some(spec) = spec {
        apply_debug(&mut plan, spec);
    }
    plan.plugins
        .extend(file.plugins.clone().unwrap_or_default());

    Ok(Loaded { plan, notices })
}

/// The configuration file: `--config` or HOOKINIT_CONFIG must exist; the default path may not.
fn load_file(
    cli: &Cli,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Option<file::FileConfig>, ConfigError> {
    let explicit = cli
        .config
        .clone()
        .or_else(|| env("HOOKINIT_CONFIG").map(PathBuf::from));
    let path = explicit
        .clone()
        .unwrap_or_else(|| PathBuf::from(file::DEFAULT_PATH));
    match file::load(&path) {
        Ok(None) if explicit.is_some() => Err(ConfigError::File(format!(
            "{}: configuration file not found (set by --config or HOOKINIT_CONFIG)",
            path.display()
        ))),
        Ok(found) => Ok(found),
        Err(err) => Err(ConfigError::File(err.to_string())),
    }
}

fn apply_debug(plan: &mut Plan, spec: DebugSpec) {
    for option in spec.options {
        match option {
            // verbose is native (the lifecycle trace, with timestamps) and a built-in plugin
            // (it edits the command so that entrypoint scripts are traced), run in DEBUG order.
            DebugOption::Verbose => {
                plan.verbosity = plan.verbosity.max(2);
                plan.trace = true;
                if !plan
                    .plugins
                    .iter()
                    .any(|p| p.source == PluginSource::Builtin(Builtin::Verbose))
                {
                    plan.plugins
                        .push(PluginSpec::builtin(Builtin::Verbose, Vec::new()));
                }
            }
            DebugOption::StayAlive(stay) => plan.stayalive = Some(stay),
            DebugOption::Fstree(spec) | DebugOption::Plugin(spec) => plan.plugins.push(spec),
        }
    }
}

/// A boolean variable: `None` when unset or empty, so that the file's value applies.
fn env_flag(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<Option<bool>, ConfigError> {
    match env(name).as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some("0") | Some("false") | Some("no") | Some("off") => Ok(Some(false)),
        Some("1") | Some("true") | Some("yes") | Some("on") => Ok(Some(true)),
        Some(other) => Err(invalid(
            name,
            format!("`{}` is not one of 1, 0, true, false", clip(other)),
        )),
    }
}

fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn parse_list<T>(
    value: &str,
    name: &str,
    item: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, ConfigError> {
    split_list(value)
        .map(|v| item(v).map_err(|m| invalid(name, m)))
        .collect()
}

fn signal(from: &str, value: &str) -> Result<Signal, ConfigError> {
    parse_signal(value).ok_or_else(|| {
        invalid(
            from,
            format!(
                "`{}` is not a signal name or number (try TERM, USR1, 15)",
                clip(value)
            ),
        )
    })
}

fn duration(from: &str, value: &str) -> Result<Duration, ConfigError> {
    value
        .parse::<BoundedDuration>()
        .map(Duration::from)
        .map_err(|why| invalid(from, format!("`{}` is {why}", clip(value))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use hookinit_values::ByteSize;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::path::Path;

    fn load_with(
        args: &[&str],
        vars: &[(&str, &str)],
        file: Option<&str>,
    ) -> Result<Plan, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookinit.toml");
        let mut vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match file {
            Some(text) => {
                std::fs::write(&path, text).unwrap();
                vars.insert("HOOKINIT_CONFIG".into(), path.display().to_string());
            }
            None => {
                vars.entry("HOOKINIT_CONFIG".into())
                    .or_insert_with(|| "/dev/null".into());
            }
        }
        let cli = Cli::parse_from(std::iter::once("hookinit").chain(args.iter().copied()));
        let env = move |name: &str| vars.get(name).map(OsString::from);
        load(cli, &env).map(|l| l.plan)
    }

    #[test]
    fn flags_beat_environment_beat_file() {
        let file = "grace = \"7s\"\nverbosity = 0\nremap-exit = [1]\nprocess-group = true\n";
        let plan = load_with(&["true"], &[("HOOKINIT_CONFIG", "")], Some(file)).unwrap();
        assert_eq!(plan.grace, Duration::from_secs(7));
        assert_eq!(plan.verbosity, 0);
        assert_eq!(plan.remap_exit, vec![1]);
        assert!(plan.process_group);

        let env = [
            ("HOOKINIT_GRACE", "3s"),
            ("HOOKINIT_VERBOSITY", "3"),
            ("HOOKINIT_REMAP_EXIT", "2,3"),
        ];
        let plan = load_with(&["true"], &env, Some(file)).unwrap();
        assert_eq!(plan.grace, Duration::from_secs(3));
        assert_eq!(plan.verbosity, 3);
        assert_eq!(plan.remap_exit, vec![2, 3]);

        let plan = load_with(
            &["--grace", "1s", "-v", "-e", "9", "true"],
            &env,
            Some(file),
        )
        .unwrap();
        assert_eq!(plan.grace, Duration::from_secs(1));
        assert_eq!(plan.verbosity, 2);
        assert_eq!(plan.remap_exit, vec![9]);
    }

    #[test]
    fn hookinit_debug_wins_over_debug_and_the_file() {
        let file = "debug = \"stayalive=always\"\n";
        let plan = load_with(&["true"], &[], Some(file)).unwrap();
        assert_eq!(
            plan.stayalive,
            Some(plan::StayAlive {
                after_success: true,
                limit: None
            })
        );
        let plan = load_with(&["true"], &[("DEBUG", "stayalive")], Some(file)).unwrap();
        assert_eq!(plan.stayalive, Some(plan::StayAlive::default()));
        let plan = load_with(
            &["true"],
            &[("DEBUG", "express:*"), ("HOOKINIT_DEBUG", "stayalive=5s")],
            None,
        )
        .unwrap();
        assert_eq!(plan.stayalive.unwrap().limit, Some(Duration::from_secs(5)));
    }

    #[test]
    fn debug_errors_name_where_the_value_came_from() {
        let err = |args: &[&str], vars: &[(&str, &str)]| {
            load_with(args, vars, None).unwrap_err().to_string()
        };
        assert_eq!(
            err(&["true"], &[("DEBUG", "verbos")]),
            "DEBUG: unknown option `verbos`: did you mean `verbose`? (set HOOKINIT_DEBUG instead of DEBUG to keep DEBUG for your application)"
        );
        assert_eq!(
            err(&["true"], &[("HOOKINIT_DEBUG", "verbos")]),
            "HOOKINIT_DEBUG: unknown option `verbos`: did you mean `verbose`?"
        );
        assert_eq!(
            err(&["--debug", "stayalvie", "true"], &[]),
            "--debug: unknown option `stayalvie`: did you mean `stayalive`?"
        );
        // HOOKINIT_DEBUG and --debug are hookinit's alone: nothing is left to the application.
        let own = err(&["true"], &[("HOOKINIT_DEBUG", "1")]);
        assert!(
            own.starts_with("HOOKINIT_DEBUG: `1` is not a hookinit option"),
            "{own}"
        );
        let own = err(&["--debug", "verbose,express:*", "true"], &[]);
        assert!(own.starts_with("--debug: `express:*` is not"), "{own}");
        // DEBUG's own words stay the application's.
        let loaded = load(
            Cli::parse_from(["hookinit", "true"]),
            &|name: &str| match name {
                "DEBUG" => Some("express:*".into()),
                "HOOKINIT_CONFIG" => Some("/dev/null".into()),
                _ => None,
            },
        )
        .unwrap();
        assert_eq!(loaded.notices.len(), 1);
    }

    /// The plugin DEBUG makes of `plugin=WORDS`.
    fn debug_plugin(words: &str) -> PluginSpec {
        let spec =
            debug::parse(&format!("plugin={words}")).unwrap_or_else(|e| panic!("{words}: {e}"));
        spec.plugins().next().expect("a plugin").clone()
    }

    /// The plugin the file makes of one `[[plugin]]` table holding `lines`.
    fn file_plugin(lines: &str) -> PluginSpec {
        let text = format!("[[plugin]]\n{lines}\n");
        let config = file::parse(&text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"));
        config.plugins.expect("plugins").remove(0)
    }

    /// The value fstree's DEBUG words give the configuration key `key`.
    fn fstree_config(words: &str, key: &str) -> String {
        let spec = debug::parse(&format!("fstree=/t.tgz,{words}")).unwrap();
        let fstree = spec.plugins().next().expect("fstree");
        let value = fstree.config.iter().find(|(k, _)| k == key);
        value.expect("the key").1.clone()
    }

    /// A duration under a year in humantime's spelling: one to four parts (`3d 7h`, `90s500ms`).
    fn duration_text() -> impl Strategy<Value = String> {
        let units = vec!["ms", "s", "sec", "m", "min", "h", "hours", "d", "days"];
        let part = (1u32..80, prop::sample::select(units)).prop_map(|(n, u)| format!("{n}{u}"));
        (prop::collection::vec(part, 1..5), any::<bool>())
            .prop_map(|(parts, spaced)| parts.join(if spaced { " " } else { "" }))
    }

    /// A plugin's source: (as written, whether it is a URL).
    fn source_text() -> impl Strategy<Value = (String, bool)> {
        prop_oneof![
            "/[a-z]{1,8}(/[a-z0-9._-]{1,8}){0,2}\\.wasm".prop_map(|path| (path, false)),
            "(http|https|HTTPS)://[a-z]{1,8}\\.example(:[1-9][0-9]{0,3})?(/[a-z0-9._-]{1,8}){1,3}(\\?v=[0-9])?"
                .prop_map(|url| (url, true)),
        ]
    }

    proptest! {
        /// A `fetch=` grant spelled in DEBUG and in the file is one value.
        #[test]
        fn debug_and_file_spell_a_grant_the_same(
            wildcard in any::<bool>(),
            host in "[a-z][a-z0-9-]{0,7}(\\.[a-z]{1,6}){0,2}",
            upper in any::<bool>(),
            port in proptest::option::of(1u16..),
        ) {
            let mut grant = format!("{}{host}", if wildcard { "*." } else { "" });
            if upper {
                grant = grant.to_uppercase();
            }
            if let Some(port) = port {
                grant += &format!(":{port}");
            }
            let from_debug = debug_plugin(&format!("/p.wasm,fetch={grant}")).grants.fetch;
            let from_file =
                file_plugin(&format!("path = \"/p.wasm\"\nfetch = [\"{grant}\"]")).grants.fetch;
            prop_assert_eq!(&from_debug, &from_file);
            prop_assert_eq!(from_debug[0].to_string(), grant.to_lowercase());
        }

        /// A sha256 pin, in any case, is one value in DEBUG (a plugin's, fstree's) and the file.
        #[test]
        fn debug_and_file_spell_a_pin_the_same(hex in "[0-9a-fA-F]{64}") {
            let from_debug = debug_plugin(&format!("/p.wasm,sha256={hex}")).sha256;
            let from_file =
                file_plugin(&format!("path = \"/p.wasm\"\nsha256 = \"{hex}\"")).sha256;
            prop_assert_eq!(from_debug, from_file);
            let shown = from_debug.map(|pin| pin.to_string());
            prop_assert_eq!(shown, Some(hex.to_lowercase()));
            prop_assert_eq!(fstree_config(&format!("sha256={hex}"), "sha256"), hex.to_lowercase());
        }

        /// A duration limits a stay alike as `stayalive=D` and as the file's `[stayalive] limit`.
        #[test]
        fn debug_and_file_spell_a_duration_the_same(text in duration_text()) {
            let from_debug = debug::parse(&format!("stayalive={text}")).unwrap();
            let from_debug = from_debug.stayalive().cloned();
            let toml = format!("[stayalive]\nlimit = \"{text}\"\n");
            let from_file = file::parse(&toml, Path::new("t.toml")).unwrap().stayalive;
            prop_assert!(from_debug.as_ref().is_some_and(|s| s.limit.is_some()), "{}", text);
            prop_assert_eq!(from_debug, from_file);
        }

        /// A size in `max-size=` and in TOML (the file has no size key yet: a `ByteSize` read by
        /// serde, as a key of it would be) is one number of bytes.
        #[test]
        fn debug_and_file_spell_a_size_the_same(
            n in 1u64..100_000,
            suffix in prop::sample::select(vec!["", "b", "K", "k", "KiB", "M", "mib", "G", "T"]),
            spaced in any::<bool>(),
        ) {
            #[derive(serde::Deserialize)]
            struct Limits {
                #[serde(rename = "max-size")]
                max_size: ByteSize,
            }
            let text = format!("{n}{}{suffix}", if spaced { " " } else { "" });
            let from_debug = fstree_config(&format!("max-size={text}"), "max-size");
            let from_file: Limits = toml::from_str(&format!("max-size = \"{text}\"")).unwrap();
            prop_assert_eq!(from_debug, from_file.max_size.bytes().to_string());
        }

        /// A plugin's path or URL in DEBUG and as the file's `path` or `url` is one source, with
        /// one default name.
        #[test]
        fn debug_and_file_spell_a_source_the_same((text, is_url) in source_text()) {
            let from_debug = debug_plugin(&format!("{text},unpinned"));
            let key = if is_url { "url" } else { "path" };
            let from_file = file_plugin(&format!("{key} = \"{text}\"\nallow-unpinned = true"));
            prop_assert_eq!(&from_debug.source, &from_file.source);
            prop_assert_eq!(&from_debug.name, &from_file.name);
            let written = match &from_debug.source {
                PluginSource::Url(url) => Some(url.to_string()),
                PluginSource::Path(path) => Some(path.display().to_string()),
                PluginSource::Builtin(_) => None,
            };
            prop_assert_eq!(written, Some(text));
            prop_assert_eq!(matches!(from_debug.source, PluginSource::Url(_)), is_url);
        }
    }

    #[test]
    fn verbose_turns_on_the_trace_and_the_builtin_plugin_first() {
        let plan = load_with(&["true"], &[("DEBUG", "verbose,fstree=/tmp/x.tar")], None).unwrap();
        assert!(plan.trace);
        assert_eq!(plan.verbosity, 2);
        let names: Vec<_> = plan.plugins.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["verbose", "fstree"]);
    }

    #[test]
    fn bad_values_are_one_clear_line() {
        let err = load_with(&["true"], &[("HOOKINIT_GRACE", "soon")], None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("HOOKINIT_GRACE: `soon` is not a duration"),
            "{err}"
        );
        let err = load_with(
            &["true"],
            &[("HOOKINIT_GRACE", "9999999999999999999s")],
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("too long"), "{err}");
        let err = load_with(&["--grace", "abc", "true"], &[], None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "--grace: `abc` is not a duration: write a number and a unit, e.g. `30s`, `500ms`, `10m` or `1h30m`"
        );
        let err = load_with(&["-r", "TERM", "true"], &[], None)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("-r: "), "{err}");
        let err = load_with(&["-p", "NOPE", "true"], &[], None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a signal"), "{err}");
        let err = load_with(&["true"], &[("HOOKINIT_CONFIG", "/missing.toml")], None).unwrap_err();
        assert!(
            err.to_string().contains("configuration file not found"),
            "{err}"
        );
        let err = load_with(&["true"], &[], Some("verbosity = \"x\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("hookinit.toml:1:13"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
}
