//! A plugin whose configuration says what each hook does; used by hookinit's runtime tests.
//!
//! Keys (all optional):
//! - `hooks=pre-exec,on-exit,on-signal`: subscriptions (default: all three).
//! - `init=ACTION`, `pre-exec=ACTION`, `on-exit=ACTION`, `on-signal=ACTION`.
//!
//! Actions common to every hook: `ok` (the default: no change), `fail:MSG` (return an error where
//! the hook can), `loop` (spin forever), `sleep:MS` (block in a host call), `bomb` (allocate until
//! the memory limit), `trap` (wasm `unreachable`), `panic`, `stack` (unbounded recursion),
//! `flood` (100 000 lines on stderr and through the log import), `read:PATH` (read a file; an
//! error is returned as the hook's error), `fetch:URL` (download to /tmp/x; error returned).
//! pre-exec: `set-env:K=V`, `unset-env:K`, `push-arg:X`, `wrap:PROG`, `core-limit`,
//! `echo-pid` (set env MAIN_PID to what `main-pid` says), `list-env` (set env ENV_SEEN to the
//! names of the variables the hook was shown).
//! on-exit: `stay`, `exit:N`, `propagate`, `expect-exited:N` (exit 0 if so, else 1),
//! `log-main-env` (log `main env: NAMES` from `main-command`).
//! on-signal: `forward`, `as:N`, `ignore`, `inc` (forward N+1).

use hookinit_sdk::prelude::*;
use hookinit_sdk::{FetchOptions, RlimitResource};

#[derive(Default)]
struct Behave {
    pre_exec: String,
    on_exit: String,
    on_signal: String,
}

/// Runs a hostile or generic action; returns `Err` for the hook to report when it can.
fn common(action: &str) -> Result<(), String> {
    let (verb, arg) = action.split_once(':').unwrap_or((action, ""));
    match verb {
        "" | "ok" => Ok(()),
        "fail" => Err(arg.to_string()),
        "loop" => loop {
            std::hint::black_box(0u64);
        },
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_millis(
                arg.parse().unwrap_or(1000),
            ));
            Ok(())
        }
        "bomb" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "trap" => {
            #[cfg(target_arch = "wasm32")]
            core::arch::wasm32::unreachable();
            #[cfg(not(target_arch = "wasm32"))]
            std::process::abort();
        }
        "panic" => panic!("deliberate panic ({arg})"),
        "stack" => {
            // Recursion through a function pointer: no inlining, no loop, and nothing on the
            // shadow stack in linear memory: it exhausts the wasm (native) stack.
            static NEXT: fn(u64) -> u64 = native_deep;
            fn native_deep(n: u64) -> u64 {
                let next = unsafe { std::ptr::read_volatile(&NEXT) };
                if n == u64::MAX {
                    0
                } else {
                    next(n + 1).wrapping_add(n)
                }
            }
            std::hint::black_box(native_deep(0));
            Ok(())
        }
        "shadow-stack" => {
            fn deep(n: u64) -> u64 {
                if n == u64::MAX {
                    return 0;
                }
                let pad = std::hint::black_box([n; 64]);
                deep(n + 1) + pad[3]
            }
            std::hint::black_box(deep(0));
            Ok(())
        }
        "flood" => {
            for i in 0..100_000 {
                eprintln!("flood line {i} on stderr");
                warn!("flood line {i} through log");
            }
            Ok(())
        }
        "read" => std::fs::read(arg)
            .map(drop)
            .map_err(|e| format!("read {arg}: {e}")),
        "fetch" => host::fetch_to_file(arg, "/tmp/x", &FetchOptions::default()).map(drop),
        _ => Err(format!("unknown action {action}")),
    }
}

impl Plugin for Behave {
    const HOOKS: Hooks = Hooks::all();

    fn init(&mut self, config: &Config) -> Result<Hooks, String> {
        common(config.get("init").unwrap_or("ok"))?;
        self.pre_exec = config.get("pre-exec").unwrap_or("ok").to_string();
        self.on_exit = config.get("on-exit").unwrap_or("ok").to_string();
        self.on_signal = config.get("on-signal").unwrap_or("ok").to_string();
        let Some(list) = config.get("hooks") else {
            return Ok(Hooks::all());
        };
        let mut hooks = Hooks::empty();
        for name in list.split(',').filter(|s| !s.is_empty()) {
            hooks |= match name {
                "pre-exec" => Hooks::PRE_EXEC,
                "on-exit" => Hooks::ON_EXIT,
                "on-signal" => Hooks::ON_SIGNAL,
                "none" => Hooks::empty(),
                other => return Err(format!("unknown hook {other}")),
            };
        }
        Ok(hooks)
    }

    fn pre_exec(&mut self, mut cmd: Command) -> Result<Command, String> {
        let action = self.pre_exec.clone();
        let (verb, arg) = action.split_once(':').unwrap_or((&action, ""));
        match verb {
            "set-env" => {
                let (k, v) = arg.split_once('=').ok_or("set-env:K=V")?;
                cmd.set_env(k, v);
            }
            "unset-env" => {
                cmd.remove_env(arg);
            }
            "push-arg" => {
                cmd.push_arg(arg);
            }
            "wrap" => {
                cmd.wrap(arg, Vec::<String>::new());
            }
            "core-limit" => {
                cmd.set_limit(RlimitResource::Core, u64::MAX, u64::MAX);
            }
            "echo-pid" => {
                cmd.set_env("MAIN_PID", format!("{:?}", host::main_pid()));
            }
            "list-env" => {
                let names: Vec<String> = cmd.env.iter().map(|(k, _)| k.clone()).collect();
                cmd.set_env("ENV_SEEN", names.join(","));
            }
            _ => common(&action)?,
        }
        Ok(cmd)
    }

    fn on_exit(&mut self, status: ExitStatus) -> ExitAction {
        let (verb, arg) = self.on_exit.split_once(':').unwrap_or((&self.on_exit, ""));
        match verb {
            "stay" => ExitAction::StayAlive,
            "exit" => ExitAction::ExitWith(arg.parse().unwrap_or(99)),
            "expect-exited" => {
                let want: u8 = arg.parse().unwrap_or(0);
                ExitAction::ExitWith(if status.code() == Some(want) { 0 } else { 1 })
            }
            "propagate" => ExitAction::Propagate,
            "log-main-env" => {
                let names: Vec<String> = host::main_command()
                    .map(|c| c.env.into_iter().map(|(k, _)| k).collect())
                    .unwrap_or_default();
                info!("main env: {}", names.join(","));
                ExitAction::Propagate
            }
            _ => {
                if let Err(e) = common(&self.on_exit.clone()) {
                    error!("on-exit: {e}");
                }
                ExitAction::Propagate
            }
        }
    }

    fn on_signal(&mut self, signal: Signal) -> SignalAction {
        let (verb, arg) = self
            .on_signal
            .split_once(':')
            .unwrap_or((&self.on_signal, ""));
        match verb {
            "forward" => SignalAction::Forward,
            "as" => SignalAction::ForwardAs(arg.parse().unwrap_or(15)),
            "ignore" => SignalAction::Ignore,
            "inc" => SignalAction::ForwardAs(signal.number() + 1),
            _ => {
                if let Err(e) = common(&self.on_signal.clone()) {
                    error!("on-signal: {e}");
                }
                SignalAction::Forward
            }
        }
    }
}

export_plugin!(Behave);
