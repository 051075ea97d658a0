//! Real containers, the way a user runs them: the static hookinit in images built from a small
//! busybox root, run by podman (the Docker command line) and by plain runc (the runtime under
//! Docker and Kubernetes). No registry is needed: images are `podman import`ed tarballs.
//!
//! The binary is the one under test when the tests are built with
//! `--target x86_64-unknown-linux-musl` (as `.ci/run` does); otherwise the harness
//! (`containers/harness.rs`) builds a static one once per run (in `target/containers`). It
//! gives every image and container a unique name and removes it on drop, even when a test fails.
//! These tests need root, podman, runc, busybox-static, musl-tools and the musl target; a missing
//! tool fails the test, it never skips silently.
//!
//! Adding a scenario: build an image with [`busybox_image`] (extra files such as an entrypoint
//! script), run it with `image.run()` (`.env`, `.host_network()` for the loopback
//! [`HttpServer`], `.volume` to mount a plugin directory), then wait on observable state
//! (`wait_for_log`, `wait_status`) and assert. Scenarios that need the plugins (verbose trace,
//! fstree from `HttpServer`, the coredump plugin) go in the section at the end.

mod common;
#[path = "containers/harness.rs"]
mod harness;

use std::process::Command;
use std::time::Duration;

use harness::*;
use hookinit_test_http::{HttpServer, Reply};

/// `docker stop` must not wait for its 10 s kill timeout: the main process gets the SIGTERM
/// and the container ends, in well under a second (issue 5). podman itself takes about 0.1 s of
/// this (0.12 to 0.17 s measured here, whole `podman stop`), so a second leaves room for a loaded
/// machine and is still a tenth of the kill timeout.
const STOP_BUDGET: Duration = Duration::from_secs(1);
/// The timeout given to `podman stop`: reaching it would take 10 s, far past [`STOP_BUDGET`].
const STOP_TIMEOUT_S: u32 = 10;

/// A failing entrypoint script, as in the seed's story.
const FAILING_ENTRYPOINT: &str = r#"#!/bin/sh
echo "entrypoint: starting in $APP_MODE mode"
echo "entrypoint: cannot reach the database" >&2
exit 3
"#;

/// An image from the busybox root plus `files` (path, contents, mode), hookinit as ENTRYPOINT.
/// For binary files (a plugin's `.wasm`), use `Rootfs::busybox()` with `.file` or `.copy`, then
/// `Image::import`.
fn busybox_image(tag: &str, files: &[(&str, &str, u32)], cmd: &[&str]) -> Image {
    let rootfs = Rootfs::busybox();
    for (path, contents, mode) in files {
        rootfs.file(path, contents, *mode);
    }
    Image::import(&rootfs, tag, cmd)
}

/// `ps -o pid,ppid,stat,args` inside the container, via `exec`.
fn processes(exec: &dyn Fn(&[&str]) -> String) -> Vec<(u32, u32, String, String)> {
    exec(&["ps", "-o", "pid,ppid,stat,args"])
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let pid = fields.next()?.parse().ok()?;
            let ppid = fields.next()?.parse().ok()?;
            let stat = fields.next()?.to_string();
            let args = fields.collect::<Vec<_>>().join(" ");
            Some((pid, ppid, stat, args))
        })
        .collect()
}

/// Orphans left by an exec'd shell are handed to PID 1, which must reap them when they exit.
/// They block on a FIFO so that the test decides when they end (no timing guesses), and hold
/// none of exec's stdio: `runc exec` (like `docker exec`) waits for its output pipes to close.
fn orphans_of_exec_are_reaped(exec: &dyn Fn(&[&str]) -> String) {
    exec(&[
        "sh",
        "-c",
        "mkfifo /tmp/release && for i in 1 2 3; do cat /tmp/release </dev/null >/dev/null 2>&1 & done; exit 0",
    ]);
    let orphans = |ps: &[(u32, u32, String, String)]| {
        ps.iter()
            .filter(|p| p.3 == "cat /tmp/release")
            .map(|p| p.1)
            .collect::<Vec<_>>()
    };
    let parents = poll("the three orphans to be listed", || {
        let parents = orphans(&processes(exec));
        (parents.len() == 3).then_some(parents)
    });
    assert!(
        parents.iter().all(|&ppid| ppid == 1),
        "the orphans were not handed to PID 1: parents {parents:?}"
    );
    // Let them end: each becomes a zombie until PID 1 reaps it.
    exec(&["sh", "-c", "echo go > /tmp/release"]);
    let ps = poll("the orphans to be gone and no zombie left", || {
        let ps = processes(exec);
        let zombie = ps.iter().any(|p| p.2.contains('Z'));
        (orphans(&ps).is_empty() && !zombie).then_some(ps)
    });
    assert!(ps.iter().any(|p| p.0 == 1), "PID 1 is gone: {ps:?}");
}

// ---------------------------------------------------------------------------------------------
// The binary

/// The binary's size in its release form (`dist` profile) is measured by `bench/run.sh` and
/// recorded in docs/benchmarks.md; here it only has to be static and run on its own.
#[test]
fn static_binary_is_a_static_executable_that_runs_alone() {
    let bin = static_hookinit(); // checked to be static, without PIE
    let out = output(Command::new(bin).arg("--version").env_clear());
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("hookinit "),
        "{out:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// podman

#[test]
fn podman_stop_of_a_healthy_container_is_fast_and_143() {
    let image = busybox_image("stop", &[], &[]);
    let ctr = image
        .run()
        .detached("stop", &["sh", "-c", "echo ready; exec sleep 1000"]);
    ctr.wait_for_log("ready");
    let took = ctr.stop(STOP_TIMEOUT_S);
    eprintln!("podman stop of a healthy container: {took:?}");
    assert_eq!(ctr.exit_code(), 143, "logs:\n{}", ctr.logs());
    assert!(
        took < STOP_BUDGET,
        "podman stop took {took:?}: the SIGTERM did not end the container"
    );
}

#[test]
fn podman_orphans_of_exec_are_reaped() {
    let image = busybox_image("reap", &[], &[]);
    let ctr = image
        .run()
        .detached("reap", &["sh", "-c", "echo ready; exec sleep 1000"]);
    ctr.wait_for_log("ready");
    orphans_of_exec_are_reaped(&|args| ctr.exec_ok(args));
    assert_eq!(ctr.status(), "running");
}

#[test]
fn podman_run_it_gives_the_shell_job_control_and_ctrl_c() {
    let image = busybox_image("tty", &[], &["sh"]);
    let (ctr, mut tty) = image.run().interactive("tty", &[]);
    tty.expect("# "); // the root prompt
    // Arithmetic in the commands keeps the typed text (echoed) apart from the output.
    tty.send("echo \"flags$((1+1))[$-]\"\r");
    let flags = tty.expect_between("flags2[", "]");
    assert!(
        flags.contains('m'),
        "the shell has no job control (flags {flags:?}):\n{}",
        tty.seen
    );
    assert!(!tty.seen.contains("job control turned off"), "{}", tty.seen);

    // A foreground job, then Ctrl-C: it must reach the job, and the shell must survive it.
    tty.send("sleep 1000\r");
    poll("sleep to run in the foreground", || {
        let ps = processes(&|args| ctr.exec_ok(args));
        ps.iter().any(|p| p.3 == "sleep 1000").then_some(())
    });
    tty.send("\x03");
    tty.send("echo \"rc$((1+1))[$?]\"\r");
    let status = tty.expect_between("rc2[", "]");
    assert_eq!(status, "130", "Ctrl-C did not end the job:\n{}", tty.seen);

    // A background job is a job: `jobs` lists it, `kill %1` ends it.
    tty.send("sleep 999 &\r");
    tty.send("jobs; echo \"jobs$((1+1))done\"\r");
    tty.expect("jobs2done");
    assert!(tty.seen.contains("sleep 999"), "{}", tty.seen);
    tty.send("kill %1; exit 7\r");
    let status = tty.wait();
    assert_eq!(status.code(), Some(7), "terminal:\n{}", tty.seen);
    drop(ctr);
}

#[test]
fn podman_image_with_only_hookinit_and_one_static_program() {
    // FROM scratch + two files: hookinit and busybox, called directly (no shell, no links).
    let rootfs = Rootfs::scratch().with_hookinit();
    rootfs.copy(BUSYBOX, "/bin/busybox", 0o755);
    let image = Image::import(
        &rootfs,
        "scratch",
        &["/bin/busybox", "echo", "hello from scratch"],
    );

    let (_ctr, out) = image.run().foreground("scratch-cmd", &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hello from scratch"
    );

    let (_ctr, out) = image
        .run()
        .foreground("scratch-false", &["/bin/busybox", "false"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    let (_ctr, out) = image.run().foreground("scratch-missing", &["/bin/nothing"]);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/bin/nothing"),
        "{out:?}"
    );

    let ctr = image
        .run()
        .detached("scratch-stop", &["/bin/busybox", "sleep", "1000"]);
    poll("sleep to run", || {
        let out = ctr.exec(&["/bin/busybox", "ps", "-o", "args"]);
        String::from_utf8_lossy(&out.stdout)
            .contains("/bin/busybox sleep 1000")
            .then_some(())
    });
    let took = ctr.stop(STOP_TIMEOUT_S);
    eprintln!("podman stop, scratch image: {took:?}");
    assert_eq!(ctr.exit_code(), 143);
    assert!(took < STOP_BUDGET, "podman stop took {took:?}");
}

#[test]
fn podman_stayalive_keeps_a_crashed_container_for_exec_and_stop_ends_it() {
    let image = busybox_image(
        "stay",
        &[("/entrypoint.sh", FAILING_ENTRYPOINT, 0o755)],
        &["/entrypoint.sh"],
    );
    let ctr = image
        .run()
        .env("DEBUG", "stayalive")
        .env("APP_MODE", "production")
        .detached("stay", &[]);
    ctr.wait_for_log("end it:");
    let logs = ctr.logs();
    assert!(
        logs.contains("entrypoint: cannot reach the database"),
        "{logs}"
    );
    assert!(logs.contains("status 3"), "{logs}");
    // The banner names the container the way `docker exec` accepts it (its hostname).
    let hostname = ctr.inspect("{{.Config.Hostname}}");
    assert!(
        logs.contains(&format!("docker exec -it {hostname} sh")),
        "hostname {hostname}: {logs}"
    );
    assert_eq!(ctr.status(), "running", "the container did not stay up");

    let seen = ctr.exec_ok(&[
        "sh",
        "-c",
        ". /run/hookinit/env && echo \"APP_MODE=$APP_MODE\"",
    ]);
    assert_eq!(seen.trim(), "APP_MODE=production");
    let mode = ctr.exec_ok(&["stat", "-c", "%a %u", "/run/hookinit/env"]);
    assert_eq!(
        mode.trim(),
        "600 0",
        "the environment file must be root's only"
    );

    let took = ctr.stop(STOP_TIMEOUT_S);
    eprintln!("podman stop of a staying container: {took:?}");
    assert_eq!(
        ctr.exit_code(),
        3,
        "not the failure status; logs:\n{}",
        ctr.logs()
    );
    assert!(took < STOP_BUDGET, "podman stop took {took:?}");
}

#[test]
fn podman_builds_and_runs_examples_dockerfile_add_to_image() {
    // An "existing image" in the shape of postgres: ENTRYPOINT docker-entrypoint.sh, CMD postgres.
    let rootfs = Rootfs::busybox_only();
    rootfs.file(
        "/usr/local/bin/docker-entrypoint.sh",
        "#!/bin/sh\necho \"original entrypoint: $* (PID 1: $(cat /proc/1/comm))\"\n",
        0o755,
    );
    let base = Image::import_with(
        &rootfs,
        "base",
        &[
            r#"ENTRYPOINT ["docker-entrypoint.sh"]"#.into(),
            r#"CMD ["postgres"]"#.into(),
        ],
    );
    let context = tempfile::tempdir().unwrap();
    std::fs::copy(static_hookinit(), context.path().join("hookinit")).unwrap();
    let dockerfile = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/Dockerfile.add-to-image");
    let image = Image::build(
        &dockerfile,
        context.path(),
        &[("BASE", &base.name)],
        "added",
    );
    assert_eq!(
        image.inspect("{{json .Config.Entrypoint}}"),
        r#"["/usr/local/bin/hookinit","--"]"#
    );
    let (_ctr, out) = image.run().foreground("added", &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "original entrypoint: postgres (PID 1: hookinit)"
    );
}

#[test]
fn podman_host_network_fetches_a_tarball_from_a_loopback_server() {
    // The plumbing the fstree scenario needs: on the host network, a container fetches a tarball
    // that the test serves on 127.0.0.1, and unpacks it (here with busybox, later with fstree).
    let fix = tar_gz(&[("etc/app.conf", b"mode=fixed\n", 0o644)]);
    let server = HttpServer::start();
    let url = server.route("/fix.tar.gz", Reply::ok(fix));
    let image = busybox_image("http", &[], &[]);
    let script = format!("wget -q -O - {url} | tar -xzf - -C / && cat /etc/app.conf");
    let (_ctr, out) = image
        .run()
        .host_network()
        .foreground("http", &["sh", "-c", &script]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "mode=fixed\n");
    assert_eq!(server.requests(), ["GET /fix.tar.gz HTTP/1.1"]);
}

// ---------------------------------------------------------------------------------------------
// runc

#[test]
fn runc_stop_of_a_healthy_container_is_fast_and_143() {
    let mut ctr = RuncContainer::run_detached(
        Rootfs::busybox(),
        "runc-stop",
        &[
            HOOKINIT_IN_IMAGE,
            "--",
            "sh",
            "-c",
            "echo ready; exec sleep 1000",
        ],
        &[],
    );
    ctr.wait_for_log("ready");
    assert_eq!(ctr.state(), "running");
    let started = std::time::Instant::now();
    ctr.kill("TERM");
    let code = ctr.wait_exit();
    let took = started.elapsed();
    eprintln!("runc kill TERM to exit, healthy container: {took:?}");
    assert_eq!(code, 143, "log:\n{}", ctr.log());
    assert!(took < STOP_BUDGET, "took {took:?}");
    assert_eq!(ctr.state(), "stopped");
}

#[test]
fn runc_stayalive_keeps_a_crashed_container_for_exec_and_kill_ends_it() {
    let rootfs = Rootfs::busybox();
    rootfs.file("/entrypoint.sh", FAILING_ENTRYPOINT, 0o755);
    let mut ctr = RuncContainer::run_detached(
        rootfs,
        "runc-stay",
        &[HOOKINIT_IN_IMAGE, "--", "/entrypoint.sh"],
        &["DEBUG=stayalive", "APP_MODE=production"],
    );
    ctr.wait_for_log("end it:");
    let log = ctr.log();
    assert!(log.contains("status 3"), "{log}");
    assert!(
        log.contains(&format!("docker exec -it {} sh", ctr.id)),
        "{log}"
    );
    assert_eq!(ctr.state(), "running", "the container did not stay up");

    let seen = ctr.exec_ok(&[
        "sh",
        "-c",
        ". /run/hookinit/env && echo \"APP_MODE=$APP_MODE\"",
    ]);
    assert_eq!(seen.trim(), "APP_MODE=production");
    orphans_of_exec_are_reaped(&|args| ctr.exec_ok(args));

    let started = std::time::Instant::now();
    ctr.kill("TERM");
    let code = ctr.wait_exit();
    let took = started.elapsed();
    eprintln!("runc kill TERM to exit, staying container: {took:?}");
    assert_eq!(code, 3, "not the failure status; log:\n{}", ctr.log());
    assert!(took < STOP_BUDGET, "took {took:?}");
    assert_eq!(ctr.state(), "stopped");
}

// ---------------------------------------------------------------------------------------------
// With plugins

/// The seed's story: `docker run -e DEBUG=verbose,stayalive,fstree=URL IMAGE` on an image whose
/// entrypoint fails. The fix is unpacked over the image before the entrypoint runs, the trace is
/// in the logs, the container stays up for `exec`, and `stop` ends it with the failure status.
#[test]
fn podman_the_seed_story_verbose_stayalive_fstree() {
    const ENTRYPOINT: &str = r#"#!/bin/sh
. /etc/app.conf
echo "entrypoint: mode $MODE"
echo "entrypoint: cannot reach the database" >&2
exit 3
"#;
    let image = busybox_image(
        "story",
        &[
            ("/entrypoint.sh", ENTRYPOINT, 0o755),
            ("/etc/app.conf", "MODE=broken\n", 0o644),
        ],
        &["/entrypoint.sh"],
    );
    let fix = tar_gz(&[("etc/app.conf", b"MODE=fixed\n", 0o644)]);
    let server = HttpServer::start();
    let url = server.route("/fix.tar.gz", Reply::ok(fix));
    // strip=0: the fix is one top folder (`etc/`), which fstree would otherwise strip like
    // GitHub's `repo-ref/`.
    let debug = format!("verbose,stayalive,fstree={url},strip=0");
    let ctr = image
        .run()
        .host_network()
        .env("DEBUG", &debug)
        .detached("story", &[]);
    ctr.wait_for_log("end it:");
    let logs = ctr.logs();
    assert_eq!(server.requests(), ["GET /fix.tar.gz HTTP/1.1"]);
    // fstree ran before the entrypoint, and the entrypoint read the patched file.
    assert!(logs.contains("into /: 1 file"), "{logs}");
    assert!(logs.contains("entrypoint: mode fixed"), "{logs}");
    // verbose: the script traced line by line (`sh -x`), and hookinit's own lifecycle steps.
    for traced in ["+ . /etc/app.conf", "+ exit 3"] {
        assert!(
            logs.lines()
                .any(|l| l.starts_with('+') && l.contains(&traced[2..])),
            "no trace of `{traced}`:\n{logs}"
        );
    }
    assert!(logs.contains("exited with status 3"), "{logs}");
    assert_eq!(ctr.status(), "running", "the container did not stay up");

    // `docker exec` sees the patched tree and the main process's environment.
    let seen = ctr.exec_ok(&[
        "sh",
        "-c",
        ". /run/hookinit/env && echo \"DEBUG=$DEBUG\" && cat /etc/app.conf",
    ]);
    assert_eq!(seen, format!("DEBUG={debug}\nMODE=fixed\n"));

    let took = ctr.stop(STOP_TIMEOUT_S);
    eprintln!("podman stop after the seed's story: {took:?}");
    assert_eq!(ctr.exit_code(), 3, "logs:\n{}", ctr.logs());
    assert!(took < STOP_BUDGET, "podman stop took {took:?}");
}

/// `plugin=/debug/coredump.wasm` mounted from the host, cores collected into a host directory.
#[test]
fn podman_coredump_plugin_from_the_host_collects_a_core() {
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    assert_eq!(
        pattern.trim(),
        "core",
        "this test needs the kernel's core_pattern to be `core` (a file in the crashing \
         process's directory, inside the container): echo core > /proc/sys/kernel/core_pattern"
    );
    let plugins = common::build_plugins(&["coredump"]);
    let cores = tempfile::tempdir().unwrap();
    let rootfs = Rootfs::busybox();
    rootfs.mkdir("/app");
    let image = Image::import(&rootfs, "coredump", &["sh", "-c", "kill -ABRT $$"]);
    let (_ctr, out) = image
        .run()
        .volume(&plugins, "/debug", "ro")
        .volume(cores.path(), "/cores", "")
        .arg("--workdir=/app")
        .env(
            "DEBUG",
            "plugin=/debug/coredump.wasm,write=/cores,read=/app",
        )
        .foreground("coredump", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128 + 6), "{stderr}");
    let (core, summary) = common::collected_core(cores.path(), &stderr);
    let size = std::fs::metadata(&core).unwrap().len();
    assert!(size > 0, "{stderr}");
    assert!(
        stderr.contains(&format!("core ({size} bytes) copied from")),
        "{stderr}"
    );
    assert!(summary.contains("killed by SIGABRT"), "{summary}");
}
