//! Plugins through the real binary as PID 1: each hook's effect on the container, and hostile
//! plugins that must not take PID 1 or the main process down (one line each, right status,
//! signals still delivered).

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use hookinit_test_http::{HttpServer, Reply};

fn wasm(name: &str) -> String {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        build_plugins(&[
            "hookinit-test-behave",
            "hookinit-test-wit-v1",
            "sigguard",
            "coredump",
        ])
    });
    dir.join(format!("{name}.wasm"))
        .to_str()
        .unwrap()
        .to_string()
}

/// hookinit with DEBUG set, the test cache, in `mode`.
fn with_debug(mode: Mode, debug: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = command(mode, args);
    cmd.env("DEBUG", debug)
        .env("HOOKINIT_CACHE_DIR", plugin_cache());
    cmd
}

fn behave(config: &str) -> String {
    format!("plugin={},{config}", wasm("hookinit_test_behave"))
}

/// What the behave plugin's failures are reported as (one line each).
const BEHAVE_FAILURE: &str = "plugin hookinit_test_behave";

/// hookinit as PID 1 (with `flags` and DEBUG=`debug`) running the Python `program` (a
/// [`signal_printer`]), once the program says it is ready.
fn start_python(debug: &str, flags: &[&str], program: &str) -> Running {
    let mut args = flags.to_vec();
    args.extend(["--", PYTHON, "-c", program]);
    let mut r = start(with_debug(Mode::Pid1, debug, &args), Mode::Pid1);
    r.expect_stdout("ready");
    r
}

#[test]
fn pre_exec_edits_reach_the_main_process() {
    let debug = behave("config.hooks=pre-exec,config.pre-exec=set-env:GREETING=hello");
    let mut r = start(
        with_debug(
            Mode::Pid1,
            &debug,
            &["--", "sh", "-c", "printf '%s\\n' \"$GREETING\""],
        ),
        Mode::Pid1,
    );
    r.expect_stdout("hello");
    assert_eq!(r.wait().code(), 0);
}

#[test]
fn on_exit_can_choose_the_exit_status_or_stay() {
    let debug = behave("config.hooks=on-exit,config.on-exit=exit:7");
    let done = start(with_debug(Mode::Pid1, &debug, &["--", "true"]), Mode::Pid1).wait();
    assert_eq!(done.code(), 7, "{}", done.stderr_text());

    let debug = behave("config.hooks=on-exit,config.on-exit=stay");
    let mut r = start(
        with_debug(Mode::Pid1, &debug, &["--", "sh", "-c", "exit 5"]),
        Mode::Pid1,
    );
    r.expect_stderr("docker exec");
    r.signal(libc::SIGTERM);
    assert_eq!(r.wait().code(), 5);
}

#[test]
fn on_signal_can_rewrite_and_drop() {
    let printer = signal_printer(&["USR1", "HUP"]);
    // TERM (15) forwarded as USR1 (10).
    let debug = behave("config.hooks=on-signal,config.on-signal=as:10");
    let mut r = start_python(&debug, &[], &printer);
    r.signal(libc::SIGTERM);
    r.expect_stdout("SIGUSR1");
    // Every signal is rewritten to USR1, so the printer is ended directly.
    let host_pid = wait_for_main_process(r.pid());
    // SAFETY: kill(2) to a process this test started.
    unsafe { libc::kill(host_pid, libc::SIGUSR2) };
    assert_eq!(r.wait().code(), 0);

    // ignore: HUP never arrives; then the printer is ended directly.
    let debug = behave("config.hooks=on-signal,config.on-signal=ignore");
    let mut r = start_python(&debug, &["-v"], &printer);
    r.signal(libc::SIGHUP);
    r.expect_stderr("dropped by an on-signal hook");
    let host_pid = wait_for_main_process(r.pid());
    // SAFETY: kill(2) to a process this test started.
    unsafe { libc::kill(host_pid, libc::SIGUSR2) };
    let done = r.wait();
    assert_eq!(done.code(), 0, "{}", done.stderr_text());
    assert!(
        !done.stdout.iter().any(|l| l == "SIGHUP"),
        "{:?}",
        done.stdout
    );
}

#[test]
fn a_plugin_spinning_in_on_signal_does_not_stop_term() {
    let printer = signal_printer(&[]);
    let debug = behave("config.hooks=on-signal,config.on-signal=loop");
    let mut r = start_python(&debug, &[], &printer);
    let sent = Instant::now();
    r.signal(libc::SIGTERM);
    let done = r.wait();
    let took = sent.elapsed();
    assert_eq!(done.code(), 143, "{}", done.stderr_text());
    assert!(
        took < Duration::from_secs(2),
        "TERM took {took:?} to reach the main process"
    );
    let lines = done.stderr_lines_with(BEHAVE_FAILURE);
    assert_eq!(lines.len(), 1, "{:?}", done.stderr);
    assert!(lines[0].contains("on-signal"), "{lines:?}");
}

/// The plugin runtime lives in a process of its own: when it dies (killed here the way the
/// kernel's OOM killer would; a panic in the shipped build aborts it the same way), PID 1 says so
/// in one line and carries on: signals the plugin dropped reach the main process again, and the
/// exit status is the main process's.
#[test]
fn a_dead_plugin_process_leaves_pid1_and_signals_working() {
    let printer = signal_printer(&["USR1"]);
    let debug =
        behave("config.hooks=on-signal,on-exit,config.on-signal=ignore,config.on-exit=exit:9");
    let mut r = start_python(&debug, &["-v"], &printer);
    r.signal(libc::SIGUSR1);
    r.expect_stderr("dropped by an on-signal hook");
    let plugins = wait_for_named_child(r.pid(), PLUGIN_PROCESS);
    // SAFETY: kill(2) to hookinit's child; it cannot be reaped (and its pid reused) before
    // hookinit notices, which is what this test waits for.
    assert_eq!(unsafe { libc::kill(plugins, libc::SIGKILL) }, 0);
    // Its pid in that line is the one in hookinit's PID namespace.
    let reaped = r.expect_stderr("was killed by SIGKILL");
    assert!(reaped.contains("plugin process"), "{reaped}");
    r.signal(libc::SIGUSR1);
    r.expect_stdout("SIGUSR1");
    r.signal(libc::SIGUSR2);
    let done = r.wait();
    // The on-exit hook (exit:9) is gone with the process: the main process's status stands.
    assert_eq!(done.code(), 0, "{}", done.stderr_text());
    // The death is one line (issue 17): the reaper's, with the cause.
    let lost = done.stderr_lines_with("plugins are off");
    assert_eq!(lost.len(), 1, "{:?}", done.stderr);
    assert_eq!(
        done.stderr_lines_with("plugin process").len(),
        1,
        "{:?}",
        done.stderr
    );
}

/// A request the plugin process owed when it died is answered for it: a pre-exec that did not
/// run to the end fails the start (what it was to prepare may be half done).
#[test]
fn a_plugin_process_dying_in_pre_exec_fails_the_start() {
    let dir = tempdir();
    let marker = dir.path().join("ran");
    let script = format!("touch {}", marker.display());
    let done = kill_the_plugin_process_when_it_connects(&script, |url| {
        behave(&format!(
            "fetch=127.0.0.1,write=/tmp,config.hooks=pre-exec,config.pre-exec=fetch:{url}"
        ))
    });
    assert_eq!(done.code(), 2, "{}", done.stderr_text());
    assert!(!marker.exists(), "the main process ran");
    let lines = done.stderr_lines_with("not run to the end: the plugin process ended");
    assert!(!lines.is_empty(), "{:?}", done.stderr);
}

/// The plugin process killed before the runtime has started (a plugin's init waits on a
/// loopback server that never answers): with fstree planned, the main process does not start
/// unpatched; without it, it starts without plugins. One line says which.
#[test]
fn a_plugin_process_dying_while_starting_stops_a_start_that_needs_fstree() {
    let dir = tempdir();
    let marker = dir.path().join("ran");
    let script = format!("touch {}", marker.display());
    std::fs::write(dir.path().join("fix"), "patched").unwrap();
    let archive = dir.path().join("fix.tar.gz");
    let tar = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .arg("fix")
        .status()
        .expect("tar runs");
    assert!(tar.success());
    let dest = dir.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    for with_fstree in [true, false] {
        let done = kill_the_plugin_process_when_it_connects(&script, |url| {
            let mut debug = behave(&format!(
                "fetch=127.0.0.1,write=/tmp,config.init=fetch:{url}"
            ));
            if with_fstree {
                debug += &format!(",fstree={},dest={}", archive.display(), dest.display());
            }
            debug
        });
        // One line, naming how the process ended when the reaper saw it first.
        let lines = done.stderr_lines_with("while starting");
        assert_eq!(lines.len(), 1, "{:?}", done.stderr);
        let line = &lines[0];
        assert!(
            line.contains("the plugin process ended while starting")
                || line.contains(
                    "the plugin process was killed by SIGKILL (status 137) while starting"
                ),
            "{line}"
        );
        assert!(
            done.stderr_lines_with("plugins are off").is_empty(),
            "{:?}",
            done.stderr
        );
        if with_fstree {
            assert_eq!(done.code(), 2, "{}", done.stderr_text());
            assert!(!marker.exists(), "the main process ran unpatched");
            assert!(!dest.join("fix").exists(), "fstree ran");
            assert!(
                line.contains("plugin fstree: could not be loaded: "),
                "{line}"
            );
            assert!(line.ends_with("the main process was not started"), "{line}");
        } else {
            assert_eq!(done.code(), 0, "{}", done.stderr_text());
            assert!(marker.exists(), "the main process did not run");
            assert!(line.ends_with("; continuing without plugins"), "{line}");
        }
        std::fs::remove_file(&marker).ok();
    }
}

#[test]
fn a_failing_pre_exec_stops_the_start_in_one_line() {
    let dir = tempdir();
    let marker = dir.path().join("ran");
    let script = format!("touch {}", marker.display());
    for action in ["fail:config is missing", "trap", "panic", "bomb"] {
        let debug = behave(&format!("config.hooks=pre-exec,config.pre-exec={action}"));
        let done = start(
            with_debug(Mode::Pid1, &debug, &["--", "sh", "-c", &script]),
            Mode::Pid1,
        )
        .wait();
        assert_eq!(done.code(), 2, "{action}: {}", done.stderr_text());
        assert!(!marker.exists(), "{action}: the main process ran");
        let lines = done.stderr_lines_with(BEHAVE_FAILURE);
        assert!(
            !lines.is_empty() && lines.iter().all(|l| l.contains("pre-exec")),
            "{action}: {:?}",
            done.stderr
        );
    }
    // Under stayalive the container stays up to be looked at, and ends with status 2.
    let debug = format!(
        "stayalive,{}",
        behave("config.hooks=pre-exec,config.pre-exec=fail:nope")
    );
    let mut r = start(with_debug(Mode::Pid1, &debug, &["--", "true"]), Mode::Pid1);
    r.expect_stderr("was not started");
    r.expect_stderr("docker exec");
    r.signal(libc::SIGTERM);
    assert_eq!(r.wait().code(), 2);
}

#[test]
fn hostile_on_exit_hooks_leave_the_status_right() {
    for action in ["trap", "panic", "bomb", "stack", "flood"] {
        let debug = behave(&format!("config.hooks=on-exit,config.on-exit={action}"));
        let started = Instant::now();
        let done = start(
            with_debug(Mode::Pid1, &debug, &["--", "sh", "-c", "exit 3"]),
            Mode::Pid1,
        )
        .wait();
        assert_eq!(done.code(), 3, "{action}: {}", done.stderr_text());
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{action}: too slow"
        );
        if action != "flood" {
            let lines = done.stderr_lines_with(BEHAVE_FAILURE);
            assert_eq!(lines.len(), 1, "{action}: {:?}", done.stderr);
            assert!(lines[0].contains("on-exit"), "{action}: {lines:?}");
        }
    }
}

#[test]
fn broken_plugins_at_start_are_reported_and_the_container_runs() {
    // A component built against another major version of the WIT interface.
    let debug = format!("plugin={}", wasm("hookinit_test_wit_v1"));
    let done = start(
        with_debug(Mode::Pid1, &debug, &["--", "sh", "-c", "exit 4"]),
        Mode::Pid1,
    )
    .wait();
    assert_eq!(done.code(), 4);
    let lines = done.stderr_lines_with("hookinit_test_wit_v1");
    assert_eq!(lines.len(), 1, "{:?}", done.stderr);

    // A file that is not a component at all.
    let dir = tempdir();
    let bogus = dir.path().join("bogus.wasm");
    std::fs::write(&bogus, b"not wasm").unwrap();
    let debug = format!("plugin={}", bogus.display());
    let done = start(
        with_debug(Mode::Pid1, &debug, &["--", "sh", "-c", "exit 4"]),
        Mode::Pid1,
    )
    .wait();
    assert_eq!(done.code(), 4);
    assert_eq!(
        done.stderr_lines_with("bogus").len(),
        1,
        "{:?}",
        done.stderr
    );

    // A plugin whose init fails.
    let debug = behave("config.init=fail:bad configuration");
    let done = start(
        with_debug(Mode::Pid1, &debug, &["--", "sh", "-c", "exit 4"]),
        Mode::Pid1,
    )
    .wait();
    assert_eq!(done.code(), 4);
    assert_eq!(
        done.stderr_lines_with(BEHAVE_FAILURE).len(),
        1,
        "{:?}",
        done.stderr
    );
}

#[test]
fn sigguard_drops_what_the_main_process_does_not_catch() {
    // SIGHUP at its default: a runner started under nohup would hand down SIG_IGN, which the
    // main process inherits, and sigguard rightly forwards what the process ignores anyway.
    let printer = format!(
        "import signal\nsignal.signal(signal.SIGHUP, signal.SIG_DFL)\n{}",
        signal_printer(&["USR1"])
    );
    let debug = format!("plugin={}", wasm("sigguard"));
    let mut r = start_python(&debug, &["-v"], &printer);
    r.signal(libc::SIGHUP); // not caught: dropped, as PID 1 semantics would
    r.expect_stderr("dropping SIGHUP");
    r.signal(libc::SIGUSR1); // caught: forwarded
    r.expect_stdout("SIGUSR1");
    r.signal(libc::SIGUSR2); // the printer's stopper, caught: forwarded, it exits 0
    assert_eq!(r.wait().code(), 0);
}

/// Runs `sh -c script` under hookinit as PID 1 with the DEBUG value `debug(url)`, where `url` is
/// a loopback server that never answers, and SIGKILLs the plugin process once a plugin has
/// asked it: the request says the plugin is at the point the test is about.
fn kill_the_plugin_process_when_it_connects(
    script: &str,
    debug: impl FnOnce(&str) -> String,
) -> Finished {
    let server = HttpServer::start();
    let url = server.route("/x", Reply::silence());
    let debug = debug(&url);
    let mut r = start(
        with_debug(Mode::Pid1, &debug, &["--", "sh", "-c", script]),
        Mode::Pid1,
    );
    server.wait_for_requests(1, DEADLINE);
    let plugins = wait_for_named_child(r.pid(), PLUGIN_PROCESS);
    // SAFETY: kill(2) to hookinit's child, which hookinit cannot reap before it has ended.
    assert_eq!(unsafe { libc::kill(plugins, libc::SIGKILL) }, 0);
    r.wait()
}

/// `docker stop` (SIGTERM to PID 1) while the plugin process downloads a plugin from a server
/// that never answers: PID 1 answers at once (143, the main process never started), and the
/// plugin process goes with it.
#[test]
fn a_stop_while_a_plugin_download_stalls_ends_hookinit_within_a_second() {
    let dir = tempdir();
    let marker = dir.path().join("ran");
    let script = format!("touch {}", marker.display());
    let server = HttpServer::start();
    let debug = format!(
        "plugin={},unpinned",
        server.route("/p.wasm", Reply::silence())
    );
    let r = start(
        with_debug(Mode::Pid1, &debug, &["--", "sh", "-c", &script]),
        Mode::Pid1,
    );
    server.wait_for_requests(1, DEADLINE);
    let done = stop_within_a_second(r);
    assert_eq!(done.code(), 143, "{}", done.stderr_text());
    assert!(!marker.exists(), "the main process ran");
    let lines = done.stderr_lines_with("SIGTERM received while the plugins were starting");
    assert_eq!(lines.len(), 1, "{:?}", done.stderr);
}

/// SIGTERM while a pre-exec hook spins (its own deadline is 30 s): PID 1 ends the start at once.
#[test]
fn a_stop_while_a_hook_spins_ends_hookinit_within_a_second() {
    let dir = tempdir();
    let marker = dir.path().join("ran");
    let script = format!("touch {}", marker.display());
    let debug = behave("config.hooks=pre-exec,config.pre-exec=loop");
    let mut r = start(
        with_debug(Mode::Pid1, &debug, &["-v", "--", "sh", "-c", &script]),
        Mode::Pid1,
    );
    // Loaded: the pre-exec hook is asked next (a SIGTERM sent sooner waits in the signalfd).
    r.expect_stderr(BEHAVE_FAILURE);
    let done = stop_within_a_second(r);
    assert_eq!(done.code(), 143, "{}", done.stderr_text());
    assert!(!marker.exists(), "the main process ran");
}

/// A configuration file that is a fifo would block PID 1 in open(2) forever: it is refused at
/// once, in one line, before anything starts.
#[test]
fn a_fifo_as_the_configuration_file_is_refused_at_once() {
    let dir = tempdir();
    let fifo = dir.path().join("hookinit.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let mut cmd = command(Mode::Pid1, &["--", "true"]);
    cmd.env("HOOKINIT_CONFIG", &fifo);
    let asked = Instant::now();
    let done = start(cmd, Mode::Pid1).wait();
    assert_eq!(done.code(), 2, "{}", done.stderr_text());
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    let lines = done.stderr_lines_with("it is a fifo, not a regular file");
    assert_eq!(lines.len(), 1, "{:?}", done.stderr);
}

/// A plugin process that stops answering (frozen here with SIGSTOP) is killed by PID 1 when its
/// own deadline passes; the signal it held is forwarded, one line says why, and plugins are off.
#[test]
fn a_frozen_plugin_process_is_killed_at_pid1s_deadline_and_the_signal_still_arrives() {
    let printer = signal_printer(&["USR1"]);
    let debug = behave("config.hooks=on-signal,config.on-signal=ignore");
    let mut r = start_python(&debug, &["-v"], &printer);
    r.signal(libc::SIGUSR1);
    r.expect_stderr("dropped by an on-signal hook");
    let plugins = wait_for_named_child(r.pid(), PLUGIN_PROCESS);
    // SAFETY: kill(2) to hookinit's child, which hookinit does not reap while it is stopped.
    assert_eq!(unsafe { libc::kill(plugins, libc::SIGSTOP) }, 0);
    r.signal(libc::SIGUSR1);
    r.expect_stdout("SIGUSR1");
    r.signal(libc::SIGUSR2);
    let done = r.wait();
    assert_eq!(done.code(), 0, "{}", done.stderr_text());
    let lines = done.stderr_lines_with("did not answer an on-signal hook within");
    assert_eq!(lines.len(), 1, "{:?}", done.stderr);
    assert!(lines[0].contains("plugins are off"), "{}", lines[0]);
}

/// A hook blocked in a host call (a sleep here) cannot be interrupted inside the plugin process;
/// PID 1's deadline (on-signal's 50 ms plus its 2 s margin) kills that process, forwards the
/// signal the hook held, says so in one line, and goes on without plugins.
#[test]
fn a_hook_blocked_in_a_host_call_is_ended_by_pid1s_deadline_and_the_signal_arrives() {
    let printer = signal_printer(&["USR1"]);
    let debug = behave("config.hooks=on-signal,config.on-signal=sleep:600000");
    let mut r = start_python(&debug, &["-v"], &printer);
    let sent = Instant::now();
    r.signal(libc::SIGUSR1);
    r.expect_stdout("SIGUSR1");
    let took = sent.elapsed();
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(5)).contains(&took),
        "the signal arrived after {took:?}"
    );
    r.signal(libc::SIGUSR2);
    let done = r.wait();
    assert_eq!(done.code(), 0, "{}", done.stderr_text());
    let lines = done.stderr_lines_with("did not answer an on-signal hook within");
    assert_eq!(lines.len(), 1, "{:?}", done.stderr);
    assert!(lines[0].contains("plugins are off"), "{}", lines[0]);
}

/// An `init` blocked in a host call holds the start only until PID 1's deadline for it (the init
/// deadline, 30 s, plus the 2 s margin): the plugin process is killed, one line names the
/// plugin, and the main process starts without plugins.
#[test]
fn an_init_blocked_in_a_host_call_is_ended_by_pid1s_deadline() {
    let debug = behave("config.init=sleep:600000");
    let started = Instant::now();
    let r = start(
        with_debug(Mode::Pid1, &debug, &["--", "sh", "-c", "exit 3"]),
        Mode::Pid1,
    );
    let done = r.wait_at_most(Duration::from_secs(60));
    let took = started.elapsed();
    assert_eq!(done.code(), 3, "{}", done.stderr_text());
    assert!(
        (Duration::from_secs(32)..Duration::from_secs(40)).contains(&took),
        "the start took {took:?}"
    );
    let lines = done.stderr_lines_with("init did not return within 30s");
    assert_eq!(lines.len(), 1, "{:?}", done.stderr);
    assert!(lines[0].contains("hookinit_test_behave"), "{}", lines[0]);
    assert!(
        lines[0].contains("continuing without plugins"),
        "{}",
        lines[0]
    );
}

/// SIGTERM while an on-exit hook spins (its deadline is 5 s): PID 1 stops waiting for it at once
/// and exits with the main process's status.
#[test]
fn a_stop_during_a_spinning_on_exit_hook_is_answered_within_a_second() {
    let debug = behave("config.hooks=on-exit,config.on-exit=loop");
    let mut r = start(
        with_debug(Mode::Pid1, &debug, &["-v", "--", "sh", "-c", "exit 3"]),
        Mode::Pid1,
    );
    r.expect_stderr("exited with status 3");
    let done = stop_within_a_second(r);
    assert_eq!(done.code(), 3, "{}", done.stderr_text());
    let lines = done.stderr_lines_with("received during the on-exit hooks");
    assert_eq!(lines.len(), 1, "{:?}", done.stderr);
}

/// The names of the main process's variables that a plugin granted `grant` finds in
/// `host::main_command()`, sorted, for a main process whose environment is `env` (plus hookinit's
/// own DEBUG and HOOKINIT_*, left out here). No value may show in the log.
fn main_env_seen_with(grant: &str, env: &[(&str, &str)]) -> Vec<String> {
    let debug = behave(&format!(
        "config.hooks=pre-exec,on-exit,config.on-exit=log-main-env{grant}"
    ));
    let mut cmd = with_debug(Mode::Pid1, &debug, &["-v", "--", "true"]);
    cmd.env_clear()
        .envs(env.iter().copied())
        .env("HOOKINIT_CONFIG", "/dev/null")
        .env("DEBUG", &debug)
        .env("HOOKINIT_CACHE_DIR", plugin_cache());
    let done = start(cmd, Mode::Pid1).wait();
    assert_eq!(done.code(), 0, "{}", done.stderr_text());
    let lines = done.stderr_lines_with("main env:");
    assert_eq!(lines.len(), 1, "{:?}", done.stderr);
    for (_, value) in env {
        assert!(!done.stderr_text().contains(value), "{value} logged");
    }
    let names = lines[0].split("main env: ").nth(1).unwrap_or_default();
    let mut names: Vec<String> = names
        .split(',')
        .filter(|n| !n.is_empty() && *n != "DEBUG" && !n.starts_with("HOOKINIT_"))
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

/// `host::main_command()` shows a plugin only the variables it was granted (issue 18: an
/// ungranted plugin read the main process's SECRET through it).
#[test]
fn main_command_shows_only_granted_variables() {
    let env = [("SECRET", "hunter2")];
    assert!(main_env_seen_with("", &env).is_empty());
    assert_eq!(main_env_seen_with(",env=SECRET", &env), ["SECRET"]);
}

/// `env=PREFIX_*` and `env=*` grant a family of variables, or all of them (issue 18).
#[test]
fn env_grants_by_prefix_and_all() {
    let env = [
        ("SECRET", "hunter2"),
        ("APP_MODE", "debugging"),
        ("APP_PORT", "8080"),
    ];
    assert_eq!(
        main_env_seen_with(",env=APP_*", &env),
        ["APP_MODE", "APP_PORT"]
    );
    assert_eq!(
        main_env_seen_with(",env=*", &env),
        ["APP_MODE", "APP_PORT", "SECRET"]
    );
}

/// `plugin=...,required`: a plugin that cannot be loaded, or whose init fails, stops the start
/// in one line (status 2), where an optional one is reported and left out (issue 18).
#[test]
fn a_required_plugin_that_cannot_start_stops_the_start() {
    for (debug, culprit) in [
        ("plugin=/nonexistent/guard.wasm".to_owned(), "guard"),
        (behave("config.init=fail:bad policy"), BEHAVE_FAILURE),
    ] {
        let optional = start(
            with_debug(Mode::Pid1, &debug, &["--", "sh", "-c", "exit 4"]),
            Mode::Pid1,
        )
        .wait();
        assert_eq!(optional.code(), 4, "{}", optional.stderr_text());

        let required = format!("{debug},required");
        let done = start(
            with_debug(
                Mode::Pid1,
                &required,
                &["--", "sh", "-c", "echo ran; exit 4"],
            ),
            Mode::Pid1,
        )
        .wait();
        assert_eq!(done.code(), 2, "{}", done.stderr_text());
        assert!(
            done.stdout.is_empty(),
            "the main process ran: {:?}",
            done.stdout
        );
        let lines = done.stderr_lines_with("the main process was not started");
        assert_eq!(lines.len(), 1, "{:?}", done.stderr);
        assert!(lines[0].contains(culprit), "{}", lines[0]);
    }
}

/// Sends SIGTERM (what `docker stop` sends) and waits: hookinit must end within a second.
fn stop_within_a_second(mut r: Running) -> Finished {
    let asked = Instant::now();
    r.signal(libc::SIGTERM);
    let done = r.wait();
    let took = asked.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "took {took:?}: {}",
        done.stderr_text()
    );
    done
}

/// `hookinit plugin SUB --help` (the image-build tool of the build with plugins) answers for
/// every subcommand, with status 0.
#[test]
fn help_works_for_every_plugin_subcommand() {
    for sub in ["compile", "inspect", "check", "list"] {
        let done = run(Mode::Plain, &["plugin", sub, "--help"]);
        assert_eq!(
            done.code(),
            0,
            "plugin {sub} --help: {}",
            done.stderr_text()
        );
        assert!(
            done.stdout
                .iter()
                .any(|l| l.starts_with("usage: hookinit plugin")),
            "plugin {sub} --help: {:?}",
            done.stdout
        );
    }
}

/// `hookinit plugin check` on every plugin of the repository: NO only for what cannot work
/// (another WIT major, a granted directory that is not there, an init that fails), "may need"
/// for what an import would use if called; coredump with its documented grant is OK (issue 18: it
/// answered NO, demanding a fetch grant it never uses).
#[test]
fn plugin_check_answers_no_only_for_what_cannot_work() {
    let cache = plugin_cache();
    let cores = tempfile::tempdir().unwrap();
    let check = |args: &[&str]| {
        let mut cmd = std::process::Command::new(hookinit_bin());
        cmd.args(["plugin", "check"])
            .args(args)
            .env("HOOKINIT_CACHE_DIR", &cache);
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code(), text)
    };
    let write = format!("write={}", cores.path().display());
    let (code, out) = check(&[&wasm("coredump"), &write]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(": OK: runs on this hookinit"), "{out}");

    let (code, out) = check(&[&wasm("sigguard")]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("may need"), "{out}");

    let behave = wasm("hookinit_test_behave");
    let (code, out) = check(&[&behave]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("may need fetch=HOST if it downloads"), "{out}");
    let (code, out) = check(&[&behave, "fetch=127.0.0.1", &write]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("may need fetch"), "{out}");

    let (code, out) = check(&[&behave, "read=/nonexistent-grant-dir"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("NO: no such directory here: read=/nonexistent-grant-dir"),
        "{out}"
    );
    let (code, out) = check(&[&behave, "config.init=fail:broken"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("NO: ") && out.contains("broken"), "{out}");

    let (code, out) = check(&[&wasm("hookinit_test_wit_v1")]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("NO: this hookinit cannot run it"), "{out}");
}
