//! The command line: `hookinit [OPTIONS] [--] PROGRAM [ARGS...]`.
//!
//! Every option can also be set from the environment (as tini's `TINI_*`) or from
//! `/etc/hookinit.toml`; precedence is flags > environment > file.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgAction, Parser};

const AFTER_HELP: &str = "\
Environment (each overridden by the flag of the same meaning):
  HOOKINIT_DEBUG, DEBUG      debug options, e.g. verbose,stayalive,fstree=URL,plugin=PATH
                             (HOOKINIT_DEBUG wins and leaves DEBUG to your application)
  HOOKINIT_VERBOSITY=N       like -v: 0 errors, 1 warnings (default), 2 lifecycle, 3 debug
  HOOKINIT_KILL_PROCESS_GROUP=1   like -g
  HOOKINIT_REMAP_EXIT=143,130     like -e, comma-separated
  HOOKINIT_PDEATHSIG=SIG          like -p
  HOOKINIT_SUBREAPER=1            like -s
  HOOKINIT_REWRITE=TERM:QUIT,USR1:0   like -r, comma-separated
  HOOKINIT_GRACE=2s          grace between SIGTERM and SIGKILL for the main process's group
  HOOKINIT_CONFIG=PATH       configuration file (default /etc/hookinit.toml, optional)
  HOOKINIT_CACHE_DIR=DIR     where compiled plugins are cached (default /tmp/hookinit-cache)
  HOOKINIT_RUN_DIR=DIR       where stayalive writes `env` for exec'd shells (default /run/hookinit)
  HOOKINIT_TERMINATION_LOG=PATH   failure reason for Kubernetes (default /dev/termination-log,
                             written only if it exists)

DEBUG options (comma-separated; see README for sub-options and grants):
  verbose            trace entrypoint scripts (set -x) and every lifecycle step
  stayalive[=always|=DURATION]   stay up after the main process fails, for `docker exec`
  fstree=URL[,strip=N][,sha256=HEX][,dest=DIR]   unpack a tar/zip over / before starting
  plugin=PATH|URL[,read=DIR][,write=DIR][,fetch=HOST][,env=NAME][,sha256=HEX]

Exit status: the main process's, or 128+N when signal N killed it; 127 when PROGRAM is not
found, 126 when it cannot be executed, 2 for a usage or configuration error.

Subcommands: `hookinit plugin compile|inspect|check FILE` (run `hookinit plugin --help`).";

/// A container init (PID 1) that makes start-up failures debuggable.
///
/// Runs PROGRAM as the main process, forwards signals to it, reaps zombies and exits with its
/// status. With DEBUG=stayalive it stays up after a crash so that you can `docker exec` in.
#[derive(Debug, Default, Parser)]
#[command(name = "hookinit", version, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    /// Forward signals to the main process's whole process group, not only to the process
    /// (reaches grandchildren behind a shell).
    #[arg(short = 'g', long = "process-group")]
    pub process_group: bool,

    /// Report exit status CODE as 0 (repeatable), e.g. `-e 143` for a stopped Java program.
    #[arg(short = 'e', long = "remap-exit", value_name = "CODE")]
    pub remap_exit: Vec<u8>,

    /// Ask the kernel to send SIG to hookinit when its parent dies (forwarded like any signal).
    #[arg(short = 'p', long = "pdeathsig", value_name = "SIG")]
    pub pdeathsig: Option<String>,

    /// Register as a child subreaper. Automatic when hookinit is not PID 1; accepted for tini
    /// compatibility.
    #[arg(short = 's', long = "subreaper")]
    pub subreaper: bool,

    /// Rewrite signal FROM to TO before forwarding it (repeatable); TO=0 drops FROM.
    #[arg(short = 'r', long = "rewrite", value_name = "FROM:TO")]
    pub rewrite: Vec<String>,

    /// More output: -v lifecycle events, -vv debugging detail.
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,

    /// Grace period between SIGTERM and SIGKILL for what is left of the main process's group.
    #[arg(long, value_name = "DURATION")]
    pub grace: Option<String>,

    /// Debug options, same grammar as DEBUG (overrides HOOKINIT_DEBUG and DEBUG).
    #[arg(long, value_name = "OPTIONS")]
    pub debug: Option<String>,

    /// Configuration file (default: $HOOKINIT_CONFIG, else /etc/hookinit.toml if it exists).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// The main process and its arguments.
    #[arg(
        value_name = "PROGRAM",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<OsString>,
}
