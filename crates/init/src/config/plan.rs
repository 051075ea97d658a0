//! The plan: everything hookinit will do, decided once before anything starts and never changed.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use hookinit_values::{HostGrant, HttpUrl, Sha256Pin, Source, SourceError};

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
    Url(HttpUrl),
}

impl PluginSource {
    /// An operator's plugin as written (`plugin=SOURCE`): a path or an http(s) URL.
    pub fn operator(text: &str) -> Result<PluginSource, String> {
        match text.parse::<Source>() {
            Ok(Source::Path(path)) => Ok(PluginSource::Path(path)),
            Ok(Source::Http(url)) => Ok(PluginSource::Url(url)),
            Ok(Source::File { .. }) | Err(SourceError::Scheme(_)) => {
                Err("a plugin comes from a path or an http:// or https:// URL".to_owned())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// The name a plugin gets when none is given: its file's name without the extension
    /// (`coredump` for `/debug/coredump.wasm` and `https://h/dl/coredump.wasm?v=2`).
    pub fn default_name(&self) -> String {
        let file = match self {
            PluginSource::Builtin(b) => return b.name().to_owned(),
            PluginSource::Path(path) => path.as_path(),
            PluginSource::Url(url) => Path::new(url.file_name()),
        };
        file.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "plugin".to_owned())
    }
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
/// The built-in plugins declare theirs here too ([`PluginSpec::builtin`]): the sandbox knows no
/// plugin by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// Directories the plugin may read (WASI preopens, read-only).
    pub read: Vec<PathBuf>,
    /// Directories the plugin may read and write (WASI preopens; also where host services may write).
    pub write: Vec<PathBuf>,
    /// Hosts the fetch service may reach for this plugin.
    pub fetch: Vec<HostGrant>,
    /// The main process's variables the plugin may see: a name (`HOME`), a prefix (`APP_*`), or
    /// every one (`*`).
    pub env: Vec<String>,
    /// A private scratch directory: made by the host (mode 0700, a fresh name under `$TMPDIR`,
    /// /tmp or /dev/shm), the plugin's `TMPDIR` (read-write), removed once the plugin is done with
    /// it (right after pre-exec if it is empty, else after the on-exit hooks or a failed start).
    pub scratch: bool,
    /// `process.resolve-executable` may read the `#!` line of any program, not only of those
    /// under a read or write grant.
    pub any_program: bool,
    /// Redirects of an allowed download may lead to any http(s) host (the operator's URL decides
    /// where it goes: GitHub's archive links redirect to another host).
    pub any_redirect: bool,
    /// The read and write grants are for the host services only (fetch, unpack, resolve), not
    /// WASI preopens, and may name files and paths not made yet (`dest=`).
    pub services_only: bool,
}

impl Grants {
    /// Whether the plugin may see the main process's variable `name`.
    pub fn sees_env(&self, name: &str) -> bool {
        self.env
            .iter()
            .any(|granted| match granted.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => granted == name,
            })
    }
}

/// One plugin to load, with its configuration and grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginSpec {
    /// Name used in log lines (`fstree`, `coredump`, ...).
    pub name: String,
    pub source: PluginSource,
    /// Expected sha256 of the component, required for URLs unless `allow_unpinned`.
    pub sha256: Option<Sha256Pin>,
    pub allow_unpinned: bool,
    /// Key/value configuration handed to the plugin's `init` (fstree: url, strip, sha256, dest...).
    pub config: Vec<(String, String)>,
    pub grants: Grants,
    /// The main process must not start unless this plugin loads and its pre-exec succeeds
    /// (fstree, whose files the program expects). Any other plugin that cannot be loaded is
    /// reported and left out.
    pub required: bool,
    /// Its pre-exec deadline, when not the default (fstree: downloads carry their own connect
    /// and total timeouts).
    pub pre_exec_deadline: Option<Duration>,
}

/// How long fstree's pre-exec may take: its download's own timeouts end it sooner.
const FSTREE_PRE_EXEC: Duration = Duration::from_secs(600);

impl PluginSpec {
    /// An operator's plugin: nothing granted, optional, default deadlines.
    pub fn operator(name: String, source: PluginSource) -> PluginSpec {
        PluginSpec {
            name,
            source,
            sha256: None,
            allow_unpinned: false,
            config: Vec::new(),
            grants: Grants::default(),
            required: false,
            pre_exec_deadline: None,
        }
    }

    /// A built-in plugin with its configuration, declaring what it needs as an operator's plugin
    /// would be granted it:
    /// - `verbose`: every variable (it logs them, secrets hidden), the `#!` line of any program
    ///   (a read-only preopen of `/` would show every file), a scratch directory for the
    ///   `BASH_ENV` file that gives bash run as root its `PS4`.
    /// - `fstree`: writes on `dest` (`/` by default); from an http(s) source, that host, redirects
    ///   anywhere and a scratch directory for the download; from a local one, a read on it. It is
    ///   required, and its pre-exec may take as long as its download.
    pub fn builtin(builtin: Builtin, config: Vec<(String, String)>) -> PluginSpec {
        let mut spec =
            PluginSpec::operator(builtin.name().to_owned(), PluginSource::Builtin(builtin));
        let grants = &mut spec.grants;
        grants.services_only = true;
        match builtin {
            Builtin::Verbose => {
                grants.env.push("*".to_owned());
                grants.any_program = true;
                grants.scratch = true;
            }
            Builtin::Fstree => {
                let get = |key: &str| {
                    config
                        .iter()
                        .rev()
                        .find(|(k, _)| k == key)
                        .map(|(_, v)| v.as_str())
                };
                grants.write.push(PathBuf::from(get("dest").unwrap_or("/")));
                // The source was parsed when the configuration was read; an unparsable one
                // here grants nothing, and fstree's own check says why.
                match get("source").map(str::parse::<Source>) {
                    Some(Ok(Source::Http(url))) => {
                        grants.fetch.push(HostGrant::for_url(&url));
                        grants.any_redirect = true;
                        grants.scratch = true;
                    }
                    Some(Ok(Source::Path(path) | Source::File { path, .. })) => {
                        grants.read.push(path)
                    }
                    Some(Err(_)) | None => {}
                }
                spec.required = true;
                spec.pre_exec_deadline = Some(FSTREE_PRE_EXEC);
            }
        }
        spec.config = config;
        spec
    }

    /// The URL this plugin would be fetched from without a pin and without the operator's
    /// leave (`unpinned`, `allow-unpinned`): such a plan is refused.
    pub fn unpinned_url(&self) -> Option<&HttpUrl> {
        match &self.source {
            PluginSource::Url(url) if self.sha256.is_none() && !self.allow_unpinned => Some(url),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> String {
        PluginSource::operator(text).unwrap().default_name()
    }

    #[test]
    fn plugin_names() {
        assert_eq!(name("/debug/coredump.wasm"), "coredump");
        assert_eq!(name("coredump.wasm"), "coredump");
        assert_eq!(name("/debug/x.tar.wasm"), "x.tar");
        assert_eq!(name("https://h/a/b/coredump.wasm?x=1#y"), "coredump");
        assert_eq!(name("https://h/a/b/coredump#frag.x"), "coredump");
        assert_eq!(name("https://h/dl/x,y.wasm?k=1,2"), "x,y");
        assert_eq!(name("https://h/"), "plugin");
        assert_eq!(name("https://h"), "plugin");
        assert_eq!(name("/"), "plugin");
        assert_eq!(
            PluginSource::Builtin(Builtin::Fstree).default_name(),
            "fstree"
        );
    }

    #[test]
    fn a_plugin_comes_from_a_path_or_an_http_url() {
        assert!(matches!(
            PluginSource::operator("HTTP://h/x.wasm"),
            Ok(PluginSource::Url(_))
        ));
        for refused in ["ftp://h/x.wasm", "file:///x.wasm"] {
            assert_eq!(
                PluginSource::operator(refused).unwrap_err(),
                "a plugin comes from a path or an http:// or https:// URL"
            );
        }
        assert!(
            PluginSource::operator("https://")
                .unwrap_err()
                .starts_with("not a valid URL")
        );
    }

    #[test]
    fn a_url_needs_a_pin_or_the_operators_leave() {
        let url = PluginSource::operator("https://h/p.wasm").unwrap();
        let mut spec = PluginSpec {
            source: url,
            ..PluginSpec::builtin(Builtin::Verbose, Vec::new())
        };
        assert_eq!(
            spec.unpinned_url().map(HttpUrl::as_str),
            Some("https://h/p.wasm")
        );
        spec.allow_unpinned = true;
        assert_eq!(spec.unpinned_url(), None);
        spec.allow_unpinned = false;
        spec.sha256 = Some(Sha256Pin::from_digest([0; 32]));
        assert_eq!(spec.unpinned_url(), None);
        spec.source = PluginSource::Path("/p.wasm".into());
        spec.sha256 = None;
        assert_eq!(spec.unpinned_url(), None);
    }
}
