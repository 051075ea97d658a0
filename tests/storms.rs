//! Abuse: signal storms and fork storms at the real binary as PID 1. Bounded in count and time.
//! Nothing may be lost: standard signals may merge (the kernel keeps one pending instance), but
//! one sent after the storm still arrives, and real-time signals arrive exactly as often as sent.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use common::*;

/// Compiles tests/programs/sigcount.c once per test run (cc is on every machine of this kind).
fn sigcount() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/programs/sigcount.c");
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sigcount");
        let status = Command::new("cc")
            .args(["-O2", "-o"])
            .arg(&out)
            .arg(src)
            .status()
            .expect("run cc");
        assert!(status.success(), "cc failed to build sigcount.c");
        out
    })
}

fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn signal_storm_loses_nothing() {
    const RT: usize = 5_000;
    const STD: usize = 5_000;
    let bin = sigcount().to_str().unwrap().to_string();
    let mut r = start(
        command(Mode::Pid1, &["--", &bin, &RT.to_string()]),
        Mode::Pid1,
    );
    r.expect_stdout("ready");
    let pid = r.pid();
    let rt = libc::SIGRTMIN() + 1;
    let standard = [
        libc::SIGUSR1,
        libc::SIGHUP,
        libc::SIGWINCH,
        libc::SIGQUIT,
        libc::SIGUSR2,
    ];
    let rss_before = rss_kib(pid);
    for i in 0..RT.max(STD) {
        // SAFETY: kill(2) to the hookinit this test started.
        unsafe {
            if i < RT {
                assert_eq!(libc::kill(pid, rt), 0);
            }
            if i < STD {
                assert_eq!(libc::kill(pid, standard[i % standard.len()]), 0);
            }
        }
    }
    let rss_after = rss_kib(pid);
    // The signal sent after the storm arrives, and the child has counted every real-time signal.
    r.signal(libc::SIGTERM);
    let line = r.expect_stdout("rt=");
    let done = r.wait();
    assert_eq!(done.code(), 0, "{}", done.stderr_text());
    let counts: Vec<u64> = line
        .split_whitespace()
        .map(|kv| kv.split_once('=').unwrap().1.parse().unwrap())
        .collect();
    assert_eq!(counts[0], RT as u64, "real-time signals lost: {line}");
    assert!(counts[1] >= 1, "no standard signal arrived: {line}");
    println!(
        "sent {RT} real-time + {STD} standard signals; child counted {line}; hookinit RSS {rss_before} -> {rss_after} KiB"
    );
    assert!(
        rss_after < rss_before + 1024,
        "RSS grew during the storm: {rss_before} -> {rss_after} KiB"
    );
}

const FORK_STORM: &str = r#"
import os, sys, time
start = time.monotonic()
end = start + float(sys.argv[1])
made = 0
ticked = False
while time.monotonic() < end:
    if not ticked and time.monotonic() > start + 1:
        print("storming", flush=True)   # hookinit is warmed up: its RSS is measured from here
        ticked = True
    pid = os.fork()
    if pid == 0:
        for _ in range(20):
            if os.fork() == 0:
                os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
    made += 20
print("orphans", made, flush=True)
init = os.getppid()
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    zombies = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) == init:
                zombies += 1
    if zombies == 0:
        print("zombies 0", flush=True)
        sys.exit(0)
    time.sleep(0.01)
print("zombies", zombies, flush=True)
sys.exit(1)
"#;

#[test]
fn fork_storm_leaves_no_zombie_and_flat_memory() {
    for mode in MODES {
        let mut r = start(command(mode, &["--", PYTHON, "-c", FORK_STORM, "4"]), mode);
        let pid = r.pid();
        r.expect_stdout("storming");
        let rss_before = rss_kib(pid);
        let made = r.expect_stdout("orphans");
        let rss_after = rss_kib(pid);
        r.expect_stdout("zombies 0");
        let done = r.wait();
        assert_eq!(done.code(), 0, "{mode:?}: {}", done.stderr_text());
        println!("{mode:?}: {made}, hookinit RSS {rss_before} -> {rss_after} KiB");
        assert!(
            rss_after < rss_before + 1024,
            "{mode:?}: RSS grew: {rss_before} -> {rss_after} KiB"
        );
    }
}

#[test]
fn no_descriptor_leaks_into_the_main_process() {
    for mode in MODES {
        // What `ls` sees when started directly by this test (0, 1, 2, its own directory handle,
        // and whatever the test runner itself inherited without close-on-exec) ...
        let direct = Command::new("ls").arg("/proc/self/fd").output().unwrap();
        let given: Vec<String> = String::from_utf8_lossy(&direct.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        // ... is exactly what it sees under hookinit, with or without plugins.
        let done = run(mode, &["--", "ls", "/proc/self/fd"]);
        assert_eq!(done.code(), 0);
        assert_eq!(done.stdout, given, "{mode:?}");
    }
}
