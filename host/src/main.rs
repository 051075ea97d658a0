//! hookinit's life in one screen, like tini's: take the signals over, read the plan, prepare the
//! process (subreaper, parent-death signal), then supervise the main process until it ends.
//!
//! The crates, wired here: `hookinit-init` is PID 1 (no wasmtime in it); `hookinit-plugin-host`
//! (cargo feature `plugins`) is the plugin runtime, run in the process PID 1 forks for it, and
//! `hookinit plugin ...`.

use std::process::ExitCode;

use hookinit_init::cli::{self, Parsed};
use hookinit_init::config;
use hookinit_init::plugin_process::Runtime;
use hookinit_init::signals::takeover::SignalSetup;
use hookinit_init::supervise::Supervisor;
use hookinit_init::{error, log, warn};

/// What the plugin process runs, if this build has plugins.
#[cfg(feature = "plugins")]
const RUNTIME: Option<Runtime> = Some(hookinit_plugin_host::serve);
#[cfg(not(feature = "plugins"))]
const RUNTIME: Option<Runtime> = None;

fn main() -> ExitCode {
    // `hookinit plugin compile|inspect|check|list ...` is a tool for image builds and `hookinit
    // ctl ...` one for operators (`docker exec`), not an init: they keep the default signal
    // handling (Ctrl-C works). `hookinit -- plugin` runs a program named `plugin`.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "plugin") {
        return ExitCode::from(plugin_cli(args[2..].to_vec()).clamp(0, 255) as u8);
    }
    if args.get(1).is_some_and(|a| a == "ctl") {
        return ExitCode::from(
            hookinit_init::ctl::client::main(args[2..].to_vec()).clamp(0, 255) as u8,
        );
    }
    // First, before anything can start a thread: threads inherit the signal mask.
    let signals = match SignalSetup::take_over() {
        Ok(signals) => signals,
        Err(err) => {
            error!("cannot take over signals: {err}");
            return ExitCode::from(1);
        }
    };
    let cli = match cli::parse(args) {
        Parsed::Run(cli) => cli,
        Parsed::Exit(code) => return ExitCode::from(code),
    };
    let env = |name: &str| std::env::var_os(name);
    let loaded = match config::load(cli, &env) {
        Ok(loaded) => loaded,
        Err(err) => {
            error!("{err}");
            return ExitCode::from(2);
        }
    };
    log::set_level(loaded.plan.verbosity);
    log::set_timestamps(loaded.plan.trace);
    for notice in &loaded.notices {
        warn!("{notice}");
    }
    hookinit_init::info!("{}", loaded.plan.summary());
    prepare_process(&loaded.plan);
    let code = Supervisor::new(loaded.plan, signals, RUNTIME).run();
    ExitCode::from(code.clamp(0, 255) as u8)
}

/// Subreaper when not PID 1 (so orphans come back to us to be reaped), and the parent-death signal.
fn prepare_process(plan: &config::plan::Plan) {
    if std::process::id() != 1
        && let Err(err) = nix::sys::prctl::set_child_subreaper(true)
    {
        warn!(
            "not PID 1 and cannot register as a child subreaper ({err}): zombies of orphaned \
             processes will not be reaped by hookinit; run it as PID 1 or allow PR_SET_CHILD_SUBREAPER"
        );
    }
    if let Some(sig) = plan.pdeathsig
        && let Err(err) = nix::sys::prctl::set_pdeathsig(Some(sig))
    {
        warn!("cannot set the parent-death signal {sig}: {err}");
    }
}

#[cfg(feature = "plugins")]
fn plugin_cli(args: Vec<std::ffi::OsString>) -> i32 {
    hookinit_plugin_host::cli::main_plugin_cli(args)
}

#[cfg(not(feature = "plugins"))]
fn plugin_cli(_args: Vec<std::ffi::OsString>) -> i32 {
    error!(
        "`hookinit plugin` needs a build with plugins (cargo feature `plugins`); this one is an \
         init only"
    );
    2
}
