//! Conversions between the runtime's host types and the generated WIT types.
//!
//! WIT strings are UTF-8; commands are OsStrings. A value that is not UTF-8 is shown to plugins
//! lossily converted, and when the plugin hands back that same lossy text the original bytes are
//! restored, so a plugin that does not touch a value never corrupts it.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use super::bindings::wit;
use hookinit_init::plugin_process::{
    CommandSpec, ExitAction, ExitInfo, ResourceLimit, RlimitResource, SignalAction,
};

/// Lossy text → original bytes, for the values of one command that are not UTF-8.
#[derive(Default)]
pub struct Originals(HashMap<String, OsString>);

impl Originals {
    fn text(&mut self, value: &OsStr) -> String {
        match value.to_str() {
            Some(s) => s.to_string(),
            None => {
                let lossy = value.to_string_lossy().into_owned();
                self.0
                    .entry(lossy.clone())
                    .or_insert_with(|| value.to_os_string());
                lossy
            }
        }
    }

    fn restore(&self, text: String) -> OsString {
        match self.0.get(&text) {
            Some(original) => original.clone(),
            None => OsString::from(text),
        }
    }
}

/// `cmd` as a plugin that sees only the variables `sees` allows is shown it.
pub fn visible_to(cmd: &wit::Command, sees: impl Fn(&str) -> bool) -> wit::Command {
    wit::Command {
        env: cmd.env.iter().filter(|(k, _)| sees(k)).cloned().collect(),
        ..cmd.clone()
    }
}

/// The command after a plugin that was shown `shown` returned `returned`: its argv, cwd and
/// limits; for the environment, its word on the variables it saw (kept, changed or removed), the
/// ones it could not see as they were, and the ones it added. What a plugin cannot see, it can
/// neither read nor remove; it may set any variable.
pub fn merge_returned(
    before: &wit::Command,
    shown: &wit::Command,
    returned: wit::Command,
) -> wit::Command {
    let was_shown = |k: &str| shown.env.iter().any(|(s, _)| s == k);
    let mut env: Vec<(String, String)> = Vec::with_capacity(before.env.len());
    for (k, v) in &before.env {
        if !was_shown(k) {
            // Unless the plugin set it (it may set what it cannot see).
            if !returned.env.iter().any(|(r, _)| r == k) {
                env.push((k.clone(), v.clone()));
            }
        }
    }
    let mut merged = returned;
    // Hidden variables first, where they were; then the plugin's own list, in its order.
    env.append(&mut merged.env);
    merged.env = env;
    merged
}

pub fn command_to_wit(spec: &CommandSpec, originals: &mut Originals) -> wit::Command {
    wit::Command {
        program: originals.text(&spec.program),
        args: spec.args.iter().map(|a| originals.text(a)).collect(),
        env: spec
            .env
            .iter()
            .map(|(k, v)| (originals.text(k), originals.text(v)))
            .collect(),
        cwd: originals.text(spec.cwd.as_os_str()),
        limits: spec.limits.iter().map(limit_to_wit).collect(),
    }
}

pub fn command_from_wit(cmd: wit::Command, originals: &Originals) -> CommandSpec {
    CommandSpec {
        program: originals.restore(cmd.program),
        args: cmd.args.into_iter().map(|a| originals.restore(a)).collect(),
        env: cmd
            .env
            .into_iter()
            .map(|(k, v)| (originals.restore(k), originals.restore(v)))
            .collect(),
        cwd: PathBuf::from(originals.restore(cmd.cwd)),
        limits: cmd.limits.iter().map(limit_from_wit).collect(),
    }
}

fn limit_to_wit(limit: &ResourceLimit) -> wit::ResourceLimit {
    let kind = match limit.resource {
        RlimitResource::Core => wit::RlimitResource::Core,
        RlimitResource::Nofile => wit::RlimitResource::Nofile,
        RlimitResource::Nproc => wit::RlimitResource::Nproc,
        RlimitResource::Stack => wit::RlimitResource::Stack,
        RlimitResource::Memlock => wit::RlimitResource::Memlock,
    };
    wit::ResourceLimit {
        kind,
        soft: limit.soft,
        hard: limit.hard,
    }
}

fn limit_from_wit(limit: &wit::ResourceLimit) -> ResourceLimit {
    let resource = match limit.kind {
        wit::RlimitResource::Core => RlimitResource::Core,
        wit::RlimitResource::Nofile => RlimitResource::Nofile,
        wit::RlimitResource::Nproc => RlimitResource::Nproc,
        wit::RlimitResource::Stack => RlimitResource::Stack,
        wit::RlimitResource::Memlock => RlimitResource::Memlock,
    };
    ResourceLimit {
        resource,
        soft: limit.soft,
        hard: limit.hard.max(limit.soft),
    }
}

pub fn exit_to_wit(status: ExitInfo) -> wit::ExitStatus {
    match status {
        ExitInfo::Exited(code) => wit::ExitStatus::Exited(code),
        ExitInfo::Signaled {
            signal,
            core_dumped,
        } => wit::ExitStatus::Signaled(wit::SignalInfo {
            signal: u8::try_from(signal).unwrap_or(u8::MAX),
            core_dumped,
        }),
    }
}

pub fn exit_action_from_wit(action: wit::ExitAction) -> ExitAction {
    match action {
        wit::ExitAction::Propagate => ExitAction::Propagate,
        wit::ExitAction::StayAlive => ExitAction::StayAlive,
        wit::ExitAction::ExitWith(code) => ExitAction::ExitWith(code),
    }
}

/// `current` is the signal as the plugin was asked about it.
pub fn signal_action_from_wit(action: wit::SignalAction, current: i32) -> SignalAction {
    match action {
        wit::SignalAction::Forward => SignalAction::Forward(current),
        wit::SignalAction::ForwardAs(signal) => SignalAction::Forward(i32::from(signal)),
        wit::SignalAction::Ignore => SignalAction::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn non_utf8_values_survive_a_plugin_that_leaves_them_alone() {
        let odd = OsStr::from_bytes(b"caf\xe9").to_os_string();
        let spec = CommandSpec {
            program: "app".into(),
            args: vec![odd.clone(), "plain".into()],
            env: vec![("NAME".into(), odd.clone())],
            cwd: "/".into(),
            limits: vec![],
        };
        let mut originals = Originals::default();
        let mut cmd = command_to_wit(&spec, &mut originals);
        assert_eq!(cmd.args[0], "caf\u{fffd}");
        cmd.args.push("new".into());
        let back = command_from_wit(cmd, &originals);
        assert_eq!(back.args, vec![odd.clone(), "plain".into(), "new".into()]);
        assert_eq!(back.env, vec![("NAME".into(), odd)]);
    }

    #[test]
    fn forward_as_rewrites_and_forward_keeps_the_current_signal() {
        assert_eq!(
            signal_action_from_wit(wit::SignalAction::Forward, 10),
            SignalAction::Forward(10)
        );
        assert_eq!(
            signal_action_from_wit(wit::SignalAction::ForwardAs(15), 10),
            SignalAction::Forward(15)
        );
        assert_eq!(
            signal_action_from_wit(wit::SignalAction::Ignore, 10),
            SignalAction::Ignore
        );
    }
}
