//! `hookinit ctl` end to end: the real binary as PID 1 of a PID namespace, its socket in a run
//! directory of the test's, and the real client run from the host with `--pid` (the answering
//! process as the host sees it). Every command, and the clients PID 1 must not wait on.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

/// hookinit as PID 1 with `dir` as its run directory (and `DEBUG` if given).
fn pid1(dir: &Path, debug: Option<&str>, args: &[&str]) -> Running {
    let mut cmd = command(Mode::Pid1, args);
    cmd.env("HOOKINIT_RUN_DIR", dir);
    if let Some(debug) = debug {
        cmd.env("DEBUG", debug);
    }
    start(cmd, Mode::Pid1)
}

/// The main process of most tests: prints `ready PID` and waits to be ended.
const SLEEPER: &str = "echo ready $$; exec sleep 1000";

/// hookinit as PID 1 (with `flags`) running [`SLEEPER`], once it is ready; and the main
/// process's pid as PID 1 sees it.
fn sleeper(dir: &Path, flags: &[&str]) -> (Running, String) {
    let args: Vec<&str> = flags
        .iter()
        .copied()
        .chain(["--", "sh", "-c", SLEEPER])
        .collect();
    let mut r = pid1(dir, None, &args);
    let main = second_word(&r.expect_stdout("ready"));
    (r, main)
}

/// Waits for hookinit to exit with `code`; what it wrote.
fn exits_with(r: Running, code: i32) -> Finished {
    let done = r.wait();
    assert_eq!(done.code(), code, "{}", done.stderr_text());
    done
}

/// SIGTERM to hookinit, which must exit with `code`.
fn terminate(mut r: Running, code: i32) -> Finished {
    r.signal(libc::SIGTERM);
    exits_with(r, code)
}

/// `hookinit ctl --pid PID ARGS...` against the run directory `dir`.
fn ctl(dir: &Path, pid: i32, args: &[&str]) -> Output {
    Command::new(hookinit_bin())
        .arg("ctl")
        .args(["--pid", &pid.to_string()])
        .args(args)
        .env("HOOKINIT_RUN_DIR", dir)
        .output()
        .expect("run hookinit ctl")
}

/// [`ctl`], asserting success; its stdout.
fn ctl_ok(dir: &Path, pid: i32, args: &[&str]) -> String {
    let out = ctl(dir, pid, args);
    assert_eq!(out.status.code(), Some(0), "hookinit ctl {args:?}: {out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

/// The second word of a line such as `run 7 ...`.
fn second_word(line: &str) -> String {
    line.split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn status_describes_the_main_process_and_the_socket_goes_at_exit() {
    let dir = tempdir();
    let (mut r, main) = sleeper(dir.path(), &[]);
    let pid = r.pid();
    let status = ctl_ok(dir.path(), pid, &["status"]);
    for line in [
        "state: running",
        &format!("main pid: {main}"),
        &format!("program: sh -c {SLEEPER}"),
        "restarts: 0",
        "plugins: none",
        "stay: off",
    ] {
        assert!(has_line(&status, line), "no {line:?} in:\n{status}");
    }
    assert!(status.contains("running for: "), "{status}");

    // The answer comes from the process named, or the client says who served it.
    let out = ctl(dir.path(), 1, &["status"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("--pid {pid}")), "{err}");

    assert!(dir.path().join("ctl.sock").exists());
    terminate(r, 143);
    assert!(
        !dir.path().join("ctl.sock").exists(),
        "the socket was left behind"
    );
}

#[test]
fn restart_starts_the_same_command_again_with_its_output_and_environment() {
    let dir = tempdir();
    let mut cmd = command(
        Mode::Pid1,
        &[
            "--",
            "sh",
            "-c",
            "echo \"run $$ $GREETING\"; exec sleep 1000",
        ],
    );
    cmd.env("HOOKINIT_RUN_DIR", dir.path())
        .env("GREETING", "kept");
    let mut r = start(cmd, Mode::Pid1);
    let first = r.expect_stdout("run ");
    assert!(first.ends_with(" kept"), "{first}");
    let first = second_word(&first);
    let pid = r.pid();

    let answer = ctl_ok(dir.path(), pid, &["restart"]);
    assert!(
        answer.starts_with(&format!("restarting: SIGTERM to main process {first}")),
        "{answer}"
    );
    let again = r.expect_stdout("run ");
    assert!(again.ends_with(" kept"), "{again}");
    let again = second_word(&again);
    assert_ne!(again, first);
    assert!(
        has_line(&answer, &format!("main process {again} started")),
        "{answer}"
    );
    r.expect_stderr("ctl restart: ending main process");

    let status = ctl_ok(dir.path(), pid, &["status"]);
    assert!(has_line(&status, "restarts: 1"), "{status}");
    assert!(has_line(&status, &format!("main pid: {again}")), "{status}");

    terminate(r, 143);
}

#[test]
fn restart_kills_a_main_process_that_ignores_sigterm_after_the_grace() {
    let dir = tempdir();
    // The first run ignores SIGTERM (an ignored signal stays ignored across exec); the second
    // does not, so that the test can end it.
    let script = format!(
        "if [ ! -e {once} ]; then touch {once}; trap '' TERM; fi; echo \"run $$\"; exec sleep 1000",
        once = dir.path().join("once").display()
    );
    let mut r = pid1(
        dir.path(),
        None,
        &["--grace", "300ms", "--", "sh", "-c", &script],
    );
    let first = second_word(&r.expect_stdout("run "));
    let asked = Instant::now();
    let answer = ctl_ok(dir.path(), r.pid(), &["restart"]);
    assert!(asked.elapsed() >= Duration::from_millis(300), "{answer}");
    assert!(answer.contains("SIGKILL after 300ms"), "{answer}");
    let again = second_word(&r.expect_stdout("run "));
    assert_ne!(again, first);
    terminate(r, 143);
}

/// The operator's story: the entrypoint crashes, the container stays, the operator fixes
/// something and restarts the main process from inside: it comes back, with its output where
/// the first run's went, and hookinit's status is then the new run's.
#[test]
fn restart_during_a_stay_brings_the_main_process_back_with_its_output() {
    let dir = tempdir();
    let fixed = dir.path().join("fixed");
    let script = format!(
        "if [ -e {f} ]; then echo \"fixed $$\"; exec sleep 1000; fi; echo broken; exit 3",
        f = fixed.display()
    );
    let mut r = pid1(dir.path(), Some("stayalive"), &["--", "sh", "-c", &script]);
    r.expect_stdout("broken");
    let hint = r.expect_stderr("try again once fixed:");
    assert!(
        hint.ends_with(&format!("{} ctl restart", hookinit_bin())),
        "{hint}"
    );
    r.expect_stderr("end it:");
    let pid = r.pid();
    let status = ctl_ok(dir.path(), pid, &["status"]);
    for line in [
        "state: staying",
        "main pid: none",
        "restarts: 0",
        "stay: on (after a failure)",
    ] {
        assert!(has_line(&status, line), "no {line:?} in:\n{status}");
    }
    assert!(
        status.contains("ended: main process exited with status 3"),
        "{status}"
    );

    std::fs::write(&fixed, "").unwrap();
    let answer = ctl_ok(dir.path(), pid, &["restart"]);
    assert!(
        answer.starts_with("restarting: leaving the stay"),
        "{answer}"
    );
    let main = second_word(&r.expect_stdout("fixed"));
    assert!(
        has_line(&answer, &format!("main process {main} started")),
        "{answer}"
    );
    let status = ctl_ok(dir.path(), pid, &["status"]);
    assert!(has_line(&status, "state: running"), "{status}");
    assert!(has_line(&status, "restarts: 1"), "{status}");

    terminate(r, 143);
}

/// A main process that crashes (exit 3) when the test writes a line to `fifo`.
fn crash_on_cue(dir: &Path) -> (std::path::PathBuf, String) {
    let fifo = dir.join("cue");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let script = format!("echo ready; read x < {}; exit 3", fifo.display());
    (fifo, script)
}

#[test]
fn stay_on_makes_a_coming_crash_stay() {
    let dir = tempdir();
    let (cue, script) = crash_on_cue(dir.path());
    let mut r = pid1(dir.path(), None, &["--", "sh", "-c", &script]);
    r.expect_stdout("ready");
    let answer = ctl_ok(dir.path(), r.pid(), &["stay", "on"]);
    assert_eq!(answer, "stay on (after a failure)\n");
    std::fs::write(&cue, "crash\n").unwrap();
    r.expect_stderr("end it:");
    let status = ctl_ok(dir.path(), r.pid(), &["status"]);
    assert!(has_line(&status, "state: staying"), "{status}");
    terminate(r, 3);
}

#[test]
fn stay_off_lets_a_coming_crash_end_hookinit_despite_debug_stayalive() {
    let dir = tempdir();
    let (cue, script) = crash_on_cue(dir.path());
    let mut r = pid1(dir.path(), Some("stayalive"), &["--", "sh", "-c", &script]);
    r.expect_stdout("ready");
    let status = ctl_ok(dir.path(), r.pid(), &["status"]);
    assert!(has_line(&status, "stay: on (after a failure)"), "{status}");
    let answer = ctl_ok(dir.path(), r.pid(), &["stay", "off"]);
    assert_eq!(answer, "stay off\n");
    std::fs::write(&cue, "crash\n").unwrap();
    let done = exits_with(r, 3);
    assert!(
        !done.stderr_text().contains("stayalive:"),
        "{}",
        done.stderr_text()
    );
}

#[test]
fn stop_does_what_sigterm_does_while_running_and_during_a_stay() {
    let dir = tempdir();
    let (mut r, main) = sleeper(dir.path(), &[]);
    let answer = ctl_ok(dir.path(), r.pid(), &["stop"]);
    assert_eq!(
        answer,
        format!("stopping: SIGTERM to main process {main}\n")
    );
    exits_with(r, 143);

    let mut r = pid1(dir.path(), Some("stayalive"), &["--", "sh", "-c", "exit 3"]);
    r.expect_stderr("end it:");
    let answer = ctl_ok(dir.path(), r.pid(), &["stop"]);
    assert_eq!(answer, "stopping: hookinit exits with status 3\n");
    exits_with(r, 3);
}

/// PID 1 never waits on a client: one that connects and says nothing is told so and dropped
/// after a second, others are answered meanwhile, and a crowd of them does not slow a SIGTERM.
#[test]
fn a_client_that_never_sends_is_dropped_and_holds_nothing_up() {
    let dir = tempdir();
    let (mut r, _) = sleeper(dir.path(), &[]);
    let socket = dir.path().join("ctl.sock");
    let connected = Instant::now();
    let mut silent = UnixStream::connect(&socket).unwrap();
    let status = ctl_ok(dir.path(), r.pid(), &["status"]);
    assert!(has_line(&status, "state: running"), "{status}");
    silent.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut answer = String::new();
    silent.read_to_string(&mut answer).unwrap();
    let after = connected.elapsed();
    assert_eq!(answer, "error: no request within 1s\n");
    assert!(
        after >= Duration::from_secs(1) && after < Duration::from_secs(5),
        "dropped after {after:?}"
    );

    // More silent clients than PID 1 reads at once (the rest wait in the backlog).
    let crowd: Vec<UnixStream> = (0..10)
        .map(|_| UnixStream::connect(&socket).unwrap())
        .collect();
    let stop = Instant::now();
    terminate(r, 143);
    assert!(
        stop.elapsed() < Duration::from_secs(1),
        "SIGTERM took {:?}",
        stop.elapsed()
    );
    drop(crowd);
}

#[test]
fn a_request_is_one_short_known_line() {
    let dir = tempdir();
    let (r, _) = sleeper(dir.path(), &[]);
    let ask = |bytes: &[u8]| {
        let mut stream = UnixStream::connect(dir.path().join("ctl.sock")).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.write_all(bytes).unwrap();
        // Up to the end, or the reset a close with unread bytes (the long request's) causes.
        let mut answer = Vec::new();
        let mut chunk = [0; 256];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
                Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(err) => panic!("reading the answer: {err}"),
            }
        }
        String::from_utf8(answer).unwrap()
    };
    let answer = ask(b"dance\n");
    assert!(
        answer.starts_with("error: unknown command `dance` (the commands: status, restart"),
        "{answer}"
    );
    assert_eq!(answer.lines().count(), 1, "{answer}");
    let answer = ask(&[b'x'; 100]);
    assert_eq!(answer, "error: a request is one line of at most 64 bytes\n");
    terminate(r, 143);
}

/// Only root and hookinit's own user may ask, whatever the socket's mode: here the directory
/// and the socket are opened to everyone, and a client that dropped to `nobody` is refused.
#[test]
fn a_client_that_is_not_root_is_refused() {
    let top = tempdir();
    let dir = top.path().join("run");
    std::fs::create_dir(&dir).unwrap();
    for path in [top.path(), dir.as_path()] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let (mut r, _) = sleeper(&dir, &[]);
    let socket = dir.join("ctl.sock");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    use std::os::unix::process::CommandExt;
    let out = Command::new(hookinit_bin())
        .args(["ctl", "--pid", &r.pid().to_string(), "stop"])
        .env("HOOKINIT_RUN_DIR", &dir)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "hookinit ctl stop: permission denied: only root may use hookinit ctl (you are uid 65534)\n"
    );
    // Nothing was stopped.
    let status = ctl_ok(&dir, r.pid(), &["status"]);
    assert!(has_line(&status, "state: running"), "{status}");
    terminate(r, 143);
}

/// A read-only root filesystem, say: hookinit runs on without ctl, says so once at the
/// lifecycle level (no warning), and `hookinit ctl` says in one line what to do.
#[test]
fn without_a_run_directory_hookinit_runs_on_and_ctl_says_what_to_do() {
    let top = tempdir();
    let file = top.path().join("file");
    std::fs::write(&file, "").unwrap();
    let dir = file.join("run");
    let (mut r, _) = sleeper(&dir, &["-v"]);
    let out = ctl(&dir, r.pid(), &["status"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--tmpfs /run") && err.contains("HOOKINIT_RUN_DIR"),
        "{err}"
    );
    let done = terminate(r, 143);
    assert_eq!(
        done.stderr_lines_with("hookinit ctl is off").len(),
        1,
        "{}",
        done.stderr_text()
    );
    assert!(
        done.stderr_lines_with("warning").is_empty(),
        "{}",
        done.stderr_text()
    );
}

#[test]
fn ctl_help_documents_every_command_and_usage_errors_are_status_2() {
    let out = Command::new(hookinit_bin())
        .args(["ctl", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "status",
        "restart",
        "stay on|off",
        "stop",
        "--pid PID",
        "HOOKINIT_RUN_DIR",
        "pre-exec hooks",
    ] {
        assert!(help.contains(word), "{word}: {help}");
    }
    for args in [
        &["ctl"][..],
        &["ctl", "dance"],
        &["ctl", "stay"],
        &["ctl", "--pid"],
    ] {
        let out = Command::new(hookinit_bin()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("hookinit ctl: "), "{err}");
        assert!(err.contains("usage: hookinit ctl"), "{err}");
    }
}
