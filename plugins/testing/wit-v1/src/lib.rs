//! Built against `hookinit:plugin@1.0.0` (a copy of the WIT with another major version), without
//! the SDK. A 0.1 host must refuse it with one line that names both versions.

wit_bindgen::generate!({ path: "wit", world: "plugin" });

use hookinit::plugin::types::Level;

struct V1;

impl Guest for V1 {
    fn init(_config: Vec<(String, String)>) -> Result<Hooks, String> {
        hookinit::plugin::log::log(Level::Info, "v1 plugin initialised");
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

export!(V1);
