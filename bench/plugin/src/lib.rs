//! bench-plugin: the user plugin measured by `bench/run.sh`.
//!
//! - pre-exec: sets `HOOKINIT_BENCH_PLUGIN=ran` in the main process's environment (the benchmark
//!   checks it to know that the plugin really ran);
//! - on-signal: forwards every signal unchanged (the benchmark times the round trip through the
//!   hook against forwarding without plugins).

use hookinit_sdk::prelude::*;

#[derive(Default)]
struct BenchPlugin;

impl Plugin for BenchPlugin {
    const HOOKS: Hooks = Hooks::PRE_EXEC.union(Hooks::ON_SIGNAL);

    fn pre_exec(&mut self, mut cmd: Command) -> Result<Command, String> {
        cmd.set_env("HOOKINIT_BENCH_PLUGIN", "ran");
        Ok(cmd)
    }

    fn on_signal(&mut self, _signal: Signal) -> SignalAction {
        SignalAction::Forward
    }
}

export_plugin!(BenchPlugin);
