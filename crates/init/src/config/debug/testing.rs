//! What the DEBUG grammar's tests share: a sha256, and short ways to parse and to expect.

pub(super) use super::{DebugError, DebugOption, parse, parse_shared};
pub(super) use crate::config::plan::{Builtin, PluginSource, PluginSpec, StayAlive};

pub(super) const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

pub(super) fn opts(value: &str) -> Vec<DebugOption> {
    let spec = parse(value).unwrap_or_else(|e| panic!("{value:?}: {e}"));
    assert!(
        spec.ignored.is_empty(),
        "{value:?} ignored {:?}",
        spec.ignored
    );
    spec.options
}

pub(super) fn fstree(config: &[(&str, &str)]) -> DebugOption {
    DebugOption::Fstree(PluginSpec::builtin(
        Builtin::Fstree,
        config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    ))
}

pub(super) fn plugin_of(options: &[DebugOption]) -> &PluginSpec {
    options
        .iter()
        .find_map(|o| match o {
            DebugOption::Plugin(p) => Some(p),
            _ => None,
        })
        .expect("a plugin option")
}

pub(super) fn fstree_source(options: &[DebugOption]) -> String {
    match &options[0] {
        DebugOption::Fstree(p) => p.config[0].1.clone(),
        other => panic!("not fstree: {other:?}"),
    }
}

pub(super) fn err(value: &str) -> DebugError {
    parse(value).expect_err(value)
}
