//! Starting the main process: its own process group, the terminal handed to it, and the signal
//! state hookinit was given restored before exec.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use nix::sys::resource::{Resource, setrlimit};
use nix::unistd::Pid;

use crate::plugin_process::{CommandSpec, ResourceLimit, RlimitResource};
use crate::signals::takeover::ChildRestore;

/// What to run as the main process, after pre-exec hooks had their say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MainCommand {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// `None` passes hookinit's own environment through unchanged.
    pub env: Option<Vec<(OsString, OsString)>>,
    /// `None` keeps hookinit's working directory.
    pub cwd: Option<PathBuf>,
    /// Resource limits set by pre-exec hooks, applied in the child before exec.
    pub limits: Vec<ResourceLimit>,
}

impl From<CommandSpec> for MainCommand {
    fn from(spec: CommandSpec) -> MainCommand {
        MainCommand {
            program: spec.program,
            args: spec.args,
            env: Some(spec.env),
            cwd: Some(spec.cwd),
            limits: spec.limits,
        }
    }
}

impl MainCommand {
    /// `argv[0]` and the rest, as given on hookinit's command line.
    pub fn from_argv(argv: &[OsString]) -> Option<MainCommand> {
        let (program, args) = argv.split_first()?;
        Some(MainCommand {
            program: program.clone(),
            args: args.to_vec(),
            ..MainCommand::default()
        })
    }

    pub fn display_program(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }
}

/// The main process could not be started. Exit statuses follow the shell's (and tini's) contract:
/// 127 when the program is not found, 126 when it exists but cannot be executed.
#[derive(Debug, thiserror::Error)]
#[error("cannot run `{program}`: {}", describe(.source))]
pub struct SpawnError {
    pub program: String,
    #[source]
    pub source: io::Error,
}

impl SpawnError {
    pub fn exit_code(&self) -> i32 {
        match self.source.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => 127,
            _ => 126,
        }
    }
}

fn describe(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(libc::ENOENT) => "not found (check the name, $PATH, and a script's #! line)".into(),
        Some(libc::EACCES) => "permission denied (is it executable, and not a directory?)".into(),
        Some(libc::ENOEXEC) => "not an executable format (a script without a #! line?)".into(),
        _ => err.to_string(),
    }
}

/// The resource and its (soft, hard) values; `u64::MAX` is unlimited.
fn rlimit(limit: &ResourceLimit) -> (Resource, libc::rlim_t, libc::rlim_t) {
    let resource = match limit.resource {
        RlimitResource::Core => Resource::RLIMIT_CORE,
        RlimitResource::Nofile => Resource::RLIMIT_NOFILE,
        RlimitResource::Nproc => Resource::RLIMIT_NPROC,
        RlimitResource::Stack => Resource::RLIMIT_STACK,
        RlimitResource::Memlock => Resource::RLIMIT_MEMLOCK,
    };
    let value = |v: u64| {
        if v == u64::MAX {
            libc::RLIM_INFINITY
        } else {
            v as libc::rlim_t
        }
    };
    (resource, value(limit.soft), value(limit.hard))
}

/// Forks and execs the main process. Returns once exec has succeeded (std reports exec failures
/// back through a close-on-exec pipe), so the child is already in its own process group.
pub fn spawn(cmd: &MainCommand, restore: ChildRestore) -> Result<Pid, SpawnError> {
    let mut command = Command::new(&cmd.program);
    command.args(&cmd.args).process_group(0);
    if let Some(env) = &cmd.env {
        command.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    }
    if let Some(cwd) = &cmd.cwd {
        command.current_dir(cwd);
    }
    let limits: Vec<(Resource, libc::rlim_t, libc::rlim_t)> =
        cmd.limits.iter().map(rlimit).collect();
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe calls
    // (getpid, tcsetpgrp, setrlimit, sigaction, sigprocmask); it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            for &(resource, soft, hard) in &limits {
                setrlimit(resource, soft, hard)?;
            }
            // Take the terminal's foreground so that `docker run -it` job control and Ctrl-C reach
            // the main process. SIGTTOU is still ignored here (inherited from PID 1), so a
            // background child may do this; without a terminal it fails with ENOTTY, harmlessly.
            libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpid());
            restore.apply()
        });
    }
    match command.spawn() {
        Ok(child) => Ok(Pid::from_raw(child.id() as i32)),
        Err(source) => Err(SpawnError {
            program: cmd.display_program(),
            source,
        }),
    }
}

/// Makes PID 1's own group the terminal's foreground again (the main process had it), so that
/// Ctrl-C on a `docker run -it` terminal reaches hookinit while it stays. SIGTTOU is ignored by
/// PID 1, so a background caller may do this.
pub fn take_terminal_back() {
    // SAFETY: isatty, getpgrp, setpgid and tcsetpgrp on our own stdin and process group.
    unsafe {
        if libc::isatty(libc::STDIN_FILENO) != 1 {
            return;
        }
        // A group outside our PID namespace (`unshare --pid --fork` leaves PID 1 in its
        // parent's) reads as 0 here and cannot be named: PID 1 takes a group of its own.
        if libc::getpgrp() == 0 {
            libc::setpgid(0, 0);
        }
        libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpgrp());
    }
}
