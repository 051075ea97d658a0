//! The static hookinit the images carry: the binary under test, or one built once per run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use super::commands::require;
use super::elf::check_static_executable;
use super::names::sweep_leftovers;

/// The target and cargo profile of the static binary built when the tests themselves were not
/// built for musl (`cargo test` without `--target`).
pub const MUSL: &str = "x86_64-unknown-linux-musl";
pub const PROFILE: &str = "dev";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// The static hookinit, built once per test run:
/// `cargo build --profile dist --target x86_64-unknown-linux-musl -p hookinit`.
///
/// It gets a target dir of its own (`target/containers`): `cargo test` holds the lock on the
/// workspace's target dir while tests run, so a nested build there would wait forever. The first
/// build takes minutes; later runs are incremental.
///
/// `HOOKINIT_TEST_STATIC_BIN=PATH` uses that binary instead (a CI artifact, or a build of another
/// tree); it is checked the same way.
pub fn static_hookinit() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        require("podman");
        require("runc");
        sweep_leftovers();
        if let Some(given) = std::env::var_os("HOOKINIT_TEST_STATIC_BIN").filter(|p| !p.is_empty())
        {
            let bin = PathBuf::from(given);
            require_static_executable(&bin);
            return bin;
        }
        // `cargo test --target x86_64-unknown-linux-musl` (what .ci/run does) builds the binary
        // under test static already: the containers run the very binary the other tests run.
        let under_test = PathBuf::from(env!("CARGO_BIN_EXE_hookinit"));
        let bytes =
            std::fs::read(&under_test).unwrap_or_else(|e| panic!("{}: {e}", under_test.display()));
        if check_static_executable(&bytes).is_ok() {
            return under_test;
        }
        require("musl-gcc");
        let root = workspace_root();
        let target_dir = root.join("target").join("containers");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&root)
            .args(["build", "--quiet", "--locked", "--profile", PROFILE])
            .args(["--target", MUSL, "-p", "hookinit", "--target-dir"])
            .arg(&target_dir);
        // Settings meant for the outer build must not redirect this one.
        for var in [
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "CARGO_BUILD_TARGET_DIR",
        ] {
            cmd.env_remove(var);
        }
        // Straight to stderr, past the test harness's capture: the first build takes minutes.
        let _ = writeln!(
            std::io::stderr(),
            "tests/containers.rs: building the static hookinit ({PROFILE} profile, {MUSL}) in {}",
            target_dir.display()
        );
        let started = Instant::now();
        let status = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .expect("cannot run cargo");
        assert!(
            status.success(),
            "building the static hookinit failed ({status}; cargo's errors are above); is the \
             target installed? (rustup target add {MUSL}; apt-get install musl-tools)"
        );
        let _ = writeln!(
            std::io::stderr(),
            "tests/containers.rs: static hookinit ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let bin = target_dir.join(MUSL).join("debug").join("hookinit");
        require_static_executable(&bin);
        bin
    })
}

/// Panics unless `bin` is what hookinit ships (see [`check_static_executable`]).
fn require_static_executable(bin: &Path) {
    let bytes = std::fs::read(bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    if let Err(why) = check_static_executable(&bytes) {
        panic!(
            "{} is not a static, non-PIE executable: {why}",
            bin.display()
        );
    }
}
