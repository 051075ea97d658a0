//! The host functions plugins are linked with: hookinit's own imports, and the WASI 0.2
//! interfaces (sync flavour, gated by each store's WasiCtx) that the loaded plugins import.
//!
//! WASI is added interface by interface, only those some plugin imports, instead of all of it
//! up front (`wasmtime_wasi::p2::add_to_linker_sync`): registering every WASI function by name
//! was about a third of the plugin runtime's start-up work (docs/benchmarks.md), and a typical
//! plugin uses a dozen of the 27 interfaces. What a plugin can do does not change: an interface
//! this host does not offer fails to link, as it did before.

use std::collections::HashSet;

use wasmtime::Engine;
use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView as _};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView as _};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sockets, sync};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView as _};

use super::bindings::Plugin;
use super::host_api::State;

type Add = fn(&mut Linker<State>) -> wasmtime::Result<()>;

/// wasi:io's resources live in the store's resource table.
struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

fn table(state: &mut State) -> &mut ResourceTable {
    state.ctx().table
}

/// Every WASI 0.2 interface of `wasmtime_wasi::p2::add_to_linker_sync`, by name without the
/// version, with what adds it.
const WASI: &[(&str, Add)] = &[
    ("wasi:io/error", |l| {
        wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<_, HasIo>(l, table)
    }),
    ("wasi:io/poll", |l| {
        sync::io::poll::add_to_linker::<_, HasIo>(l, table)
    }),
    ("wasi:io/streams", |l| {
        sync::io::streams::add_to_linker::<_, HasIo>(l, table)
    }),
    ("wasi:clocks/wall-clock", |l| {
        clocks::wall_clock::add_to_linker::<_, WasiClocks>(l, State::clocks)
    }),
    ("wasi:clocks/monotonic-clock", |l| {
        clocks::monotonic_clock::add_to_linker::<_, WasiClocks>(l, State::clocks)
    }),
    ("wasi:filesystem/types", |l| {
        sync::filesystem::types::add_to_linker::<_, WasiFilesystem>(l, State::filesystem)
    }),
    ("wasi:filesystem/preopens", |l| {
        filesystem::preopens::add_to_linker::<_, WasiFilesystem>(l, State::filesystem)
    }),
    ("wasi:random/random", |l| {
        random::random::add_to_linker::<_, WasiRandom>(l, |s| s.ctx().ctx.random())
    }),
    ("wasi:random/insecure", |l| {
        random::insecure::add_to_linker::<_, WasiRandom>(l, |s| s.ctx().ctx.random())
    }),
    ("wasi:random/insecure-seed", |l| {
        random::insecure_seed::add_to_linker::<_, WasiRandom>(l, |s| s.ctx().ctx.random())
    }),
    ("wasi:cli/exit", |l| {
        cli::exit::add_to_linker::<_, WasiCli>(l, State::cli)
    }),
    ("wasi:cli/environment", |l| {
        cli::environment::add_to_linker::<_, WasiCli>(l, State::cli)
    }),
    ("wasi:cli/stdin", |l| {
        cli::stdin::add_to_linker::<_, WasiCli>(l, State::cli)
    }),
    ("wasi:cli/stdout", |l| {
        cli::stdout::add_to_linker::<_, WasiCli>(l, State::cli)
    }),
    ("wasi:cli/stderr", |l| {
        cli::stderr::add_to_linker::<_, WasiCli>(l, State::cli)
    }),
    ("wasi:cli/terminal-input", |l| {
        cli::terminal_input::add_to_linker::<_, WasiCli>(l, State::cli)
    }),
    ("wasi:cli/terminal-output", |l| {
        cli::terminal_output::add_to_linker::<_, WasiCli>(l, State::cli)
    }),
    ("wasi:cli/terminal-stdin", |l| {
        cli::terminal_stdin::add_to_linker::<_, WasiCli>(l, State::cli)
    }),
    ("wasi:cli/terminal-stdout", |l| {
        cli::terminal_stdout::add_to_linker::<_, WasiCli>(l, State::cli)
    }),
    ("wasi:cli/terminal-stderr", |l| {
        cli::terminal_stderr::add_to_linker::<_, WasiCli>(l, State::cli)
    }),
    ("wasi:sockets/tcp-create-socket", |l| {
        sockets::tcp_create_socket::add_to_linker::<_, WasiSockets>(l, State::sockets)
    }),
    ("wasi:sockets/instance-network", |l| {
        sockets::instance_network::add_to_linker::<_, WasiSockets>(l, State::sockets)
    }),
    ("wasi:sockets/network", |l| {
        sockets::network::add_to_linker::<_, WasiSockets>(l, &Default::default(), State::sockets)
    }),
    ("wasi:sockets/ip-name-lookup", |l| {
        sockets::ip_name_lookup::add_to_linker::<_, WasiSockets>(l, State::sockets)
    }),
    ("wasi:sockets/tcp", |l| {
        sync::sockets::tcp::add_to_linker::<_, WasiSockets>(l, State::sockets)
    }),
    ("wasi:sockets/udp", |l| {
        sync::sockets::udp::add_to_linker::<_, WasiSockets>(l, State::sockets)
    }),
    ("wasi:sockets/udp-create-socket", |l| {
        sync::sockets::udp_create_socket::add_to_linker::<_, WasiSockets>(l, State::sockets)
    }),
];

/// A linker that grows with the plugins it links.
pub struct HostLinker {
    linker: Linker<State>,
    added: HashSet<&'static str>,
}

impl HostLinker {
    /// hookinit's own imports (the `hookinit:plugin` world), and no WASI yet.
    pub fn new(engine: &Engine) -> wasmtime::Result<HostLinker> {
        let mut linker = Linker::new(engine);
        Plugin::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)?;
        Ok(HostLinker {
            linker,
            added: HashSet::new(),
        })
    }

    /// The linker, with every WASI interface among `imports` (a component's import names, as
    /// `ComponentInfo` lists them) added; imports that are not WASI 0.2 are left for
    /// instantiation to report.
    pub fn with_imports<'a>(
        &mut self,
        imports: impl IntoIterator<Item = &'a str>,
    ) -> wasmtime::Result<&Linker<State>> {
        for name in imports {
            let interface = name.split('@').next().unwrap_or(name);
            if let Some(&(known, add)) = WASI.iter().find(|(n, _)| *n == interface)
                && self.added.insert(known)
            {
                add(&mut self.linker)?;
            }
        }
        Ok(&self.linker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adding every interface in the table gives what wasmtime_wasi's own function gives: the
    /// table misses none and adds nothing twice (the linker refuses a second definition).
    #[test]
    fn the_table_is_all_of_wasi_p2_once() {
        let engine = Engine::new(&super::super::engine::config()).unwrap();
        let mut ours: Linker<State> = Linker::new(&engine);
        for (_, add) in WASI {
            add(&mut ours).unwrap();
        }
        let mut theirs: Linker<State> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut theirs).unwrap();
        // Adding wasmtime_wasi's set on top of ours must collide on every interface: a
        // definition ours lacks would be accepted silently, so count collisions instead.
        let mut names: Vec<&str> = WASI.iter().map(|(n, _)| *n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), WASI.len(), "an interface is listed twice");
        assert_eq!(WASI.len(), 27);
        for (name, add) in WASI {
            assert!(
                add(&mut theirs).is_err(),
                "{name} is not part of wasmtime_wasi::p2::add_to_linker_sync"
            );
        }
    }
}
