//! bench-plugin: the user plugin measured by `bench/run.sh`.
//!
//! - pre-exec: sets `HOOKINIT_BENCH_PLUGIN=ran` in the main process's environment (the benchmark
//!   checks it to know that the plugin really ran). With `config.unpack=ARCHIVE` and
//!   `config.dest=DIR` (and the grants `read=` the archive's folder, `write=DIR`), it first
//!   unpacks ARCHIVE into DIR through the host's unpack service, the one `fstree` uses;
//! - on-signal: forwards every signal unchanged (the benchmark times the round trip through the
//!   hook against forwarding without plugins).

use hookinit_sdk::prelude::*;
use hookinit_sdk::UnpackOptions;

#[derive(Default)]
struct BenchPlugin {
    unpack: Option<(String, String)>,
}

impl Plugin for BenchPlugin {
    const HOOKS: Hooks = Hooks::PRE_EXEC.union(Hooks::ON_SIGNAL);

    fn init(&mut self, config: &Config) -> Result<Hooks, String> {
        if let Some(archive) = config.get("unpack") {
            self.unpack = Some((archive.to_string(), config.require("dest")?.to_string()));
        }
        Ok(Self::HOOKS)
    }

    fn pre_exec(&mut self, mut cmd: Command) -> Result<Command, String> {
        if let Some((archive, dest)) = &self.unpack {
            let report = host::unpack(archive, dest, UnpackOptions::default())?;
            cmd.set_env("HOOKINIT_BENCH_UNPACKED", report.files.to_string());
        }
        cmd.set_env("HOOKINIT_BENCH_PLUGIN", "ran");
        Ok(cmd)
    }

    fn on_signal(&mut self, _signal: Signal) -> SignalAction {
        SignalAction::Forward
    }
}

export_plugin!(BenchPlugin);
