//! Embeds the built-in plugins, precompiled.
//!
//! Every crate under `plugins/builtin/` is built for wasm32-wasip2 by a nested cargo (the
//! plugins' own workspace and target dir, `plugins/target`, with the outer build's compiler flags
//! and wrappers cleared), then precompiled with `src/engine.rs` — the very configuration
//! the runtime uses — for the build's target triple without CPU-specific features. The
//! precompiled code lands in `$OUT_DIR/builtin_plugins.rs`, included by
//! `src/builtin.rs`.
//!
//! No crate in `plugins/builtin/`: an empty list, no nested cargo.
//! `HOOKINIT_BUILTIN_PLUGINS=skip`: an empty list too (for builds that do not need them).
//! `HOOKINIT_PRECOMPILE=0`: embed the components only; the runtime then compiles them at start
//! (slow: only for debugging this script).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "src/engine.rs"]
#[allow(dead_code)]
mod engine;

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .ancestors()
        .nth(2)
        .expect("crates/plugin-host/ is two levels down")
        .to_path_buf();
    let plugins = root.join("plugins");
    let out_dir = PathBuf::from(env("OUT_DIR"));
    let target = env("TARGET");

    println!("cargo:rustc-env=HOOKINIT_WASM_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/engine.rs");
    println!("cargo:rerun-if-env-changed=HOOKINIT_BUILTIN_PLUGINS");
    println!("cargo:rerun-if-env-changed=HOOKINIT_PRECOMPILE");
    for watched in [
        "plugins/builtin",
        "plugins/Cargo.toml",
        "plugins/Cargo.lock",
        "guest-sdk/src",
        "guest-sdk/Cargo.toml",
        "wit",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let skip = std::env::var("HOOKINIT_BUILTIN_PLUGINS").is_ok_and(|v| v == "skip");
    let crates = if skip {
        Vec::new()
    } else {
        builtin_crates(&plugins.join("builtin"))
    };
    let mut embedded = Vec::new();
    if !crates.is_empty() {
        let wasm_dir = build_components(&plugins, &crates);
        let precompile = std::env::var("HOOKINIT_PRECOMPILE").map_or(true, |v| v != "0");
        let engine = precompile.then(|| {
            let mut config = engine::config();
            config
                .target(&target)
                .unwrap_or_else(|e| panic!("engine for {target}: {e}"));
            wasmtime::Engine::new(&config).unwrap_or_else(|e| panic!("engine for {target}: {e}"))
        });
        for name in &crates {
            let wasm = wasm_dir.join(format!("{}.wasm", name.replace('-', "_")));
            let bytes = std::fs::read(&wasm)
                .unwrap_or_else(|e| panic!("built-in plugin {name}: {}: {e}", wasm.display()));
            // One form per plugin: its precompiled code, or (the debugging switch above) the
            // component, compiled at start. Both would only add to the binary (0.24 MB for two).
            // Precompiled code is embedded as it is, unless the plugin is in COMPRESSED:
            // unpacking costs a start that uses the plugin about 0.5 ms with its page faults
            // (docs/benchmarks.md), and wasmtime copies the code into its own mapping either way.
            let (file, contents, code) = match &engine {
                Some(engine) => {
                    let cwasm = engine
                        .precompile_component(&bytes)
                        .unwrap_or_else(|e| panic!("built-in plugin {name}: precompile: {e}"));
                    if COMPRESSED.contains(&name.as_str()) {
                        let packed = zstd::bulk::compress(&cwasm, 19)
                            .unwrap_or_else(|e| panic!("built-in plugin {name}: zstd: {e}"));
                        let file = out_dir.join(format!("{name}.cwasm.zst"));
                        let code = format!(
                            "Code::Compressed {{ zstd: include_bytes!({file:?}), size: {} }}",
                            cwasm.len()
                        );
                        (file, packed, code)
                    } else {
                        let file = out_dir.join(format!("{name}.cwasm"));
                        let code = format!("Code::Precompiled(include_bytes!({file:?}))");
                        (file, cwasm, code)
                    }
                }
                None => {
                    let file = out_dir.join(format!("{name}.wasm"));
                    let code = format!("Code::Component(include_bytes!({file:?}))");
                    (file, bytes, code)
                }
            };
            std::fs::write(&file, contents).expect("write the embedded plugin");
            embedded.push((name.clone(), code));
        }
    }

    let mut code = String::from("static EMBEDDED: &[Embedded] = &[\n");
    for (name, form) in &embedded {
        writeln!(code, "    Embedded {{ name: {name:?}, code: {form} }},").unwrap();
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("builtin_plugins.rs"), code).expect("write builtin_plugins.rs");
}

/// Built-in plugins embedded zstd-compressed (a third of the size): those whose own work dwarfs
/// the unpacking. fstree downloads and unpacks an archive; verbose's whole start is a few
/// milliseconds, so it stays as it is.
const COMPRESSED: &[&str] = &["fstree"];

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// Package names of the crates directly under `dir` (sorted, for a stable binary).
fn builtin_crates(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| {
            let manifest = std::fs::read_to_string(e.ok()?.path().join("Cargo.toml")).ok()?;
            package_name(&manifest)
        })
        .collect();
    names.sort();
    names
}

/// `name = "..."` of the `[package]` table (a line-based read: these manifests are ours).
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some(value) = line.strip_prefix("name").map(str::trim_start)
            && let Some(value) = value.strip_prefix('=')
        {
            return Some(value.trim().trim_matches('"').to_string());
        }
    }
    None
}

/// Builds the crates for wasm32-wasip2 in the plugins' workspace; returns the output folder.
fn build_components(plugins: &Path, crates: &[String]) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = plugins.join("target");
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .args(["--target", "wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    for name in crates {
        cmd.args(["-p", name]);
    }
    // The outer build's settings are for the host binary, not for wasm guests: drop its flags,
    // wrappers (clippy-driver, sccache) and profile/target overrides. Keep CARGO_HOME,
    // RUSTUP_TOOLCHAIN and CARGO_MAKEFLAGS (the jobserver, so both builds share the cores).
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let keep = matches!(key, "CARGO_HOME" | "CARGO_MAKEFLAGS" | "CARGO_NET_OFFLINE");
        let drop = key.starts_with("CARGO_")
            || key.starts_with("RUSTC")
            || key.starts_with("RUSTDOC")
            || matches!(
                key,
                "RUSTFLAGS"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "OPT_LEVEL"
                    | "PROFILE"
                    | "DEBUG"
                    | "NUM_JOBS"
            );
        if drop && !keep {
            cmd.env_remove(key);
        }
    }
    cmd.stdout(std::io::stderr()); // stdout of a build script is cargo's instruction channel
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo for the plugins: {e}"));
    if !status.success() {
        panic!(
            "building the built-in plugins for wasm32-wasip2 failed (is the target installed? \
             `rustup toolchain install` sets up what rust-toolchain.toml lists)"
        );
    }
    target_dir.join("wasm32-wasip2").join("release")
}
