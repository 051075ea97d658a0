//! sigguard: drops the signals the main process does not handle.
//!
//! A process running as PID 1 of a namespace never receives a signal it has no handler for: the
//! kernel drops it. Under hookinit the main process is not PID 1, so a `SIGTERM` it does not
//! handle kills it at once. sigguard restores PID 1's behaviour: before hookinit forwards a
//! signal, it reads the main process's handlers (`SigCgt` of `/proc/PID/status`, through the
//! host's `process.main-signals`, no grant needed) and drops the signal unless the process
//! catches it or ignores it anyway.
//!
//! Configuration:
//! - `config.always=TERM,INT`: signals forwarded even when not caught (so that `docker stop`
//!   still stops a program that does not handle SIGTERM). Default: none.
//!
//! `SIGKILL`, `SIGSTOP` and `SIGCONT` are always forwarded (they cannot be caught, or act
//! anyway). Use: `DEBUG=plugin=/plugins/sigguard.wasm,config.always=INT`.

use hookinit_sdk::prelude::*;

#[derive(Default)]
struct SigGuard {
    always: Vec<Signal>,
}

impl Plugin for SigGuard {
    const HOOKS: Hooks = Hooks::ON_SIGNAL;

    fn init(&mut self, config: &Config) -> Result<Hooks, String> {
        for name in config.get_all("always").flat_map(|v| v.split([',', ' '])) {
            if !name.is_empty() {
                self.always
                    .push(Signal::from_name(name).ok_or(format!("unknown signal {name}"))?);
            }
        }
        self.always
            .extend([Signal::KILL, Signal::STOP, Signal::CONT]);
        Ok(Self::HOOKS)
    }

    fn on_signal(&mut self, signal: Signal) -> SignalAction {
        let Some(masks) = host::main_signals() else {
            return SignalAction::Forward;
        };
        if self.always.contains(&signal) || masks.catches(signal) || masks.ignores(signal) {
            return SignalAction::Forward;
        }
        info!("dropping {signal}: the main process does not handle it");
        SignalAction::Ignore
    }
}

export_plugin!(SigGuard);
