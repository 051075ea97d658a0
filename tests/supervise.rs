//! The native init, end to end: the real binary as PID 1 of a PID namespace and as a plain
//! process (subreaper). Each test names the behaviour it proves.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn exit_codes_are_propagated() {
    for mode in MODES {
        for code in [0, 1, 2, 126, 127, 255] {
            let script = format!("exit {code}");
            let done = run(mode, &["--", "sh", "-c", &script]);
            assert_eq!(
                done.code(),
                code,
                "{mode:?} exit {code}: {}",
                done.stderr_text()
            );
        }
    }
}

#[test]
fn death_by_signal_gives_128_plus_n() {
    for mode in MODES {
        for (name, n) in [("TERM", 15), ("HUP", 1), ("KILL", 9), ("SEGV", 11)] {
            let script = format!("kill -{name} $$");
            let done = run(mode, &["--", "sh", "-c", &script]);
            assert_eq!(
                done.code(),
                128 + n,
                "{mode:?} {name}: {}",
                done.stderr_text()
            );
        }
    }
}

#[test]
fn missing_program_is_127_and_named() {
    for mode in MODES {
        let done = run(mode, &["--", "/no/such/program"]);
        assert_eq!(done.code(), 127);
        assert!(
            done.stderr_text().contains("cannot run `/no/such/program`"),
            "{}",
            done.stderr_text()
        );
        let done = run(mode, &["no-such-program-in-path"]);
        assert_eq!(done.code(), 127);
    }
}

#[test]
fn non_executable_program_is_126() {
    let dir = tempdir();
    let file = dir.path().join("data.txt");
    std::fs::write(&file, "not a program").unwrap();
    for mode in MODES {
        let done = run(mode, &["--", file.to_str().unwrap()]);
        assert_eq!(done.code(), 126, "{}", done.stderr_text());
        let done = run(mode, &["--", "/etc"]);
        assert_eq!(done.code(), 126, "{}", done.stderr_text());
    }
}

#[test]
fn signals_are_forwarded_to_the_main_process() {
    // PIPE too: one someone sends is forwarded (only those hookinit's own writes raise are not).
    let names = [
        "TERM", "INT", "HUP", "QUIT", "USR1", "WINCH", "PIPE", "USR2",
    ];
    for mode in MODES {
        let printer = signal_printer(&names);
        let mut r = start(command(mode, &["--", PYTHON, "-c", &printer]), mode);
        r.expect_stdout("ready");
        for name in names {
            r.signal(signo(name));
            r.expect_stdout(name);
        }
        r.signal(libc::SIGALRM);
        let done = r.wait();
        assert_eq!(done.code(), 0, "{mode:?}: {}", done.stderr_text());
    }
}

#[test]
fn real_time_signals_are_forwarded() {
    // By number: SIGRTMIN differs between glibc (Python's) and musl (possibly this test's).
    let script = format!(
        r#"
import signal, sys
rt = 40
signal.signal(rt, lambda n, f: (print("rt", flush=True), sys.exit(0)))
{PY_WAIT_FOR_SIGNALS}
print("ready", flush=True)
wait_for_signals()
"#
    );
    let mut r = start(
        command(Mode::Pid1, &["--", PYTHON, "-c", &script]),
        Mode::Pid1,
    );
    r.expect_stdout("ready");
    r.signal(40);
    r.expect_stdout("rt");
    assert_eq!(r.wait().code(), 0);
}

#[test]
fn process_group_flag_reaches_grandchildren_behind_a_shell() {
    let printer = signal_printer(&["USR1"]);
    for mode in MODES {
        // The shell does not forward signals; only -g makes USR1 reach the Python grandchild.
        // The shell is in the group too, so it catches USR1/USR2 itself and keeps waiting.
        let script = format!(
            "trap : USR1 USR2; {PYTHON} -c '{printer}' & p=$!; \
             while kill -0 $p 2>/dev/null; do wait $p; done; exit 0"
        );
        let mut r = start(command(mode, &["-g", "--", "sh", "-c", &script]), mode);
        r.expect_stdout("ready");
        r.signal(libc::SIGUSR1);
        r.expect_stdout("USR1");
        r.signal(libc::SIGUSR2); // ends the printer; the shell then exits 0
        let done = r.wait();
        assert_eq!(done.code(), 0, "{mode:?}: {}", done.stderr_text());
    }
}

#[test]
fn rewrite_maps_and_drops_signals() {
    let printer = signal_printer(&["HUP", "QUIT"]);
    for mode in MODES {
        let args = [
            "-r", "HUP:QUIT", "-r", "USR1:0", "--", PYTHON, "-c", &printer,
        ];
        let mut r = start(command(mode, &args), mode);
        r.expect_stdout("ready");
        r.signal(libc::SIGHUP);
        assert_eq!(r.expect_stdout("QUIT"), "SIGQUIT");
        // USR1 is dropped: had it been forwarded, Python's default action would kill the printer.
        // USR2 (a higher number, so dequeued after USR1) then ends it cleanly.
        r.signal(libc::SIGUSR1);
        r.signal(libc::SIGUSR2);
        let done = r.wait();
        assert_eq!(done.code(), 0, "{mode:?}: {}", done.stderr_text());
        assert!(
            !done.stdout.iter().any(|l| l == "SIGHUP"),
            "HUP was not rewritten: {:?}",
            done.stdout
        );
    }
}

#[test]
fn remap_turns_a_chosen_status_into_success() {
    for mode in MODES {
        let done = run(mode, &["-e", "143", "--", "sh", "-c", "kill -TERM $$"]);
        assert_eq!(done.code(), 0);
        let done = run(mode, &["-e", "143", "--", "sh", "-c", "exit 3"]);
        assert_eq!(done.code(), 3);
    }
    let done = start(
        {
            let mut c = command(Mode::Plain, &["--", "sh", "-c", "exit 7"]);
            c.env("HOOKINIT_REMAP_EXIT", "5,7");
            c
        },
        Mode::Plain,
    )
    .wait();
    assert_eq!(done.code(), 0);
}

const ORPHANS: &str = r#"
import os, sys, time
n = int(sys.argv[1])
pid = os.fork()
if pid == 0:
    for _ in range(n):
        if os.fork() == 0:
            os._exit(0)
    os._exit(0)      # its children are now orphans, handed to the init (or the subreaper)
os.waitpid(pid, 0)
init = os.getppid()
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    zombies = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z" and int(fields[1]) == init:
            zombies += 1
    if zombies == 0:
        print("no zombies left", flush=True)
        sys.exit(0)
    time.sleep(0.01)
print(f"{zombies} zombies left", flush=True)
sys.exit(1)
"#;

#[test]
fn thousand_orphaned_zombies_are_reaped() {
    for mode in MODES {
        let done = run(mode, &["--", PYTHON, "-c", ORPHANS, "1000"]);
        assert_eq!(
            done.code(),
            0,
            "{mode:?}: {:?} {}",
            done.stdout,
            done.stderr_text()
        );
        assert!(done.stdout.iter().any(|l| l == "no zombies left"));
    }
}

#[test]
fn stdin_stdout_and_cwd_pass_through() {
    let dir = tempdir();
    for mode in MODES {
        let mut cmd = command(mode, &["--", "sh", "-c", "cat; pwd"]);
        cmd.current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"hello through stdin\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        let expected = format!("hello through stdin\n{}\n", dir.path().display());
        assert_eq!(text, expected);
    }
}

#[test]
fn leftover_group_member_ignoring_term_is_killed_after_the_grace() {
    // The main shell starts a grandchild that ignores TERM, then exits 0.
    let script = "trap '' TERM; sleep 60 & exit 0";
    for mode in MODES {
        let mut cmd = command(mode, &["-v", "--", "sh", "-c", script]);
        cmd.env("HOOKINIT_GRACE", "300ms");
        let started = Instant::now();
        let done = start(cmd, mode).wait();
        let took = started.elapsed();
        assert_eq!(done.code(), 0, "{mode:?}: {}", done.stderr_text());
        let log = done.stderr_text();
        assert!(log.contains("sending SIGTERM to what is left"), "{log}");
        assert!(log.contains("sending SIGKILL to process group"), "{log}");
        assert!(
            took >= Duration::from_millis(300),
            "exited before the grace: {took:?}"
        );
    }
}

#[test]
fn leftover_group_member_that_obeys_term_ends_without_waiting_for_the_grace() {
    let script = "sleep 60 & exit 0";
    for mode in MODES {
        let mut cmd = command(mode, &["-v", "--", "sh", "-c", script]);
        cmd.env("HOOKINIT_GRACE", "20s");
        let started = Instant::now();
        let done = start(cmd, mode).wait();
        assert_eq!(done.code(), 0);
        assert!(
            done.stderr_text().contains("sending SIGTERM"),
            "{}",
            done.stderr_text()
        );
        assert!(
            !done.stderr_text().contains("SIGKILL"),
            "{}",
            done.stderr_text()
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "waited for the grace period"
        );
    }
}

fn signo(name: &str) -> i32 {
    match name {
        "TERM" => libc::SIGTERM,
        "INT" => libc::SIGINT,
        "HUP" => libc::SIGHUP,
        "QUIT" => libc::SIGQUIT,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "WINCH" => libc::SIGWINCH,
        "PIPE" => libc::SIGPIPE,
        other => panic!("unknown signal {other}"),
    }
}

#[test]
fn a_log_reader_that_went_away_changes_nothing() {
    // stderr is a pipe nobody reads any more (a log collector that died): every line hookinit
    // writes fails with EPIPE and raises SIGPIPE in hookinit. It used to forward that SIGPIPE
    // (killing the main process: 141) and, logging the forward, raise the next one, for ever,
    // without reaping. Verbosity 2 logs every step, a forwarded signal included.
    let printer = signal_printer(&["USR1"]);
    for mode in MODES {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut cmd = command(mode, &["--", PYTHON, "-c", &printer]);
        cmd.env("HOOKINIT_VERBOSITY", "2");
        let mut r = start_with_stderr(cmd, mode, writer.into());
        r.expect_stdout("ready");
        r.signal(libc::SIGUSR1);
        r.expect_stdout("SIGUSR1");
        r.signal(libc::SIGUSR2); // ends the printer with status 0
        assert_eq!(r.wait().code(), 0, "{mode:?}");
    }
}

#[test]
fn parent_death_signal_is_forwarded() {
    // sh starts hookinit -p USR1 in the background and waits; killing sh makes the kernel send
    // USR1 to hookinit, which forwards it to the main process.
    let printer = signal_printer(&["USR1"]);
    let script = format!(
        "\"{}\" -p USR1 -- {PYTHON} -c '{printer}' & echo hookinit=$!; wait",
        hookinit_bin()
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(&script)
        .env("HOOKINIT_CONFIG", "/dev/null");
    default_signals(&mut cmd);
    let mut r = start(cmd, Mode::Plain);
    let line = r.expect_stdout("hookinit=");
    let hookinit: i32 = line["hookinit=".len()..]
        .trim()
        .parse()
        .expect("hookinit's pid");
    r.expect_stdout("ready");
    r.signal(libc::SIGKILL); // the shell, hookinit's parent
    r.expect_stdout("SIGUSR1");
    // hookinit outlived its parent (nobody here waits for it): end it and its main process, and
    // wait until it has exited (gone, or a zombie of whoever adopted it) so that it does not run
    // on beside the other tests.
    // SAFETY: kill(2) on the pid of a process this test started.
    assert_eq!(unsafe { libc::kill(hookinit, libc::SIGTERM) }, 0);
    wait_until("the orphaned hookinit to exit", || {
        matches!(process_state(hookinit).as_deref(), None | Some("Z")).then_some(())
    });
}

#[test]
fn verbosity_from_the_environment_shows_the_lifecycle() {
    let mut cmd = command(Mode::Plain, &["--", "true"]);
    cmd.env("HOOKINIT_VERBOSITY", "2");
    let done = start(cmd, Mode::Plain).wait();
    assert_eq!(done.code(), 0);
    let log = done.stderr_text();
    assert!(log.contains("plan: signals to the main process"), "{log}");
    assert!(log.contains("starting main process: true"), "{log}");
    assert!(log.contains("exiting with status 0"), "{log}");
    // Quiet by default, like tini.
    let done = run(Mode::Plain, &["--", "true"]);
    assert!(done.stderr.is_empty(), "{:?}", done.stderr);
}

#[test]
fn usage_errors_are_one_line_status_2_and_nothing_runs() {
    let marker = tempfile::tempdir().unwrap();
    let ran = marker.path().join("ran");
    let touch = format!("touch {}", ran.display());
    for (args, env, says) in [
        (
            vec!["--verbos", "sh", "-c", &touch],
            None,
            "hookinit: error: unknown option `--verbos`: did you mean `--verbose`?",
        ),
        (
            vec!["--grace=abc", "sh", "-c", &touch],
            None,
            "hookinit: error: --grace: `abc` is not a duration: write a number and a unit",
        ),
        (
            vec!["--", "sh", "-c", &touch],
            Some(("HOOKINIT_DEBUG", "1")),
            "hookinit: error: HOOKINIT_DEBUG: `1` is not a hookinit option",
        ),
        (
            vec!["--", "sh", "-c", &touch],
            Some(("HOOKINIT_DEBUG", "verbos")),
            "hookinit: error: HOOKINIT_DEBUG: unknown option `verbos`: did you mean `verbose`?",
        ),
        (
            vec!["--", "sh", "-c", &touch],
            Some(("DEBUG", "stayalive=9999999999999999999s")),
            "hookinit: error: DEBUG: bad value `9999999999999999999s` for `stayalive`: too long",
        ),
    ] {
        let mut cmd = command(Mode::Plain, &args);
        if let Some((name, value)) = env {
            cmd.env(name, value);
        }
        let done = start(cmd, Mode::Plain).wait();
        assert_eq!(done.code(), 2, "{args:?}: {}", done.stderr_text());
        let first = done.stderr.first().cloned().unwrap_or_default();
        assert!(first.starts_with(says), "{args:?}: {}", done.stderr_text());
        assert!(!ran.exists(), "{args:?}: the program ran");
    }
    // A program's own options after PROGRAM (or `--`) are the program's.
    let done = run(Mode::Plain, &["sh", "-c", "exit 7"]);
    assert_eq!(done.code(), 7, "{}", done.stderr_text());
}

#[test]
fn help_names_every_debug_option_and_the_plugin_subcommands() {
    let help = run(Mode::Plain, &["--help"]);
    assert_eq!(help.code(), 0);
    let text = help.stdout.join("\n");
    for word in [
        "max-size=SIZE",
        "timeout=DURATION",
        "config.KEY=VALUE",
        "unpinned",
        "plugin list",
    ] {
        assert!(text.contains(word), "--help lacks {word}: {text}");
    }
}

/// A huge value an operator (or an application's DEBUG) hands hookinit comes back clipped: each
/// line of the container log stays a readable line.
#[test]
fn huge_values_come_back_as_short_lines() {
    let word = "x".repeat(120_000);
    let mut cmd = command(Mode::Plain, &["--", "true"]);
    cmd.env("DEBUG", format!("{word}:*"));
    let done = start(cmd, Mode::Plain).wait();
    assert_eq!(done.code(), 0, "{}", done.stderr_text());
    let notice = done.stderr_lines_with("left to the application");
    assert_eq!(notice.len(), 1, "{}", done.stderr_text().len());
    assert!(notice[0].len() < 500, "{} bytes", notice[0].len());
    assert!(notice[0].contains("(120002 bytes)"), "{}", notice[0]);

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookinit.toml");
    std::fs::write(&config, format!("grace = \"{}\"\n", "9".repeat(900_000))).unwrap();
    let mut cmd = command(Mode::Plain, &["--", "true"]);
    cmd.env("HOOKINIT_CONFIG", &config);
    let done = start(cmd, Mode::Plain).wait();
    assert_eq!(done.code(), 2, "{}", done.stderr_text().len());
    assert_eq!(done.stderr.len(), 1, "{}", done.stderr_text().len());
    assert!(
        done.stderr[0].len() < 1000,
        "{} bytes",
        done.stderr[0].len()
    );
}
