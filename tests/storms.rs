//! Abuse: signal storms and fork storms at the real binary as PID 1. Bounded in count and time.
//! Nothing may be lost: standard signals may merge (the kernel keeps one pending instance), but
//! one sent after the storm still arrives, and real-time signals arrive exactly as often as sent.

mod common;

use std::collections::BTreeMap;
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
    // A real-time signal by number: SIGRTMIN differs between glibc and musl (sigcount.c).
    let rt = 40;
    let mut r = start(
        command(Mode::Pid1, &["--", &bin, &RT.to_string(), &rt.to_string()]),
        Mode::Pid1,
    );
    r.expect_stdout("ready");
    let pid = r.pid();
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
import os, signal, sys, time
# The test reads hookinit's RSS after "orphans", then sends SIGUSR1 (forwarded by hookinit) to let
# the zombie count and the exit go on: hookinit is still there when it is measured.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
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
signal.sigwait({signal.SIGUSR1})
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
        r.signal(libc::SIGUSR1);
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
        // ... is exactly what it sees under hookinit, with or without a plugin (whose runtime
        // holds a worker thread, an epoch timer and cache files of its own).
        let done = run(mode, &["--", "ls", "/proc/self/fd"]);
        assert_eq!(done.code(), 0);
        assert_eq!(done.stdout, given, "{mode:?}");
        let mut cmd = command(mode, &["--", "ls", "/proc/self/fd"]);
        cmd.env("DEBUG", format!("plugin={}", behave_wasm().display()))
            .env("HOOKINIT_CACHE_DIR", plugin_cache());
        let done = start(cmd, mode).wait();
        assert_eq!(done.code(), 0, "{}", done.stderr_text());
        assert_eq!(done.stdout, given, "{mode:?}, with a plugin");
    }
}

fn behave_wasm() -> &'static PathBuf {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| build_plugins(&["hookinit-test-behave"]).join("hookinit_test_behave.wasm"))
}

/// What the behave plugin is told to do in one start, and what that must end in.
struct Case {
    name: &'static str,
    /// The plugin's `config.*` options.
    config: String,
    /// Exit status hookinit must end with.
    status: i32,
    /// Whether the main process must have run.
    runs: bool,
    /// The hook whose failure hookinit must report (one line naming the plugin and the hook).
    fails_in: Option<&'static str>,
}

fn random_case(rng: &mut fastrand::Rng, main_status: i32) -> Case {
    let chosen = rng.u8(0..6);
    let case = |name, config: &str, status, runs, fails_in| Case {
        name,
        config: config.to_string(),
        status,
        runs,
        fails_in,
    };
    match chosen {
        0 => case("ok", "config.pre-exec=ok", main_status, true, None),
        // A plugin that fails to start is skipped: the container runs without it.
        1 => match rng.u8(0..2) {
            0 => case(
                "init fails",
                "config.init=fail:no config",
                main_status,
                true,
                Some("init"),
            ),
            _ => case(
                "init traps",
                "config.init=trap",
                main_status,
                true,
                Some("init"),
            ),
        },
        // A failing pre-exec hook stops the start with status 2.
        2 => match rng.u8(0..3) {
            0 => case(
                "pre-exec fails",
                "config.pre-exec=fail:nope",
                2,
                false,
                Some("pre-exec"),
            ),
            1 => case(
                "pre-exec traps",
                "config.pre-exec=trap",
                2,
                false,
                Some("pre-exec"),
            ),
            _ => case(
                "pre-exec panics",
                "config.pre-exec=panic",
                2,
                false,
                Some("pre-exec"),
            ),
        },
        // A broken on-exit hook leaves the main process's status as it was.
        3 => match rng.u8(0..2) {
            0 => case(
                "on-exit traps",
                "config.on-exit=trap",
                main_status,
                true,
                Some("on-exit"),
            ),
            _ => case(
                "on-exit panics",
                "config.on-exit=panic",
                main_status,
                true,
                Some("on-exit"),
            ),
        },
        // A working on-exit hook decides the status.
        4 => {
            let chosen = rng.i32(0..=255);
            Case {
                name: "on-exit chooses",
                config: format!("config.on-exit=exit:{chosen}"),
                status: chosen,
                runs: true,
                fails_in: None,
            }
        }
        _ => Case {
            name: "on-exit inspects",
            config: format!("config.on-exit=expect-exited:{main_status}"),
            status: 0,
            runs: true,
            fails_in: None,
        },
    }
}

#[test]
fn a_thousand_starts_with_a_randomly_failing_plugin() {
    const STARTS: usize = 1_000;
    let seed = std::env::var("HOOKINIT_STORM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("seed {seed} (HOOKINIT_STORM_SEED={seed} repeats this run)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let wasm = behave_wasm().display().to_string();
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for i in 0..STARTS {
        let mode = MODES[i % MODES.len()];
        let main_status = rng.i32(0..=125);
        let case = random_case(&mut rng, main_status);
        let script = format!("echo ran; exit {main_status}");
        let mut cmd = command(mode, &["--", "sh", "-c", &script]);
        cmd.env("DEBUG", format!("plugin={wasm},{}", case.config))
            .env("HOOKINIT_CACHE_DIR", plugin_cache());
        let done = start(cmd, mode).wait();
        let context = || {
            format!(
                "start {i} ({mode:?}, seed {seed}): {} with main status {main_status}:\n{}",
                case.name,
                done.stderr_text()
            )
        };
        assert_eq!(done.code(), case.status, "{}", context());
        assert_eq!(done.stdout == ["ran"], case.runs, "{}", context());
        let reports = done.stderr_lines_with("plugin hookinit_test_behave");
        match case.fails_in {
            Some(hook) => assert!(
                !reports.is_empty() && reports.iter().all(|l| l.contains(hook)),
                "{}",
                context()
            ),
            None => assert!(reports.is_empty(), "{}", context()),
        }
        *tally.entry(case.name).or_default() += 1;
    }
    println!("{STARTS} starts, every status right: {tally:?}");
}
