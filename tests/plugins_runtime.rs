//! The plugin runtime, through its public API, with real components built from `plugins/` for
//! wasm32-wasip2 at the start of the run (once; cargo keeps them up to date).
//!
//! Each hook's effect, and one hostile plugin per fault: the runtime survives, the failure is
//! one report naming plugin and hook, the answer is the safe default, and the deadline holds.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hookinit_init::config::plan::{PluginSource, PluginSpec};
use hookinit_plugin_host::{
    CommandSpec, ExitAction, ExitInfo, Hook, HookFailure, Limits, Plugins, Reply, Request,
    SignalAction,
};
use hookinit_test_http as http;

struct Built {
    behave: PathBuf,
    wit_v1: PathBuf,
    sigguard: PathBuf,
}

/// The runtime's log lines (see `built`).
static LOG: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Builds the test plugins (and points the compile cache at a directory of this run).
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        // Content-addressed, so runs can share it; inside plugins/target (ignored by git).
        let cache = common::plugin_cache();
        // SAFETY: set once, before any test uses the runtime (they all wait for this OnceLock).
        unsafe { std::env::set_var("HOOKINIT_CACHE_DIR", &cache) };
        // The runtime runs in this process: the lines its deliberately broken plugins cause are
        // kept here, not printed among the test results.
        hookinit_init::log::redirect(|line| LOG.lock().unwrap().push(line.to_owned()));
        let out =
            common::build_plugins(&["hookinit-test-behave", "hookinit-test-wit-v1", "sigguard"]);
        Built {
            behave: out.join("hookinit_test_behave.wasm"),
            wit_v1: out.join("hookinit_test_wit_v1.wasm"),
            sigguard: out.join("sigguard.wasm"),
        }
    })
}

fn spec(name: &str, path: &Path, config: &[(&str, &str)]) -> PluginSpec {
    let mut spec = PluginSpec::operator(name.to_string(), PluginSource::Path(path.to_path_buf()));
    spec.config = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    spec
}

fn behave(name: &str, config: &[(&str, &str)]) -> PluginSpec {
    spec(name, &built().behave, config)
}

/// `spec` with `env=NAME` grants.
fn with_env(mut spec: PluginSpec, names: &[&str]) -> PluginSpec {
    spec.grants.env = names.iter().map(|n| n.to_string()).collect();
    spec
}

fn start(specs: &[PluginSpec]) -> Plugins {
    start_with(specs, Limits::default())
}

fn start_with(specs: &[PluginSpec], limits: Limits) -> Plugins {
    let (plugins, failures) = Plugins::start_with(specs, limits).expect("runtime starts");
    assert!(
        failures.is_empty(),
        "unexpected start failures: {failures:?}"
    );
    plugins
}

fn ask(plugins: &Plugins, req: Request) -> Reply {
    plugins.request(req);
    plugins
        .wait_reply(Duration::from_secs(20))
        .expect("a reply within 20 s")
}

fn command() -> CommandSpec {
    CommandSpec {
        program: "/app".into(),
        args: vec!["serve".into()],
        env: vec![
            ("PATH".into(), "/bin".into()),
            ("SECRET".into(), "x".into()),
        ],
        cwd: "/".into(),
        limits: vec![],
    }
}

fn signal_reply(plugins: &Plugins, signal: i32) -> SignalAction {
    match ask(plugins, Request::OnSignal(signal)) {
        Reply::OnSignal(action) => action,
        other => panic!("expected an on-signal reply, got {other:?}"),
    }
}

fn exit_reply(plugins: &Plugins, status: ExitInfo) -> ExitAction {
    match ask(plugins, Request::OnExit { pid: 4242, status }) {
        Reply::OnExit(action) => action,
        other => panic!("expected an on-exit reply, got {other:?}"),
    }
}

fn pre_exec_reply(plugins: &Plugins) -> Result<CommandSpec, HookFailure> {
    match ask(plugins, Request::PreExec(command())) {
        Reply::PreExec(result) => result,
        other => panic!("expected a pre-exec reply, got {other:?}"),
    }
}

/// Exactly one failure was reported, for `plugin` in `hook`; returns its reason.
fn one_failure(plugins: &Plugins, plugin: &str, hook: Hook) -> String {
    let failures = plugins.take_failures();
    assert_eq!(failures.len(), 1, "expected one failure, got {failures:?}");
    assert_eq!(failures[0].plugin, plugin);
    assert_eq!(failures[0].hook, Some(hook));
    failures[0].reason.clone()
}

// ---- each hook's effect ---------------------------------------------------------------------

/// A plugin sees only the variables of the main process it was granted; what it cannot see, it
/// cannot remove, and what it sets is applied (issue 18: an ungranted plugin read SECRET).
#[test]
fn pre_exec_shows_a_plugin_only_its_granted_variables() {
    let list = [("pre-exec", "list-env"), ("hooks", "pre-exec")];
    let plugins = start(&[behave("blind", &list)]);
    let cmd = pre_exec_reply(&plugins).expect("pre-exec succeeds");
    let seen = |cmd: &CommandSpec| {
        cmd.env
            .iter()
            .find(|(k, _)| k == "ENV_SEEN")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(seen(&cmd).as_deref(), Some(std::ffi::OsStr::new("")));
    assert!(
        cmd.env.contains(&("SECRET".into(), "x".into())),
        "{:?}",
        cmd.env
    );
    assert!(
        cmd.env.contains(&("PATH".into(), "/bin".into())),
        "{:?}",
        cmd.env
    );

    let plugins = start(&[with_env(behave("path", &list), &["PATH"])]);
    let cmd = pre_exec_reply(&plugins).expect("pre-exec succeeds");
    assert_eq!(seen(&cmd).as_deref(), Some(std::ffi::OsStr::new("PATH")));
    assert!(
        cmd.env.contains(&("SECRET".into(), "x".into())),
        "{:?}",
        cmd.env
    );

    // Unsetting what it cannot see changes nothing.
    let unset = [("pre-exec", "unset-env:SECRET"), ("hooks", "pre-exec")];
    let plugins = start(&[behave("blind-unset", &unset)]);
    let cmd = pre_exec_reply(&plugins).expect("pre-exec succeeds");
    assert!(
        cmd.env.contains(&("SECRET".into(), "x".into())),
        "{:?}",
        cmd.env
    );
}

#[test]
fn pre_exec_hooks_edit_the_command_in_plugin_order() {
    let plugins = start(&[
        behave(
            "first",
            &[("pre-exec", "push-arg:one"), ("hooks", "pre-exec")],
        ),
        behave(
            "second",
            &[("pre-exec", "push-arg:two"), ("hooks", "pre-exec")],
        ),
        behave(
            "env",
            &[("pre-exec", "set-env:GREETING=hi"), ("hooks", "pre-exec")],
        ),
        with_env(
            behave(
                "unset",
                &[("pre-exec", "unset-env:SECRET"), ("hooks", "pre-exec")],
            ),
            &["SECRET"],
        ),
    ]);
    assert!(plugins.subscribed(Hook::PreExec));
    assert!(!plugins.subscribed(Hook::OnSignal));
    let cmd = pre_exec_reply(&plugins).expect("pre-exec succeeds");
    assert_eq!(cmd.args, vec!["serve", "one", "two"]);
    assert!(cmd.env.contains(&("GREETING".into(), "hi".into())));
    assert!(!cmd.env.iter().any(|(k, _)| k == "SECRET"));
    assert_eq!(cmd.program, "/app");
}

#[test]
fn pre_exec_can_wrap_the_program_and_raise_the_core_limit() {
    let plugins = start(&[
        behave("wrap", &[("pre-exec", "wrap:/bin/sh")]),
        behave("core", &[("pre-exec", "core-limit")]),
    ]);
    let cmd = pre_exec_reply(&plugins).unwrap();
    assert_eq!(cmd.program, "/bin/sh");
    assert_eq!(cmd.args, vec!["/app", "serve"]);
    assert_eq!(cmd.limits.len(), 1);
    assert_eq!(cmd.limits[0].soft, u64::MAX);
}

#[test]
fn a_pre_exec_error_stops_the_start_naming_the_plugin() {
    let plugins = start(&[
        behave("ok", &[("pre-exec", "push-arg:x")]),
        behave("dbcheck", &[("pre-exec", "fail:DATABASE_URL is not set")]),
    ]);
    let failure = pre_exec_reply(&plugins).unwrap_err();
    assert_eq!(failure.plugin, "dbcheck");
    assert_eq!(failure.hook, Some(Hook::PreExec));
    assert_eq!(failure.reason, "DATABASE_URL is not set");
    assert_eq!(
        failure.to_string(),
        "plugin dbcheck: pre-exec: DATABASE_URL is not set"
    );
}

#[test]
fn on_exit_actions_the_first_that_is_not_propagate_wins() {
    let plugins = start(&[
        behave("quiet", &[("on-exit", "propagate")]),
        behave("three", &[("on-exit", "exit:3")]),
        behave("stay", &[("on-exit", "stay")]),
    ]);
    assert_eq!(
        exit_reply(&plugins, ExitInfo::Exited(1)),
        ExitAction::ExitWith(3)
    );

    let stay = start(&[behave("stay", &[("on-exit", "stay")])]);
    assert_eq!(
        exit_reply(
            &stay,
            ExitInfo::Signaled {
                signal: 11,
                core_dumped: true
            }
        ),
        ExitAction::StayAlive
    );

    // The status reaches the plugin as it was.
    let check = start(&[behave("check", &[("on-exit", "expect-exited:5")])]);
    assert_eq!(
        exit_reply(&check, ExitInfo::Exited(5)),
        ExitAction::ExitWith(0)
    );
    assert_eq!(
        exit_reply(&check, ExitInfo::Exited(6)),
        ExitAction::ExitWith(1)
    );
}

#[test]
fn on_signal_forward_as_rewrites_and_ignore_ends_the_chain() {
    let plugins = start(&[
        behave("inc1", &[("on-signal", "inc"), ("hooks", "on-signal")]),
        behave("inc2", &[("on-signal", "inc"), ("hooks", "on-signal")]),
    ]);
    assert!(plugins.subscribed(Hook::OnSignal));
    assert_eq!(signal_reply(&plugins, 10), SignalAction::Forward(12));

    let plugins = start(&[
        behave("as-term", &[("on-signal", "as:15")]),
        behave("forward", &[("on-signal", "forward")]),
    ]);
    assert_eq!(signal_reply(&plugins, 2), SignalAction::Forward(15));

    let plugins = start(&[
        behave("drop", &[("on-signal", "ignore")]),
        behave("never-asked", &[("on-signal", "loop")]),
    ]);
    assert_eq!(signal_reply(&plugins, 1), SignalAction::Ignore);
    assert!(
        plugins.take_failures().is_empty(),
        "the chain stopped at ignore"
    );
}

#[test]
fn only_subscribers_are_called() {
    // Subscribed to nothing: a looping on-signal is never run.
    let plugins = start(&[behave("idle", &[("hooks", "none"), ("on-signal", "loop")])]);
    assert!(!plugins.subscribed(Hook::OnSignal));
    assert_eq!(signal_reply(&plugins, 15), SignalAction::Forward(15));
    assert!(plugins.take_failures().is_empty());
}

#[test]
fn plugins_see_the_main_pid() {
    let plugins = start(&[behave("pid", &[("pre-exec", "echo-pid")])]);
    let cmd = pre_exec_reply(&plugins).unwrap();
    assert!(
        cmd.env.contains(&("MAIN_PID".into(), "None".into())),
        "no pid before the spawn"
    );
    plugins.request(Request::SetMainPid(77));
    let cmd = pre_exec_reply(&plugins).unwrap();
    assert!(cmd.env.contains(&("MAIN_PID".into(), "Some(77)".into())));
}

// ---- hostile plugins ------------------------------------------------------------------------

#[test]
fn a_plugin_spinning_in_on_signal_is_stopped_at_its_50ms_deadline() {
    let plugins = start(&[
        behave("spin", &[("on-signal", "loop")]),
        behave("after", &[("on-signal", "as:9")]),
    ]);
    let t = Instant::now();
    // The spinning plugin is skipped (signal unchanged), the chain goes on to the next plugin.
    assert_eq!(signal_reply(&plugins, 15), SignalAction::Forward(9));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(45) && took < Duration::from_millis(400),
        "took {took:?}"
    );
    let why = one_failure(&plugins, "spin", Hook::OnSignal);
    assert_eq!(why, "ran past its deadline of 50 ms");
    // Disabled: not called again (no new failure); only the other plugin answers.
    assert_eq!(signal_reply(&plugins, 15), SignalAction::Forward(9));
    assert!(plugins.take_failures().is_empty());
}

/// A guest's sleep (a WASI host call run on tokio) ends on time and the hook's own answer comes
/// back. (With a current-thread tokio runtime nothing drove the timer: the sleep never ended.)
#[test]
fn a_hook_that_sleeps_briefly_answers_itself() {
    let plugins = start(&[
        behave("napper", &[("on-exit", "sleep:20")]),
        behave("decider", &[("on-exit", "exit:7")]),
    ]);
    let t = Instant::now();
    assert_eq!(
        exit_reply(&plugins, ExitInfo::Exited(0)),
        ExitAction::ExitWith(7)
    );
    assert!(
        t.elapsed() >= Duration::from_millis(20),
        "{:?}",
        t.elapsed()
    );
    assert!(plugins.take_failures().is_empty());
}

fn assert_hostile(hook: &str, action: &str, expect: &str) {
    let name = format!("{hook}-{action}");
    let limits = Limits {
        memory: 16 << 20,
        pre_exec: Duration::from_millis(500),
        on_exit: Duration::from_millis(500),
        ..Limits::default()
    };
    let plugins = start_with(
        &[behave(&name, &[(hook, action)]), behave("bystander", &[])],
        limits,
    );
    let t = Instant::now();
    let hook_kind = match hook {
        "pre-exec" => {
            let failure = pre_exec_reply(&plugins).unwrap_err();
            assert_eq!(failure.plugin, name);
            assert!(
                failure.reason.contains(expect),
                "{hook} {action}: {}",
                failure.reason
            );
            Hook::PreExec
        }
        "on-exit" => {
            assert_eq!(
                exit_reply(&plugins, ExitInfo::Exited(3)),
                ExitAction::Propagate
            );
            Hook::OnExit
        }
        _ => {
            assert_eq!(signal_reply(&plugins, 15), SignalAction::Forward(15));
            Hook::OnSignal
        }
    };
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "{hook} {action} took {:?}",
        t.elapsed()
    );
    let why = one_failure(&plugins, &name, hook_kind);
    assert!(why.contains(expect), "{hook} {action}: {why}");
    // The runtime carries on: the disabled plugin is skipped, the bystander still answers.
    assert_eq!(signal_reply(&plugins, 10), SignalAction::Forward(10));
    assert_eq!(
        exit_reply(&plugins, ExitInfo::Exited(0)),
        ExitAction::Propagate
    );
    assert!(
        plugins.take_failures().is_empty(),
        "{hook} {action}: disabled plugin called again"
    );
}

#[test]
fn hostile_infinite_loops_in_each_hook() {
    assert_hostile("pre-exec", "loop", "ran past its deadline of 500 ms");
    assert_hostile("on-exit", "loop", "ran past its deadline of 500 ms");
    assert_hostile("on-signal", "loop", "ran past its deadline of 50 ms");
}

#[test]
fn hostile_memory_bomb() {
    assert_hostile("pre-exec", "bomb", "exceeded its memory limit of 16 MiB");
    assert_hostile("on-exit", "bomb", "exceeded its memory limit of 16 MiB");
}

#[test]
fn hostile_trap_and_panic() {
    assert_hostile(
        "pre-exec",
        "trap",
        "trapped: wasm `unreachable` instruction executed",
    );
    assert_hostile("on-exit", "panic", "panicked at testing/behave/src/lib.rs");
    assert_hostile("on-signal", "panic", "deliberate panic");
}

#[test]
fn hostile_stack_overflow() {
    assert_hostile("on-exit", "stack", "overflowed its stack");
    // Rust keeps locals on a stack in linear memory; overflowing it runs below address 0.
    assert_hostile("pre-exec", "shadow-stack", "out of bounds memory access");
}

#[test]
fn hostile_file_access_outside_the_grants_is_refused() {
    let plugins = start(&[behave("snoop", &[("pre-exec", "read:/etc/hostname")])]);
    let failure = pre_exec_reply(&plugins).unwrap_err();
    assert!(
        failure.reason.starts_with("read /etc/hostname: "),
        "{}",
        failure.reason
    );

    // With a read grant, the same plugin reads what it was granted.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("conf"), "x").unwrap();
    let path = dir.path().join("conf").display().to_string();
    let mut granted = behave("granted", &[("pre-exec", &format!("read:{path}"))]);
    granted.grants.read.push(dir.path().to_path_buf());
    let plugins = start(&[granted]);
    assert!(pre_exec_reply(&plugins).is_ok());
}

#[test]
fn hostile_fetch_without_a_grant_is_denied() {
    let plugins = start(&[behave(
        "exfil",
        &[("pre-exec", "fetch:http://127.0.0.1:9/x")],
    )]);
    let failure = pre_exec_reply(&plugins).unwrap_err();
    assert!(
        failure
            .reason
            .starts_with("denied: 127.0.0.1 is not granted"),
        "{}",
        failure.reason
    );
}

/// 200,000 lines in one hook: the output is cut at the budget, and the hook runs to its end and
/// answers (no failure). Its deadline is raised so that a loaded machine's slowness is not what
/// is measured.
#[test]
fn hostile_log_flood_is_cut_and_the_hook_still_answers() {
    let limits = Limits {
        log_bytes_per_call: 2 << 10,
        on_exit: Duration::from_secs(300),
        ..Limits::default()
    };
    let plugins = start_with(&[behave("flood", &[("on-exit", "flood")])], limits);
    assert_eq!(
        exit_reply(&plugins, ExitInfo::Exited(0)),
        ExitAction::Propagate
    );
    assert!(plugins.take_failures().is_empty());
}

#[test]
fn another_wit_major_version_is_refused_in_one_line() {
    let (plugins, failures) =
        Plugins::start(&[spec("future", &built().wit_v1, &[]), behave("ok", &[])]).unwrap();
    assert_eq!(failures.len(), 1);
    let why = &failures[0].reason;
    assert!(
        why.contains("hookinit:plugin@1.0.0") && why.contains("0.1.x"),
        "{why}"
    );
    assert_eq!(plugins.names().collect::<Vec<_>>(), ["ok"]);
}

#[test]
fn init_failures_are_reported_and_other_plugins_run() {
    let limits = Limits {
        init: Duration::from_millis(300),
        ..Limits::default()
    };
    let (plugins, failures) = Plugins::start_with(
        &[
            behave("badconf", &[("init", "fail:missing config.url")]),
            behave("spins", &[("init", "loop")]),
            behave("good", &[("on-signal", "as:3")]),
        ],
        limits,
    )
    .unwrap();
    let reasons: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
    assert_eq!(
        reasons,
        [
            "plugin badconf: init failed: missing config.url",
            "plugin spins: ran past its deadline of 300 ms",
        ]
    );
    assert_eq!(signal_reply(&plugins, 15), SignalAction::Forward(3));
}

#[test]
fn a_missing_or_bogus_file_is_one_failure() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("x.wasm");
    std::fs::write(&bogus, b"\0asm\x01\0\0\0").unwrap();
    let (_p, failures) = Plugins::start(&[
        spec("missing", Path::new("/nonexistent.wasm"), &[]),
        spec("core", &bogus, &[]),
    ])
    .unwrap();
    assert_eq!(failures.len(), 2);
    assert!(
        failures[0].reason.contains("cannot read /nonexistent.wasm"),
        "{}",
        failures[0]
    );
    assert!(
        failures[1].reason.contains("not a component"),
        "{}",
        failures[1]
    );
}

#[test]
fn sha256_pins_are_checked() {
    let mut pinned = behave("pinned", &[]);
    pinned.sha256 = Some("00".repeat(32).parse().unwrap());
    let (_p, failures) = Plugins::start(&[pinned]).unwrap();
    assert!(
        failures[0].reason.starts_with("sha256 mismatch"),
        "{}",
        failures[0]
    );
}

#[test]
fn url_plugins_need_a_pin() {
    let mut remote = spec("remote", Path::new("/"), &[]);
    remote.source = PluginSource::Url("https://example.invalid/p.wasm".parse().unwrap());
    let (_p, failures) = Plugins::start(&[remote]).unwrap();
    assert!(
        failures[0].reason.contains("is not pinned"),
        "{}",
        failures[0]
    );
}

// ---- the example plugin ---------------------------------------------------------------------

fn wait_for_handler(pid: u32, signal: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let cgt = status.lines().find(|l| l.starts_with("SigCgt:")).unwrap();
        let mask = u64::from_str_radix(cgt["SigCgt:".len()..].trim(), 16).unwrap();
        if mask & (1 << (signal - 1)) != 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("process {pid} never installed a handler for {signal}");
}

#[test]
fn sigguard_drops_signals_the_main_process_does_not_handle() {
    let plugins = start(&[spec("sigguard", &built().sigguard, &[("always", "INT")])]);
    let mut child = Command::new("sh")
        .args(["-c", "trap 'exit 0' USR1; while :; do sleep 0.05; done"])
        .spawn()
        .unwrap();
    wait_for_handler(child.id(), 10);
    plugins.request(Request::SetMainPid(child.id()));
    assert_eq!(
        signal_reply(&plugins, 10),
        SignalAction::Forward(10),
        "USR1 is caught: forwarded"
    );
    assert_eq!(
        signal_reply(&plugins, 15),
        SignalAction::Ignore,
        "TERM is not caught: dropped"
    );
    assert_eq!(
        signal_reply(&plugins, 2),
        SignalAction::Forward(2),
        "INT is in always="
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        signal_reply(&plugins, 15),
        SignalAction::Forward(15),
        "no process: forwarded"
    );
}

// ---- speed ----------------------------------------------------------------------------------

#[test]
fn on_signal_round_trip_is_fast() {
    let plugins = start(&[behave(
        "fwd",
        &[("on-signal", "forward"), ("hooks", "on-signal")],
    )]);
    let mut times: Vec<Duration> = (0..500)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(signal_reply(&plugins, 15), SignalAction::Forward(15));
            t.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    eprintln!(
        "on-signal round trip: median {median:?}, p90 {:?}",
        times[times.len() * 9 / 10]
    );
    assert!(median < Duration::from_millis(5), "median {median:?}");
}

/// Start-up costs, printed (`cargo test --test plugins -- --ignored --nocapture startup_costs`).
#[test]
#[ignore = "a measurement, not a check"]
fn startup_costs() {
    use hookinit_plugin_host::{builtin, cache::Cache, engine, load};
    let wasm = std::fs::read(&built().behave).unwrap();
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let t = Instant::now();
    let engine = engine::engine(hookinit_plugin_host::TARGET).unwrap();
    eprintln!("Engine::new: {:?}", t.elapsed());
    let cold: Vec<Duration> = (0..3)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            let t = Instant::now();
            let l = load::compile_cached(&engine, &wasm, &Cache::new(dir.path())).unwrap();
            assert_eq!(l.origin, load::Origin::Compiled);
            t.elapsed()
        })
        .collect();
    eprintln!(
        "cold compile of a {} KiB plugin (+cache write): median {:?}",
        wasm.len() >> 10,
        median(cold)
    );
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    load::compile_cached(&engine, &wasm, &cache).unwrap();
    let warm: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            let l = load::compile_cached(&engine, &wasm, &cache).unwrap();
            assert_eq!(l.origin, load::Origin::Cache);
            t.elapsed()
        })
        .collect();
    eprintln!(
        "cached load (sha256 + deserialize_file): median {:?}",
        median(warm)
    );
    for e in builtin::all() {
        let times: Vec<Duration> = (0..20)
            .map(|_| {
                let t = Instant::now();
                e.load(&engine).unwrap();
                t.elapsed()
            })
            .collect();
        eprintln!(
            "embedded {}: deserialize median {:?}",
            e.name,
            median(times)
        );
    }
    // The whole start of one plugin through the runtime (thread, engine, load from the cache,
    // instantiate, init), then one pre-exec hook.
    built();
    let starts: Vec<(Duration, Duration)> = (0..20)
        .map(|_| {
            let t = Instant::now();
            let plugins = start(&[behave("b", &[("pre-exec", "push-arg:x")])]);
            let started = t.elapsed();
            let t = Instant::now();
            pre_exec_reply(&plugins).unwrap();
            (started, t.elapsed())
        })
        .collect();
    eprintln!(
        "Plugins::start (cached plugin): median {:?}; first pre-exec round trip: median {:?}",
        median(starts.iter().map(|s| s.0).collect()),
        median(starts.iter().map(|s| s.1).collect())
    );
}

// ---- hookinit plugin compile|inspect|check ----------------------------------------------------

fn cli(args: &[&str]) -> i32 {
    hookinit_plugin_host::cli::main_plugin_cli(args.iter().map(Into::into).collect())
}

#[test]
fn plugin_cli_compiles_inspects_and_checks() {
    let behave = built().behave.display().to_string();
    let v1 = built().wit_v1.display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    assert_eq!(cli(&["compile", &behave, "-o", &out]), 0);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "one .cwasm in the cache"
    );
    assert_eq!(
        cli(&["compile", &behave, "-o", &out]),
        0,
        "already compiled is fine"
    );
    assert_eq!(cli(&["inspect", &behave]), 0);
    let sigguard = built().sigguard.display().to_string();
    assert_eq!(cli(&["check", &sigguard]), 0, "sigguard needs no grant");
    assert_eq!(
        cli(&["check", &behave]),
        0,
        "behave imports fetch but runs without it: a 'may need', not a NO"
    );
    assert_eq!(
        cli(&["check", &behave, "read=/nonexistent-grant-dir"]),
        1,
        "a granted directory that does not exist stops the load"
    );
    let write = format!("write={out}");
    assert_eq!(
        cli(&["check", &behave, "fetch=127.0.0.1", &write]),
        0,
        "granted"
    );
    assert_eq!(cli(&["check", &v1]), 1, "another WIT major does not run");
    assert_eq!(
        cli(&["check", &behave, "config.init=fail:no"]),
        1,
        "init fails"
    );
    assert_eq!(cli(&["check", "/nonexistent.wasm"]), 2);
    assert_eq!(cli(&["frobnicate"]), 2);
}

/// Threads the runtime adds (run alone: `-- --ignored --exact threads_added_by_the_runtime`).
#[test]
#[ignore = "counts the process's threads: meaningful only when run alone"]
fn threads_added_by_the_runtime() {
    let count = || std::fs::read_dir("/proc/self/task").unwrap().count();
    built();
    let before = count();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "x").unwrap();
    let mut reader = behave(
        "reader",
        &[("pre-exec", &format!("read:{}/f", dir.path().display()))],
    );
    reader.grants.read.push(dir.path().to_path_buf());
    let plugins = start(&[reader, behave("sleeper", &[("on-exit", "sleep:10")])]);
    pre_exec_reply(&plugins).unwrap();
    exit_reply(&plugins, ExitInfo::Exited(0));
    eprintln!(
        "threads: {before} before start, {} after file I/O and a sleep",
        count()
    );
    assert_eq!(
        count(),
        before + 3,
        "the worker, the interrupt thread and tokio's timer thread, nothing else"
    );
}

#[test]
fn url_plugins_are_fetched_once_then_come_from_the_cache() {
    let wasm = std::fs::read(&built().behave).unwrap();
    let sha = hookinit_plugin_host::cache::sha256_of(&wasm);
    // The cache outlives the run (see `built`): forget the earlier runs' download.
    let cached = hookinit_plugin_host::cache::Cache::default_dir().join(format!("wasm/{sha}.wasm"));
    let _ = std::fs::remove_file(cached);
    let server = http::HttpServer::start();
    let url = server.route("/plugin.wasm", http::Reply::ok(wasm));
    let mut remote = behave("remote", &[("on-signal", "as:12")]);
    remote.source = PluginSource::Url(url.parse().unwrap());
    remote.sha256 = Some(sha);
    let plugins = start(std::slice::from_ref(&remote));
    assert_eq!(signal_reply(&plugins, 15), SignalAction::Forward(12));
    // The second start asks the server nothing: the pinned component comes from the cache.
    let plugins = start(&[remote]);
    assert_eq!(signal_reply(&plugins, 15), SignalAction::Forward(12));
    assert_eq!(server.requests(), ["GET /plugin.wasm HTTP/1.1"]);
    // A pin that does not match is refused.
    let mut wrong = behave("wrong", &[]);
    wrong.source = PluginSource::Url(
        server
            .route("/wrong.wasm", http::Reply::ok(b"\0asm\r\0\x01\0"))
            .parse()
            .unwrap(),
    );
    wrong.sha256 = Some("11".repeat(32).parse().unwrap());
    let (_p, failures) = Plugins::start(&[wrong]).unwrap();
    assert!(failures[0].reason.contains("sha256"), "{}", failures[0]);
}
