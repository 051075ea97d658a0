//! From a plugin's source (built-in, path, URL) to a compiled Component, as fast as possible:
//! built-ins are deserialized from the binary, other plugins come from the compile cache or are
//! compiled once and cached.

use std::time::Instant;

use wasmtime::Engine;
use wasmtime::component::Component;

use super::builtin;
use super::cache::{Cache, sha256_of};
use super::inspect::require_component;
use hookinit_init::config::plan::{PluginSource, PluginSpec};
use hookinit_values::{HttpUrl, Source};

/// Where a component's code came from (for the start-up log and the benchmarks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Precompiled and embedded in the binary.
    Embedded,
    /// The compile cache.
    Cache,
    /// Compiled now (and cached if the cache is writable).
    Compiled,
}

pub struct Loaded {
    pub component: Component,
    pub origin: Origin,
}

pub fn load(engine: &Engine, spec: &PluginSpec, cache: &Cache) -> Result<Loaded, String> {
    let bytes = match &spec.source {
        PluginSource::Builtin(b) => {
            let embedded = builtin::find(b.name()).ok_or_else(|| {
                format!("built-in plugin {} is not embedded in this build", b.name())
            })?;
            let origin = match embedded.code {
                builtin::Code::Precompiled(_) | builtin::Code::Compressed { .. } => {
                    Origin::Embedded
                }
                builtin::Code::Component(_) => Origin::Compiled,
            };
            return Ok(Loaded {
                component: embedded.load(engine)?,
                origin,
            });
        }
        PluginSource::Path(path) => {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
        }
        PluginSource::Url(url) => fetch_component(url, spec, cache)?,
    };
    if let Some(pin) = spec.sha256 {
        let actual = sha256_of(&bytes);
        if actual != pin {
            return Err(format!("sha256 mismatch: expected {pin}, got {actual}"));
        }
    }
    require_component(&bytes).map_err(|why| format!("{} {why}", describe(&spec.source)))?;
    compile_cached(engine, &bytes, cache)
}

/// The compiled component for `wasm`: from the cache, or compiled and stored there.
pub fn compile_cached(engine: &Engine, wasm: &[u8], cache: &Cache) -> Result<Loaded, String> {
    let key = Cache::key(wasm);
    if let Some(component) = cache.load(engine, &key) {
        return Ok(Loaded {
            component,
            origin: Origin::Cache,
        });
    }
    let started = Instant::now();
    let code = compile(engine, wasm, cache)?;
    hookinit_init::info!(
        "compiled a plugin ({} KiB) in {} ms; caching it in {}",
        wasm.len() >> 10,
        started.elapsed().as_millis(),
        cache.dir().display()
    );
    if let Err(e) = cache.store(&key, &code) {
        hookinit_init::info!(
            "plugin cache {} not writable ({e}); compiling at every start",
            cache.dir().display()
        );
    }
    // SAFETY: `code` was produced just now by this engine.
    let component = unsafe { Component::deserialize(engine, &code) }
        .map_err(|e| format!("cannot load compiled code: {e:#}"))?;
    Ok(Loaded {
        component,
        origin: Origin::Compiled,
    })
}

/// Compiles `wasm` to native code for `engine`.
#[cfg(feature = "compiler")]
pub fn compile(engine: &Engine, wasm: &[u8], _cache: &Cache) -> Result<Vec<u8>, String> {
    engine
        .precompile_component(wasm)
        .map_err(|e| format!("cannot compile: {e:#}"))
}

/// Without a compiler, a plugin that is not in the cache cannot run: say how to put it there.
#[cfg(not(feature = "compiler"))]
pub fn compile(_engine: &Engine, _wasm: &[u8], cache: &Cache) -> Result<Vec<u8>, String> {
    Err(format!(
        "not precompiled, and this hookinit is built without a compiler: at image build time, \
         run `hookinit plugin compile -o DIR FILE` with a full hookinit {} and start with \
         HOOKINIT_CACHE_DIR=DIR (looked in {})",
        env!("CARGO_PKG_VERSION"),
        cache.dir().display()
    ))
}

fn describe(source: &PluginSource) -> String {
    match source {
        PluginSource::Builtin(b) => b.name().to_string(),
        PluginSource::Path(p) => p.display().to_string(),
        PluginSource::Url(u) => u.to_string(),
    }
}

/// `plugin=URL`: a sha256 pin is required unless the operator allowed unpinned downloads. A
/// pinned component already in the cache is not downloaded again.
fn fetch_component(url: &HttpUrl, spec: &PluginSpec, cache: &Cache) -> Result<Vec<u8>, String> {
    if spec.unpinned_url().is_some() {
        return Err(format!(
            "{url} is not pinned: add sha256=HEX (or `unpinned` to accept any content)"
        ));
    }
    let pin = spec.sha256;
    if let Some(bytes) = pin.and_then(|p| cache.fetched(p)) {
        return Ok(bytes);
    }
    let tmp_name = format!("wasm/download-{}.tmp", std::process::id());
    let tmp = cache
        .store(&tmp_name, b"")
        .map_err(|e| format!("cache {}: {e}", cache.dir().display()))?;
    let options = super::bindings::wit::FetchOptions {
        sha256: pin.map(|p| p.to_string()),
        timeout_ms: None,
        max_bytes: Some(64 << 20),
    };
    let source = Source::Http(url.clone());
    let result = super::services::fetch(&source, &tmp, &options, None)
        .and_then(|_| std::fs::read(&tmp).map_err(|e| e.to_string()));
    let _ = std::fs::remove_file(&tmp);
    let bytes = result.map_err(|e| format!("cannot download {url}: {e}"))?;
    let sha = sha256_of(&bytes);
    if let Some(pin) = pin
        && pin != sha
    {
        return Err(format!("{url}: sha256 mismatch: expected {pin}, got {sha}"));
    }
    let _ = cache.store(&format!("wasm/{sha}.wasm"), &bytes);
    Ok(bytes)
}
