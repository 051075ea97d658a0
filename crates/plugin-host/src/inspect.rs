//! What a component is built against and what it needs: WIT version, imports, exports. Used to
//! refuse an incompatible plugin with a clear line, and by `hookinit plugin inspect/check`.

use std::collections::BTreeSet;

use wasmtime::Engine;
use wasmtime::component::Component;

use super::bindings::{WIT_PACKAGE, WIT_VERSION};

/// The exports of the `plugin` world.
pub const HOOK_EXPORTS: [&str; 4] = ["init", "pre-exec", "on-exit", "on-signal"];

/// A component's interface, as its type says.
#[derive(Clone, Debug, Default)]
pub struct ComponentInfo {
    /// Versions of `hookinit:plugin` it imports (normally one).
    pub wit_versions: BTreeSet<String>,
    /// Imported instances (`wasi:cli/environment@0.2.6`, `hookinit:plugin/log@0.1.0`, ...).
    pub imports: Vec<String>,
    /// Exported names.
    pub exports: Vec<String>,
}

impl ComponentInfo {
    pub fn of(engine: &Engine, component: &Component) -> ComponentInfo {
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let exports: Vec<String> = ty
            .exports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let wit_versions = imports
            .iter()
            .filter_map(|name| {
                let (pkg, rest) = name.split_once('/')?;
                let version = rest.split_once('@')?.1;
                (pkg == WIT_PACKAGE).then(|| version.to_string())
            })
            .collect();
        ComponentInfo {
            wit_versions,
            imports,
            exports,
        }
    }

    /// Why this host cannot run the component, judged from its type alone (the linker has the
    /// last word).
    pub fn incompatibility(&self) -> Option<String> {
        let foreign: Vec<&String> = self
            .wit_versions
            .iter()
            .filter(|v| !compatible(v, WIT_VERSION))
            .collect();
        if let Some(v) = foreign.first() {
            return Some(format!(
                "built against {WIT_PACKAGE}@{v}, but this hookinit implements \
                 {WIT_PACKAGE}@{WIT_VERSION} ({}); rebuild it with a matching hookinit-sdk",
                compatible_range(WIT_VERSION)
            ));
        }
        let missing: Vec<&str> = HOOK_EXPORTS
            .iter()
            .copied()
            .filter(|e| !self.exports.iter().any(|x| x == e))
            .collect();
        if !missing.is_empty() {
            return Some(format!(
                "is not a hookinit plugin: it does not export {} (build it with hookinit-sdk's \
                 export_plugin!)",
                missing.join(", ")
            ));
        }
        None
    }

    /// The `hookinit:plugin` interfaces it imports (`log`, `fetch`, ...).
    pub fn host_interfaces(&self) -> Vec<&str> {
        self.imports
            .iter()
            .filter_map(|name| {
                let (pkg, rest) = name.split_once('/')?;
                (pkg == WIT_PACKAGE).then(|| rest.split('@').next().unwrap_or(rest))
            })
            .filter(|iface| *iface != "types")
            .collect()
    }

    pub fn imports_interface(&self, prefix: &str) -> bool {
        self.imports.iter().any(|i| i.starts_with(prefix))
    }
}

/// Semver compatibility as wasmtime's linker applies it: same major, and for 0.x the same minor.
pub fn compatible(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> {
        v.split(['-', '+'])
            .next()
            .unwrap_or(v)
            .split('.')
            .filter_map(|p| p.parse().ok())
            .collect()
    };
    let (a, b) = (parts(a), parts(b));
    match (a.as_slice(), b.as_slice()) {
        ([0, am, ..], [0, bm, ..]) => am == bm,
        ([0, ..], _) | (_, [0, ..]) => false,
        ([amaj, ..], [bmaj, ..]) => amaj == bmaj,
        _ => false,
    }
}

fn compatible_range(v: &str) -> String {
    let mut it = v.split('.');
    match (it.next(), it.next()) {
        (Some("0"), Some(minor)) => format!("0.{minor}.x"),
        (Some(major), _) => format!("{major}.x"),
        _ => v.to_string(),
    }
}

/// What a file's first bytes say it is.
#[derive(Debug, PartialEq, Eq)]
pub enum FileKind {
    Component,
    CoreModule,
    Precompiled,
    Other,
}

pub fn file_kind(bytes: &[u8]) -> FileKind {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => FileKind::Component,
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => FileKind::CoreModule,
        Some([0x7f, b'E', b'L', b'F', ..]) => FileKind::Precompiled,
        _ => FileKind::Other,
    }
}

/// Refuses what is not a component, with the way out.
pub fn require_component(bytes: &[u8]) -> Result<(), String> {
    match file_kind(bytes) {
        FileKind::Component => Ok(()),
        FileKind::CoreModule => Err("is a core WebAssembly module, not a component: build it \
                                     for wasm32-wasip2 (cargo build --target wasm32-wasip2)"
            .into()),
        FileKind::Precompiled => Err("is precompiled native code (.cwasm); give the .wasm \
                                      component (hookinit caches its own compilation)"
            .into()),
        FileKind::Other => Err("is not a WebAssembly component".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compatible_like_the_linker() {
        assert!(compatible("0.1.0", "0.1.3"));
        assert!(!compatible("0.2.0", "0.1.0"));
        assert!(!compatible("1.0.0", "0.1.0"));
        assert!(compatible("1.2.0", "1.0.1"));
        assert_eq!(compatible_range("0.1.0"), "0.1.x");
    }

    #[test]
    fn incompatible_major_is_named() {
        let info = ComponentInfo {
            wit_versions: ["1.0.0".to_string()].into(),
            imports: vec!["hookinit:plugin/types@1.0.0".into()],
            exports: HOOK_EXPORTS.iter().map(|s| s.to_string()).collect(),
        };
        let why = info.incompatibility().unwrap();
        assert!(
            why.contains("hookinit:plugin@1.0.0") && why.contains("0.1.x"),
            "{why}"
        );
    }
}
