//! Write [hookinit](https://example.invalid/hookinit) plugins in Rust.
//!
//! hookinit is a container init (PID 1). A plugin is a WebAssembly component that hookinit runs
//! at three points of the container's life: before the main process starts (*pre-exec*: edit its
//! command, environment, working directory, resource limits, or stop the start), for each signal
//! it is about to forward (*on-signal*: forward, rewrite or drop it), and when the main process
//! has ended (*on-exit*: exit with its status, another one, or stay alive for `docker exec`).
//!
//! Implement [`Plugin`] (every method has a default), export it with [`export_plugin!`], and
//! build with `cargo build --target wasm32-wasip2 --release`:
//!
//! ```no_run
//! use hookinit_sdk::prelude::*;
//!
//! #[derive(Default)]
//! struct Greeter;
//!
//! impl Plugin for Greeter {
//!     const HOOKS: Hooks = Hooks::PRE_EXEC;
//!     fn pre_exec(&mut self, mut cmd: Command) -> Result<Command, String> {
//!         cmd.set_env("GREETING", "hello from a plugin");
//!         info!("starting {}", cmd.program);
//!         Ok(cmd)
//!     }
//! }
//!
//! export_plugin!(Greeter);
//! ```
//!
//! Then run it: `docker run -e DEBUG=plugin=/plugins/greeter.wasm ...` (see the plugin guide in
//! the repository's `docs/plugin-guide.md`).
//!
//! The plugin is instantiated once per container: the value built by `Default` and configured in
//! [`Plugin::init`] lives for all the hooks. It runs sandboxed: it sees only the directories and
//! environment variables the operator granted, and asks the host to [`fetch`](host::fetch_to_file)
//! and [`unpack`](host::unpack) for it, which the host checks against the grants.
//!
//! The WIT interface behind this crate (`hookinit:plugin@0.1.0`) is in the repository's `wit/`
//! folder; authors never need to see it.

#![warn(missing_docs)]

// Lets the generated bindings and the exported macros name this crate the same way from inside
// and from a plugin crate.
extern crate self as hookinit_sdk;

mod command;
mod config;
pub mod host;
mod log;
mod signal;
mod status;

pub use crate::config::Config;
pub use crate::signal::Signal;
pub use __private::bindings::hookinit::plugin::types::{
    Command, CoreDumpSettings, Executable, ExitAction, ExitStatus, FetchOptions, FetchReport,
    Hooks, Level, ResourceLimit, RlimitResource, SignalAction, SignalInfo, SignalMasks,
    UnpackOptions, UnpackReport,
};

/// The version of the WIT package this SDK is built against (`hookinit:plugin@VERSION`).
pub const WIT_VERSION: &str = "0.1.0";

/// Everything a plugin usually needs, for `use hookinit_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::host;
    pub use crate::{
        Command, Config, ExitAction, ExitStatus, Hooks, Level, Plugin, Signal, SignalAction,
    };
    pub use crate::{debug, error, export_plugin, info, warn};
}

/// A hookinit plugin. Every method has a default that changes nothing; override the hooks you
/// need and list them in [`HOOKS`](Plugin::HOOKS).
///
/// The host builds the value with `Default`, calls [`init`](Plugin::init) once with the
/// operator's configuration, then calls the subscribed hooks, in the same instance, for the life
/// of the container. A hook that panics, runs past its deadline or exhausts its memory disables
/// the plugin (one line in the container log says which and why); the container carries on.
///
/// ```no_run
/// use hookinit_sdk::prelude::*;
///
/// /// Keeps a container up after a crash when `config.stay=yes` is given.
/// #[derive(Default)]
/// struct StayOnCrash { enabled: bool }
///
/// impl Plugin for StayOnCrash {
///     const HOOKS: Hooks = Hooks::ON_EXIT;
///     fn init(&mut self, config: &Config) -> Result<Hooks, String> {
///         self.enabled = config.get("stay") == Some("yes");
///         Ok(Self::HOOKS)
///     }
///     fn on_exit(&mut self, status: ExitStatus) -> ExitAction {
///         if self.enabled && status.signal().is_some() { ExitAction::StayAlive } else { ExitAction::Propagate }
///     }
/// }
/// export_plugin!(StayOnCrash);
/// ```
pub trait Plugin: Default + 'static {
    /// The hooks the host calls (unless [`init`](Plugin::init) returns others):
    /// `Hooks::PRE_EXEC`, `Hooks::ON_EXIT`, `Hooks::ON_SIGNAL`, combined with `|`.
    ///
    /// ```
    /// # use hookinit_sdk::Hooks;
    /// const HOOKS: Hooks = Hooks::PRE_EXEC.union(Hooks::ON_SIGNAL);
    /// ```
    const HOOKS: Hooks;

    /// Called once, before any hook, with the plugin's configuration (`config.KEY=VALUE`
    /// options). Returns the hooks to call; an error disables the plugin.
    ///
    /// Default: accepts any configuration and returns [`HOOKS`](Plugin::HOOKS).
    ///
    /// ```no_run
    /// # use hookinit_sdk::prelude::*;
    /// # #[derive(Default)] struct P { limit: u32 }
    /// # impl Plugin for P { const HOOKS: Hooks = Hooks::empty();
    /// fn init(&mut self, config: &Config) -> Result<Hooks, String> {
    ///     self.limit = config.parse("limit")?.unwrap_or(10);
    ///     Ok(Hooks::ON_SIGNAL)
    /// }
    /// # }
    /// ```
    fn init(&mut self, config: &Config) -> Result<Hooks, String> {
        let _ = config;
        Ok(Self::HOOKS)
    }

    /// Called before the main process is spawned with the command as edited by the plugins
    /// before this one. Returns the command to run, or an error that stops the container's start.
    ///
    /// Default: the command unchanged.
    ///
    /// ```no_run
    /// # use hookinit_sdk::prelude::*;
    /// # #[derive(Default)] struct P;
    /// # impl Plugin for P { const HOOKS: Hooks = Hooks::PRE_EXEC;
    /// fn pre_exec(&mut self, mut cmd: Command) -> Result<Command, String> {
    ///     if cmd.env("DATABASE_URL").is_none() {
    ///         return Err("DATABASE_URL is not set".into());
    ///     }
    ///     cmd.args.insert(0, "--verbose".into());
    ///     Ok(cmd)
    /// }
    /// # }
    /// ```
    fn pre_exec(&mut self, cmd: Command) -> Result<Command, String> {
        Ok(cmd)
    }

    /// Called when the main process has ended. The first plugin (in plugin order) whose answer
    /// is not [`ExitAction::Propagate`] decides.
    ///
    /// Default: [`ExitAction::Propagate`].
    ///
    /// ```no_run
    /// # use hookinit_sdk::prelude::*;
    /// # #[derive(Default)] struct P;
    /// # impl Plugin for P { const HOOKS: Hooks = Hooks::ON_EXIT;
    /// fn on_exit(&mut self, status: ExitStatus) -> ExitAction {
    ///     // Treat "killed by SIGTERM" as a clean stop.
    ///     if status.signal() == Some(Signal::TERM) { ExitAction::ExitWith(0) } else { ExitAction::Propagate }
    /// }
    /// # }
    /// ```
    fn on_exit(&mut self, status: ExitStatus) -> ExitAction {
        let _ = status;
        ExitAction::Propagate
    }

    /// Called for each signal hookinit is about to forward to the main process, with the signal
    /// as rewritten by the plugins before this one. Must be quick: past its deadline (50 ms by
    /// default) the signal is forwarded unchanged and the plugin disabled.
    ///
    /// Default: [`SignalAction::Forward`].
    ///
    /// ```no_run
    /// # use hookinit_sdk::prelude::*;
    /// # #[derive(Default)] struct P;
    /// # impl Plugin for P { const HOOKS: Hooks = Hooks::ON_SIGNAL;
    /// fn on_signal(&mut self, signal: Signal) -> SignalAction {
    ///     match signal {
    ///         Signal::INT => SignalAction::forward_as(Signal::TERM),
    ///         Signal::HUP => SignalAction::Ignore,
    ///         _ => SignalAction::Forward,
    ///     }
    /// }
    /// # }
    /// ```
    fn on_signal(&mut self, signal: Signal) -> SignalAction {
        let _ = signal;
        SignalAction::Forward
    }
}

/// Exports a [`Plugin`] implementation as the component's hooks. Use it once, at the top level of
/// the plugin crate (a `cdylib`).
///
/// ```no_run
/// use hookinit_sdk::prelude::*;
/// #[derive(Default)]
/// struct Nothing;
/// impl Plugin for Nothing { const HOOKS: Hooks = Hooks::empty(); }
/// export_plugin!(Nothing);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            struct HookinitExports;
            impl $crate::__private::bindings::Guest for HookinitExports {
                fn init(
                    config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::std::result::Result<$crate::Hooks, ::std::string::String> {
                    $crate::__private::init::<$plugin>(config)
                }
                fn pre_exec(
                    cmd: $crate::Command,
                ) -> ::std::result::Result<$crate::Command, ::std::string::String> {
                    $crate::__private::pre_exec::<$plugin>(cmd)
                }
                fn on_exit(status: $crate::ExitStatus) -> $crate::ExitAction {
                    $crate::__private::on_exit::<$plugin>(status)
                }
                fn on_signal(signal: u8) -> $crate::SignalAction {
                    $crate::__private::on_signal::<$plugin>(signal)
                }
            }
            $crate::__private::bindings::__hookinit_export_world!(HookinitExports);
        };
    };
}

/// Implementation details of [`export_plugin!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    use std::any::Any;
    use std::cell::RefCell;

    pub use wit_bindgen;

    #[allow(missing_docs, clippy::all)]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "../wit",
            world: "plugin",
            pub_export_macro: true,
            export_macro_name: "__hookinit_export_world",
            default_bindings_module: "::hookinit_sdk::__private::bindings",
            runtime_path: "::hookinit_sdk::__private::wit_bindgen::rt",
            bitflags_path: "::hookinit_sdk::__private::wit_bindgen::rt::bitflags",
            additional_derives: [PartialEq, Eq],
        });
    }

    use crate::{Command, Config, ExitAction, ExitStatus, Hooks, Plugin, Signal, SignalAction};

    thread_local! {
        /// The plugin value, built in `init` and kept for every hook (a component instance is
        /// single-threaded and never re-entered).
        static PLUGIN: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    }

    fn with<P: Plugin, R>(f: impl FnOnce(&mut P) -> R) -> R {
        PLUGIN.with(|slot| {
            let mut slot = slot.borrow_mut();
            let plugin = slot
                .get_or_insert_with(|| Box::new(P::default()))
                .downcast_mut::<P>()
                .expect("one plugin type per component");
            f(plugin)
        })
    }

    pub fn init<P: Plugin>(config: Vec<(String, String)>) -> Result<Hooks, String> {
        install_panic_hook();
        PLUGIN.with(|slot| *slot.borrow_mut() = Some(Box::new(P::default())));
        with(|p: &mut P| p.init(&Config::new(config)))
    }

    pub fn pre_exec<P: Plugin>(cmd: Command) -> Result<Command, String> {
        with(|p: &mut P| p.pre_exec(cmd))
    }

    pub fn on_exit<P: Plugin>(status: ExitStatus) -> ExitAction {
        with(|p: &mut P| p.on_exit(status))
    }

    pub fn on_signal<P: Plugin>(signal: u8) -> SignalAction {
        with(|p: &mut P| p.on_signal(Signal(signal)))
    }

    /// A panic aborts the instance (a trap); hand its message to the host so that the trap is
    /// reported in one line with its reason, instead of a multi-line panic report on stderr.
    fn install_panic_hook() {
        std::panic::set_hook(Box::new(|info| {
            let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = info.payload().downcast_ref::<String>() {
                s.clone()
            } else {
                "Box<dyn Any>".to_string()
            };
            let reason = match info.location() {
                Some(at) => format!("panicked at {}:{}: {message}", at.file(), at.line()),
                None => format!("panicked: {message}"),
            };
            bindings::hookinit::plugin::log::set_trap_reason(&reason);
        }));
    }
}
