//! Built against `hookinit:plugin@1.0.0` (a copy of the WIT with another major version), without
//! the SDK. A 0.1 host must refuse it with one line that names both versions.

#[allow(clippy::all)]
mod bindings {
    wit_bindgen::generate!({ path: "wit", world: "plugin" });
}

use bindings::hookinit::plugin::types::Level;
use bindings::hookinit::plugin::{self as hp};
use bindings::{Command, ExitAction, ExitStatus, Guest, Hooks, SignalAction};

struct V1;

impl Guest for V1 {
    fn init(_config: Vec<(String, String)>) -> Result<Hooks, String> {
        hp::log::log(Level::Info, "v1 plugin initialised");
        Ok(Hooks::all())
    }
    fn pre_exec(cmd: Command) -> Result<Command, String> {
        Ok(cmd)
    }
    fn on_exit(_status: ExitStatus) -> ExitAction {
        ExitAction::Propagate
    }
    fn on_signal(_signal: u8) -> SignalAction {
        SignalAction::Forward
    }
}

bindings::export!(V1 with_types_in bindings);
