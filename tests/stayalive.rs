//! stayalive end to end: a crash keeps PID 1 up for `docker exec`; a stop never does.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn stay_command(
    mode: Mode,
    debug: &str,
    run_dir: &std::path::Path,
    args: &[&str],
) -> std::process::Command {
    let mut cmd = command(mode, args);
    cmd.env("DEBUG", debug)
        .env("HOOKINIT_RUN_DIR", run_dir)
        .env("SECRET_TOKEN", "it's a 'secret'");
    cmd
}

#[test]
fn crash_stays_up_reaps_and_term_ends_with_the_failure_status() {
    let dir = tempdir();
    let mut r = start(
        stay_command(
            Mode::Pid1,
            "stayalive",
            dir.path(),
            &["--", "sh", "-c", "exit 3"],
        ),
        Mode::Pid1,
    );
    r.expect_stderr("exited with status 3");
    r.expect_stderr("docker exec -it");
    r.expect_stderr("end it:");
    // The environment file is there, private, and sources back to the same values.
    let env_file = dir.path().join("env");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            ". {}; printf '%s' \"$SECRET_TOKEN\"",
            env_file.display()
        ))
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"it's a 'secret'");

    // Like `docker exec`: a shell entering the namespace leaves an orphan behind, which becomes
    // PID 1's child; once it ends, PID 1 must reap it (a zombie would stay listed). The orphan
    // sleeps until the test kills it, so no timing decides what the test sees.
    let pid1 = r.pid();
    let exec = std::process::Command::new("nsenter")
        .args([
            "-t",
            &pid1.to_string(),
            "-p",
            "-m",
            "--",
            "sh",
            "-c",
            // Its own stdio, or `output()` would wait for it to close the pipes.
            "sleep 600 </dev/null >/dev/null 2>&1 & exit 0",
        ])
        .output()
        .unwrap();
    assert!(exec.status.success(), "nsenter: {exec:?}");
    let children = format!("/proc/{pid1}/task/{pid1}/children");
    let orphan: i32 = wait_until("the orphan to be handed to PID 1", || {
        std::fs::read_to_string(&children)
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    });
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{orphan}/comm"))
            .unwrap()
            .trim(),
        "sleep"
    );
    // SAFETY: kill(2) on a pid we just read; it is PID 1's child, so it cannot be reused before
    // PID 1 reaps it.
    assert_eq!(unsafe { libc::kill(orphan, libc::SIGKILL) }, 0);
    wait_until("the orphan to be reaped", || {
        std::fs::read_to_string(&children)
            .ok()
            .filter(|c| c.trim().is_empty())
    });

    let stop = Instant::now();
    r.signal(libc::SIGTERM);
    let done = r.wait();
    assert_eq!(done.code(), 3, "{}", done.stderr_text());
    assert!(
        stop.elapsed() < Duration::from_secs(5),
        "TERM during the stay was slow"
    );
}

#[test]
fn stop_requested_never_stays() {
    let dir = tempdir();
    for mode in MODES {
        let printer = signal_printer(&[]);
        // TERM kills the Python printer (default action): a failure, but one that was asked for.
        let mut r = start(
            stay_command(
                mode,
                "stayalive",
                dir.path(),
                &["--", PYTHON, "-c", &printer],
            ),
            mode,
        );
        r.expect_stdout("ready");
        r.signal(libc::SIGTERM);
        let done = r.wait();
        assert_eq!(done.code(), 143, "{mode:?}: {}", done.stderr_text());
        assert!(
            !done.stderr_text().contains("stayalive:"),
            "{}",
            done.stderr_text()
        );
    }
}

#[test]
fn success_does_not_stay_but_always_does() {
    let dir = tempdir();
    let done = start(
        stay_command(Mode::Plain, "stayalive", dir.path(), &["--", "true"]),
        Mode::Plain,
    )
    .wait();
    assert_eq!(done.code(), 0);
    assert!(!done.stderr_text().contains("stayalive:"));

    let mut r = start(
        stay_command(Mode::Plain, "stayalive=always", dir.path(), &["--", "true"]),
        Mode::Plain,
    );
    r.expect_stderr("exited with status 0");
    r.signal(libc::SIGINT);
    assert_eq!(r.wait().code(), 0);
}

#[test]
fn stay_with_a_duration_ends_by_itself() {
    let dir = tempdir();
    let started = Instant::now();
    let mut r = start(
        stay_command(
            Mode::Pid1,
            "stayalive=300ms",
            dir.path(),
            &["--", "sh", "-c", "kill -KILL $$"],
        ),
        Mode::Pid1,
    );
    r.expect_stderr("was killed by SIGKILL");
    let done = r.wait();
    assert_eq!(done.code(), 137, "{}", done.stderr_text());
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(done.stderr_text().contains("time limit reached"));
}

#[test]
fn exec_failure_stays_too() {
    let dir = tempdir();
    let mut r = start(
        stay_command(
            Mode::Plain,
            "stayalive",
            dir.path(),
            &["--", "/no/such/entrypoint"],
        ),
        Mode::Plain,
    );
    r.expect_stderr("cannot run `/no/such/entrypoint`");
    r.expect_stderr("docker exec");
    r.signal(libc::SIGTERM);
    assert_eq!(r.wait().code(), 127);
}

#[test]
fn termination_log_gets_the_failure_reason_when_present() {
    let dir = tempdir();
    let log = dir.path().join("termination-log");
    std::fs::write(&log, "").unwrap();
    let mut cmd = command(Mode::Plain, &["--", "sh", "-c", "exit 4"]);
    cmd.env("HOOKINIT_TERMINATION_LOG", &log);
    assert_eq!(start(cmd, Mode::Plain).wait().code(), 4);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("`sh` exited with status 4"), "{text}");

    // Absent file: nothing is created (Kubernetes mounts it when it wants it).
    let absent = dir.path().join("absent");
    let mut cmd = command(Mode::Plain, &["--", "false"]);
    cmd.env("HOOKINIT_TERMINATION_LOG", &absent);
    assert_eq!(start(cmd, Mode::Plain).wait().code(), 1);
    assert!(!absent.exists());
}

#[test]
fn debug_typo_is_refused_before_anything_starts() {
    let dir = tempdir();
    let marker = dir.path().join("ran");
    let script = format!("touch {}", marker.display());
    let mut cmd = command(Mode::Plain, &["--", "sh", "-c", &script]);
    cmd.env("DEBUG", "stayalvie");
    let done = start(cmd, Mode::Plain).wait();
    assert_eq!(done.code(), 2);
    assert!(
        done.stderr_text().contains("did you mean `stayalive`"),
        "{}",
        done.stderr_text()
    );
    assert!(!marker.exists(), "the main process ran despite the typo");
}

#[test]
fn foreign_debug_value_is_left_to_the_application() {
    let mut cmd = command(Mode::Plain, &["--", "sh", "-c", "printf '%s' \"$DEBUG\""]);
    cmd.env("DEBUG", "express:*");
    let done = start(cmd, Mode::Plain).wait();
    assert_eq!(done.code(), 0);
    assert_eq!(done.stdout, vec!["express:*".to_string()]);
    let notices = done.stderr_lines_with("express:*");
    assert_eq!(notices.len(), 1, "{:?}", done.stderr);
}

/// The main process may write the run directory (a `/run` it owns, say) and plants symlinks
/// where PID 1, as root, writes the environment: nothing is written through them, one line says
/// why and what to do, and the stay goes on.
#[test]
fn a_symlink_planted_by_the_main_process_is_never_written_through() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let canary = dir.path().join("canary");
    std::fs::write(&canary, "untouched").unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let script = format!(
        "ln -s {c} {r}/env.tmp && ln -s {c} {r}/env && exit 3",
        c = canary.display(),
        r = run.display()
    );
    let mut r = start(
        stay_command(Mode::Pid1, "stayalive", &run, &["--", "sh", "-c", &script]),
        Mode::Pid1,
    );
    r.expect_stderr("exited with status 3");
    r.expect_stderr("end it:");
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "untouched");
    r.signal(libc::SIGTERM);
    let done = r.wait();
    assert_eq!(done.code(), 3, "{}", done.stderr_text());
    let refused = done.stderr_lines_with("nobody else may write to");
    assert_eq!(refused.len(), 1, "{:?}", done.stderr);
    assert!(refused[0].contains("HOOKINIT_RUN_DIR"), "{}", refused[0]);
}
