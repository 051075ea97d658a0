//! `hookinit plugin compile|inspect|check|list`: tools for image builders and plugin authors.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::cache::{Cache, sha256_of};
use super::inspect::{ComponentInfo, require_component};
use super::linker::HostLinker;
use super::{Hook, Limits, Plugins, builtin, engine, instance, load, worker};
use hookinit_init::config::plan::{Grants, PluginSource, PluginSpec};

const USAGE: &str = "\
usage: hookinit plugin compile FILE [-o CACHE_DIR]
       hookinit plugin inspect FILE [config.KEY=VALUE...]
       hookinit plugin check FILE [read=DIR] [write=DIR] [fetch=HOST] [env=NAME] [config.KEY=VALUE]...
       hookinit plugin list

compile  precompiles a component into the compile cache ($HOOKINIT_CACHE_DIR, default
         /tmp/hookinit-cache; -o another directory), e.g. at image build time, so that the
         container's start loads it in a millisecond instead of compiling it.
inspect  shows what a component is: size, sha256, WIT version, imports, exports, and the hooks
         its init subscribes to with the given configuration.
check    tells whether this hookinit runs the component with the given grants and
         configuration (it links, its grants exist, its init succeeds), and which grants its
         imports may need if it uses them. Exit status 0: it runs; 1: it does not.
list     shows the built-in plugins embedded in this binary.";

/// Entry point for `hookinit plugin ARGS...` (ARGS without `plugin`); returns the exit status.
pub fn main_plugin_cli(args: Vec<OsString>) -> i32 {
    let args: Vec<String> = match args.into_iter().map(|a| a.into_string()).collect() {
        Ok(a) => a,
        Err(bad) => {
            eprintln!("hookinit plugin: argument {bad:?} is not UTF-8");
            return 2;
        }
    };
    let (cmd, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => {
            eprintln!("{USAGE}");
            return 2;
        }
    };
    // `--help` works after every subcommand (a file named `--help` is `./--help`).
    if rest.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return 0;
    }
    let result = match cmd {
        "compile" => compile(rest),
        "inspect" => inspect(rest),
        "check" => check(rest),
        "list" => list(),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(0)
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("hookinit plugin {cmd}: {msg}");
            2
        }
    }
}

fn read_component(file: &str) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    require_component(&bytes).map_err(|why| format!("{file} {why}"))?;
    Ok(bytes)
}

fn compile(args: &[String]) -> Result<i32, String> {
    let mut file = None;
    let mut out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-o" | "--out" => out = Some(PathBuf::from(it.next().ok_or("-o needs a directory")?)),
            _ if file.is_none() => file = Some(a.clone()),
            _ => return Err(format!("unexpected argument {a:?}\n{USAGE}")),
        }
    }
    let file = file.ok_or(USAGE)?;
    let bytes = read_component(&file)?;
    let cache = Cache::new(out.unwrap_or_else(Cache::default_dir));
    let engine = engine::engine(worker::TARGET).map_err(|e| e.to_string())?;
    let key = Cache::key(&bytes);
    if cache.load(&engine, &key).is_some() {
        println!("{file}: already compiled: {}", cache.path(&key).display());
        return Ok(0);
    }
    let started = Instant::now();
    let code = load::compile(&engine, &bytes, &cache).map_err(|e| format!("{file}: {e}"))?;
    let elapsed = started.elapsed();
    let path = cache
        .store(&key, &code)
        .map_err(|e| format!("cannot write to {}: {e}", cache.dir().display()))?;
    println!(
        "{file}: compiled {} KiB of wasm into {} KiB of native code in {} ms: {}",
        bytes.len() >> 10,
        code.len() >> 10,
        elapsed.as_millis(),
        path.display()
    );
    Ok(0)
}

fn inspect(args: &[String]) -> Result<i32, String> {
    let (file, rest) = args.split_first().ok_or(USAGE)?;
    let (grants, config) = parse_grants(rest)?;
    let bytes = read_component(file)?;
    let engine = engine::engine(worker::TARGET).map_err(|e| e.to_string())?;
    let cache = Cache::new(Cache::default_dir());
    let loaded = load::compile_cached(&engine, &bytes, &cache)?;
    let info = ComponentInfo::of(&engine, &loaded.component);
    println!("file:      {file}");
    println!("size:      {} bytes", bytes.len());
    println!("sha256:    {}", sha256_of(&bytes));
    let versions: Vec<String> = info
        .wit_versions
        .iter()
        .map(|v| format!("{}@{v}", super::WIT_PACKAGE))
        .collect();
    println!(
        "WIT:       {} (this host: {}@{})",
        if versions.is_empty() {
            "no hookinit interface imported".into()
        } else {
            versions.join(", ")
        },
        super::WIT_PACKAGE,
        super::WIT_VERSION
    );
    println!("exports:   {}", info.exports.join(", "));
    println!("imports:");
    for import in &info.imports {
        println!("  {import}");
    }
    if let Some(why) = info.incompatibility() {
        println!("hooks:     - (this host cannot run it: {why})");
        return Ok(0);
    }
    match run_init(file, grants, config) {
        Ok(hooks) => println!("hooks:     {hooks}"),
        Err(why) => println!("hooks:     unknown: {why}"),
    }
    Ok(0)
}

fn check(args: &[String]) -> Result<i32, String> {
    let (file, rest) = args.split_first().ok_or(USAGE)?;
    let (grants, config) = parse_grants(rest)?;
    let bytes = read_component(file)?;
    let engine = engine::engine(worker::TARGET).map_err(|e| e.to_string())?;
    let cache = Cache::new(Cache::default_dir());
    let loaded = load::compile_cached(&engine, &bytes, &cache)?;
    let info = ComponentInfo::of(&engine, &loaded.component);
    let mut linker = HostLinker::new(&engine).map_err(|e| e.to_string())?;
    if let Err(why) = instance::prepare(&engine, &mut linker, &loaded.component) {
        println!("{file}: NO: this hookinit cannot run it: {why}");
        return Ok(1);
    }
    // What its imports may need: said as "may", since an import is only used if the plugin
    // calls it (a Python component imports every interface of the world).
    let mut may_need = Vec::new();
    if info.imports_interface(&format!("{}/fetch@", super::WIT_PACKAGE)) {
        if grants.fetch.is_empty() {
            may_need.push("fetch=HOST if it downloads (it imports fetch): each host it uses");
        }
        if grants.write.is_empty() {
            may_need.push("write=DIR if it downloads: downloads are written under a write grant");
        }
    }
    if info.imports_interface(&format!("{}/archive@", super::WIT_PACKAGE))
        && grants.write.is_empty()
    {
        may_need.push("write=DIR if it unpacks archives (it imports archive)");
    }
    if info.imports_interface("wasi:filesystem/")
        && grants.read.is_empty()
        && grants.write.is_empty()
    {
        may_need.push("read=DIR or write=DIR if it uses files (without them it sees none)");
    }
    for need in &may_need {
        println!("{file}: may need {need}");
    }
    if info.imports_interface("wasi:sockets/") {
        println!(
            "{file}: note: it imports wasi:sockets: sockets are always denied; downloads go \
             through fetch"
        );
    }
    // What cannot work: a granted directory that is not there stops the plugin's load.
    let absent: Vec<String> = [("read", &grants.read), ("write", &grants.write)]
        .into_iter()
        .flat_map(|(kind, dirs)| dirs.iter().map(move |dir| (kind, dir)))
        .filter(|(_, dir)| !dir.is_dir())
        .map(|(kind, dir)| format!("{kind}={}", dir.display()))
        .collect();
    if !absent.is_empty() {
        println!(
            "{file}: NO: no such directory here: {} (a grant must name an existing directory)",
            absent.join(", ")
        );
        return Ok(1);
    }
    match run_init(file, grants, config) {
        Ok(hooks) => {
            println!(
                "{file}: OK: runs on this hookinit ({}@{}); hooks: {hooks}",
                super::WIT_PACKAGE,
                super::WIT_VERSION
            );
            Ok(0)
        }
        Err(why) => {
            println!("{file}: NO: {why}");
            Ok(1)
        }
    }
}

fn list() -> Result<i32, String> {
    if builtin::all().is_empty() {
        println!("no built-in plugins in this build");
    }
    for e in builtin::all() {
        match e.code {
            builtin::Code::Precompiled(cwasm) => {
                println!("{:<10} {:>8} bytes precompiled", e.name, cwasm.len())
            }
            builtin::Code::Compressed { zstd, size } => println!(
                "{:<10} {:>8} bytes precompiled, embedded zstd-compressed ({} bytes)",
                e.name,
                size,
                zstd.len()
            ),
            builtin::Code::Component(c) => {
                println!("{:<10} {:>8} bytes, compiled at start", e.name, c.len())
            }
        }
    }
    Ok(0)
}

/// `read=DIR write=DIR fetch=HOST env=NAME config.K=V` (the DEBUG sub-option syntax).
fn parse_grants(args: &[String]) -> Result<(Grants, Vec<(String, String)>), String> {
    let mut grants = Grants::default();
    let mut config = Vec::new();
    for a in args {
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| format!("expected KEY=VALUE, got {a:?}"))?;
        match k {
            "read" => grants.read.push(PathBuf::from(v)),
            "write" => grants.write.push(PathBuf::from(v)),
            "fetch" => grants
                .fetch
                .push(v.parse().map_err(|e| format!("fetch={v}: {e}"))?),
            "env" => grants.env.push(v.to_string()),
            _ if k.starts_with("config.") => {
                config.push((k["config.".len()..].to_string(), v.to_string()))
            }
            _ => {
                return Err(format!(
                    "unknown grant {k:?} (read=, write=, fetch=, env=, config.KEY=)"
                ));
            }
        }
    }
    Ok((grants, config))
}

/// Starts the plugin as the init would (its own sandbox, limits, a quiet log), returns its hooks.
fn run_init(file: &str, grants: Grants, config: Vec<(String, String)>) -> Result<String, String> {
    let name = Path::new(file)
        .file_stem()
        .map_or("plugin".into(), |s| s.to_string_lossy().into_owned());
    let mut spec = PluginSpec::operator(name, PluginSource::Path(PathBuf::from(file)));
    spec.config = config;
    spec.grants = grants;
    let limits = Limits {
        init: Duration::from_secs(10),
        ..Limits::default()
    };
    let (plugins, failures) = Plugins::start_with(&[spec], limits).map_err(|e| e.to_string())?;
    if let Some(f) = failures.first() {
        return Err(f.reason.clone());
    }
    let hooks: Vec<&str> = [Hook::PreExec, Hook::OnExit, Hook::OnSignal]
        .into_iter()
        .filter(|&h| plugins.subscribed(h))
        .map(Hook::name)
        .collect();
    Ok(if hooks.is_empty() {
        "none".into()
    } else {
        hooks.join(", ")
    })
}
