//! The plan: everything hookinit will do, decided once before anything starts and never changed.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use hookinit_values::HostGrant;

/// The immutable result of reading flags, the environment and the configuration file.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// PROGRAM and its arguments.
    pub command: Vec<OsString>,
    /// 0 errors, 1 warnings (default), 2 info, 3 debug.
    pub verbosity: u8,
    /// DEBUG=verbose: log lines carry timestamps (a trace of every lifecycle step).
    pub trace: bool,
    /// `-g`: forward signals to the main process's whole process group.
    pub process_group: bool,
    /// `-e CODE`: exit statuses reported as 0.
    pub remap_exit: Vec<u8>,
    /// `-p SIG`: signal hookinit asks to receive when its parent dies.
    pub pdeathsig: Option<Signal>,
    /// `-r FROM:TO`: signals rewritten before forwarding; `None` drops the signal.
    pub rewrite: BTreeMap<Signal, Option<Signal>>,
    /// `-s`: register as a child subreaper (automatic when not PID 1).
    pub subreaper: bool,
    /// How long what is left of the main process's group gets between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Stay up after the main process fails, for `docker exec`.
    pub stayalive: Option<StayAlive>,
    /// Plugins in the order their hooks run (DEBUG order, then the configuration file's).
    pub plugins: Vec<PluginSpec>,
    /// hookinit's run directory (`HOOKINIT_RUN_DIR`): stayalive's `env`, the ctl socket.
    pub run_dir: PathBuf,
    /// Kubernetes' termination message file (`HOOKINIT_TERMINATION_LOG`), written if it exists.
    pub termination_log: PathBuf,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            command: Vec::new(),
            verbosity: 1,
            trace: false,
            process_group: false,
            remap_exit: Vec::new(),
            pdeathsig: None,
            rewrite: BTreeMap::new(),
            subreaper: false,
            grace: Duration::from_secs(2),
            stayalive: None,
            plugins: Vec::new(),
            run_dir: PathBuf::from(crate::run_dir::DEFAULT),
            termination_log: PathBuf::from("/dev/termination-log"),
        }
    }
}

impl Plan {
    /// Where stayalive writes the main process's environment for exec'd shells.
    pub fn env_file(&self) -> PathBuf {
        self.run_dir.join("env")
    }

    /// One line for the lifecycle trace: what hookinit is about to do.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!(
            "signals to the main {}",
            if self.process_group {
                "process group"
            } else {
                "process"
            }
        )];
        if !self.rewrite.is_empty() {
            let rules: Vec<String> = self
                .rewrite
                .iter()
                .map(|(from, to)| format!("{}:{}", from.as_str(), to.map_or("0", |t| t.as_str())))
                .collect();
            parts.push(format!("rewrite {}", rules.join(",")));
        }
        if !self.remap_exit.is_empty() {
            parts.push(format!("remap {:?} to 0", self.remap_exit));
        }
        parts.push(format!("grace {}", humantime::format_duration(self.grace)));
        parts.push(match &self.stayalive {
            None => "no stayalive".to_string(),
            Some(s) => format!(
                "stayalive{}{}",
                if s.after_success {
                    " always"
                } else {
                    " after a failure"
                },
                s.limit
                    .map(|l| format!(" for {}", humantime::format_duration(l)))
                    .unwrap_or_default()
            ),
        });
        if self.plugins.is_empty() {
            parts.push("no plugins".to_string());
        } else {
            let names: Vec<&str> = self.plugins.iter().map(|p| p.name.as_str()).collect();
            parts.push(format!("plugins {}", names.join(", ")));
        }
        format!("plan: {}", parts.join("; "))
    }
}

/// `stayalive`, `stayalive=always`, `stayalive=DURATION`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StayAlive {
    /// Stay after a successful exit too (`stayalive=always`).
    pub after_success: bool,
    /// End the stay after this long (`stayalive=10m`); `None` stays until SIGTERM/SIGINT.
    pub limit: Option<Duration>,
}

/// Where a plugin's code comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginSource {
    /// One of the plugins embedded in the binary.
    Builtin(Builtin),
    /// A component file on disk (`plugin=/debug/x.wasm`).
    Path(PathBuf),
    /// A component fetched at start (`plugin=https://...`), pinned by `sha256`.
    Url(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    Verbose,
    Fstree,
}

impl Builtin {
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Verbose => "verbose",
            Builtin::Fstree => "fstree",
        }
    }
}

/// Capabilities an operator grants a plugin. Deny by default: an empty `Grants` gives nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// Directories the plugin may read (WASI preopens, read-only).
    pub read: Vec<PathBuf>,
    /// Directories the plugin may read and write (WASI preopens; also where host services may write).
    pub write: Vec<PathBuf>,
    /// Hosts the fetch service may reach for this plugin.
    pub fetch: Vec<HostGrant>,
    /// Names of environment variables the plugin may see.
    pub env: Vec<String>,
}

/// One plugin to load, with its configuration and grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginSpec {
    /// Name used in log lines (`fstree`, `coredump`, ...).
    pub name: String,
    pub source: PluginSource,
    /// Expected sha256 of the component (hex), required for URLs unless `allow_unpinned`.
    pub sha256: Option<String>,
    pub allow_unpinned: bool,
    /// Key/value configuration handed to the plugin's `init` (fstree: url, strip, sha256, dest...).
    pub config: Vec<(String, String)>,
    pub grants: Grants,
}

impl PluginSpec {
    /// A built-in plugin with its configuration; its fixed grants are the runtime's business.
    pub fn builtin(builtin: Builtin, config: Vec<(String, String)>) -> PluginSpec {
        PluginSpec {
            name: builtin.name().to_string(),
            source: PluginSource::Builtin(builtin),
            sha256: None,
            allow_unpinned: false,
            config,
            grants: Grants::default(),
        }
    }

    /// Whether the main process must not start without this plugin's pre-exec: fstree, whose
    /// files the program expects. Any other plugin that cannot be loaded is reported and left
    /// out.
    pub fn start_depends_on_it(&self) -> bool {
        self.source == PluginSource::Builtin(Builtin::Fstree)
    }
}
