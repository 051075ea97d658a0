//! hookinit's life in one screen, like tini's: take the signals over, read the plan, prepare the
//! process (subreaper, parent-death signal), then supervise the main process until it ends.

use std::process::ExitCode;

use hookinit::cli::{self, Parsed};
use hookinit::config;
use hookinit::signals::takeover::SignalSetup;
use hookinit::supervise::Supervisor;
use hookinit::{error, log, warn};

fn main() -> ExitCode {
    // `hookinit plugin compile|inspect|check|list ...` is a tool for image builds, not an init:
    // it keeps the default signal handling (Ctrl-C works). `hookinit -- plugin` runs a program
    // named `plugin`.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "plugin") {
        let code = hookinit::plugins::cli::main_plugin_cli(args[2..].to_vec());
        return ExitCode::from(code.clamp(0, 255) as u8);
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
    hookinit::info!("{}", loaded.plan.summary());
    prepare_process(&loaded.plan);
    let code = Supervisor::new(loaded.plan, signals).run();
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
