#!/usr/bin/env python3
"""hookinit's benchmarks, side by side with tini, dumb-init and catatonit (python3 stdlib only).

Run it through `bash bench/run.sh` (see `--help`). It builds hookinit in release, finds the other
inits, builds its helper programs (bench/helpers/probe.c, and the plugin in bench/plugin when the
binary runs plugins), measures every init on the same work, interleaved (each iteration runs every
init once, in a rotating order, so that a burst of load on a shared machine hits all of them
alike), prints a Markdown report and rewrites its own section of docs/benchmarks.md (between
`<!-- bench:begin -->` and `<!-- bench:end -->`).

Timestamps are CLOCK_MONOTONIC everywhere (time.monotonic_ns() here, clock_gettime in the probe).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import io
import json
import math
import os
import platform
import random
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"
TRUE = "/bin/true"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INSTALL_HINT = "apt-get install tini dumb-init catatonit"

# Goals (issue 6).
GOAL_START_RATIO = 1.10  # start-to-exit median <= 1.1 x tini's
GOAL_RSS_KB = 2048  # peak RSS without plugins <= 2 MiB
GOAL_SIGNAL_P99_NS = 1_000_000  # signal forwarding p99 <= 1 ms
GOAL_VERBOSE_NS = 3_000_000  # DEBUG=verbose start overhead <= 3 ms
GOAL_FSTREE_RATIO = 0.90  # fstree speed >= 0.9 x tar -xzf's

# Binary size goals (issue 5), bytes, per --dist build.
SIZE_GOALS = {"dist": 10_000_000, "dist, no compiler": 4_000_000}

FSTREE_ARCHIVE_VERSION = 2  # bump when make_archive changes


@dataclass
class Counts:
    start: int  # start-to-exit iterations (each runs every variant once)
    rss: int  # RSS runs per variant
    signals: int  # signals per variant
    reap_runs: int  # reaping runs per init
    orphans: int  # zombies per reaping run
    fstree_runs: int  # fstree / tar runs
    warmup: int


DEFAULT = Counts(start=600, rss=15, signals=3000, reap_runs=5, orphans=10_000, fstree_runs=3, warmup=20)
QUICK = Counts(start=40, rss=3, signals=200, reap_runs=1, orphans=1_000, fstree_runs=1, warmup=3)


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def die(msg: str) -> None:
    print(f"bench: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


# ------------------------------------------------------------------------------------------------
# Statistics and formatting


def quantile(values: list[int], q: float) -> int:
    """Nearest-rank quantile (q in 0..1) of a non-empty list."""
    s = sorted(values)
    k = max(1, math.ceil(q * len(s)))
    return s[min(k, len(s)) - 1]


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def ms(ns: float, digits: int = 2) -> str:
    return f"{ns / 1e6:.{digits}f} ms"


def us(ns: float) -> str:
    return f"{ns / 1e3:.0f} µs"


def kb(v: float) -> str:
    return f"{v:,.0f} kB"


# ------------------------------------------------------------------------------------------------
# Processes


class Spawner:
    """posix_spawn (vfork-like, so the driver's own size costs nothing) with stdin/out/err on
    /dev/null unless given, and wait4 for the status and the rusage."""

    def __init__(self) -> None:
        self.null_r = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        self.null_w = os.open("/dev/null", os.O_WRONLY | os.O_CLOEXEC)

    def spawn(self, argv: list[str], env: dict[str, str], stdin=None, stdout=None, stderr=None) -> int:
        actions = [
            (os.POSIX_SPAWN_DUP2, self.null_r if stdin is None else stdin, 0),
            (os.POSIX_SPAWN_DUP2, self.null_w if stdout is None else stdout, 1),
            (os.POSIX_SPAWN_DUP2, self.null_w if stderr is None else stderr, 2),
        ]
        return os.posix_spawn(argv[0], argv, env, file_actions=actions)

    def timed_run(self, argv: list[str], env: dict[str, str]) -> int:
        """Start-to-exit of argv in ns: from just before posix_spawn to wait4's return."""
        t0 = time.monotonic_ns()
        pid = self.spawn(argv, env)
        _, status, _ = os.wait4(pid, 0)
        t1 = time.monotonic_ns()
        if status != 0:
            raise BenchError(f"`{' '.join(argv)}` ended with wait status {status:#x}")
        return t1 - t0

    def run_capture(self, argv: list[str], env: dict[str, str], timeout: float = 30.0):
        """Runs argv with stdout on a pipe; returns (stdout, wait status, rusage)."""
        r, w = os.pipe()
        try:
            pid = self.spawn(argv, env, stdout=w)
        finally:
            os.close(w)
        out = b""
        deadline = time.monotonic() + timeout
        with os.fdopen(r, "rb", buffering=0) as f:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([f], [], [], left)[0]:
                    os.kill(pid, signal.SIGKILL)
                    os.wait4(pid, 0)
                    raise BenchError(f"`{' '.join(argv)}` did not finish within {timeout:.0f} s")
                chunk = f.read(65536)
                if not chunk:
                    break
                out += chunk
        _, status, ru = os.wait4(pid, 0)
        return out.decode(errors="replace"), status, ru


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("text", True)
    return subprocess.run(cmd, **kw)


# ------------------------------------------------------------------------------------------------
# What is measured


@dataclass
class Variant:
    """One init (or hookinit with a debug option) as the benchmark runs it."""

    name: str
    prefix: list[str]  # argv up to and including `--`, when not PID 1
    env: dict[str, str]
    prefix_pid1: list[str] | None = None  # when PID 1 of a PID namespace (reaping)
    is_init: bool = True  # one of the four inits compared side by side
    note: str = ""


@dataclass
class Setup:
    hookinit: Path
    probe: Path
    target_dir: Path
    inits: list[Variant]  # hookinit, tini, dumb-init, catatonit
    extras: list[Variant] = field(default_factory=list)  # hookinit-only variants
    unavailable: list[tuple[str, str]] = field(default_factory=list)  # (measurement, why)
    notes: list[str] = field(default_factory=list)
    plugin_variant: Variant | None = None
    plugin_wasm: Path | None = None
    plugin_cache: Path | None = None
    fstree_ready: bool = False
    unpack_via_plugin: bool = False  # fstree missing: time the unpack service from bench/plugin
    versions: dict[str, str] = field(default_factory=dict)
    sizes: list[tuple[str, Path]] = field(default_factory=list)  # shipped builds (--dist)


def base_env() -> dict[str, str]:
    # The same small environment for every init: nothing of the caller's (no DEBUG, TINI_*, ...).
    return {"PATH": PATH}


def rotate(items: list, i: int) -> list:
    k = i % len(items)
    return items[k:] + items[:k]


def measure_start(sp: Spawner, variants: list[Variant], n: int, warmup: int) -> dict[str, list[int]]:
    """Start-to-exit of `INIT -- /bin/true`, and of /bin/true alone, interleaved."""
    bare = Variant("/bin/true alone", [], base_env(), is_init=False)
    allv = variants + [bare]
    res: dict[str, list[int]] = {v.name: [] for v in allv}
    for i in range(warmup + n):
        for v in rotate(allv, i):
            t = sp.timed_run(v.prefix + [TRUE], v.env)
            if i >= warmup:
                res[v.name].append(t)
    return res


def measure_rss(sp: Spawner, variants: list[Variant], probe: Path, n: int) -> dict[str, dict[str, list[int]]]:
    """Peak RSS of the init itself: VmHWM of /proc/PPID/status read by `probe rss` (the main
    process) while the init supervises it; and, as a cross-check, wait4's ru_maxrss of the init
    as `probe launch` (small, static) sees it: the maximum over the init and the children it
    waited for, an upper bound of the init's own peak over its whole life."""
    res = {v.name: {"hwm": [], "maxrss": []} for v in variants}
    for i in range(n):
        for v in rotate(variants, i):
            argv = [str(probe), "launch"] + v.prefix + [str(probe), "rss"]
            out, status, _ = sp.run_capture(argv, v.env)
            m = re.search(r"hwm_kb=(\d+)", out)
            m2 = re.search(r"status=(\d+) maxrss_kb=(\d+)", out)
            if status != 0 or not m or not m2 or m2.group(1) != "0":
                raise BenchError(f"{v.name}: `probe rss` failed: wait status {status:#x}, output {out!r}")
            res[v.name]["hwm"].append(int(m.group(1)))
            res[v.name]["maxrss"].append(int(m2.group(2)))
    return res


class SigTarget:
    """An init running `probe sig`, ready to take SIGTERMs."""

    def __init__(self, sp: Spawner, v: Variant, probe: Path) -> None:
        self.v = v
        r_out, w_out = os.pipe()
        r_in, w_in = os.pipe()
        try:
            self.pid = sp.spawn(v.prefix + [str(probe), "sig"], v.env, stdin=r_in, stdout=w_out)
        finally:
            os.close(w_out)
            os.close(r_in)
        self.out = r_out
        self.stdin = w_in
        if self.read(1, 10.0) != b"R":
            self.kill()
            raise BenchError(f"{v.name}: `probe sig` did not start")

    def read(self, n: int, timeout: float) -> bytes | None:
        buf = b""
        deadline = time.monotonic() + timeout
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.out], [], [], left)[0]:
                return None
            chunk = os.read(self.out, n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def latency(self) -> int:
        t0 = time.monotonic_ns()
        os.kill(self.pid, signal.SIGTERM)
        data = self.read(8, 5.0)
        if data is None:
            raise BenchError(f"{self.v.name}: the child's SIGTERM handler did not run within 5 s")
        return struct.unpack("=Q", data)[0] - t0

    def finish(self) -> None:
        os.close(self.stdin)  # the probe exits 0 at end of file, and the init with it
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.out)
                if status != 0:
                    raise BenchError(f"{self.v.name}: ended with wait status {status:#x} after the signals")
                return
            time.sleep(0.005)
        self.kill()
        raise BenchError(f"{self.v.name}: did not exit after its main process did")

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except OSError:
            pass


def measure_signals(sp: Spawner, variants: list[Variant], probe: Path, n: int, warmup: int) -> dict[str, list[int]]:
    """Time from kill(INIT, SIGTERM) to the main process's handler running, interleaved."""
    direct = Variant("no init (kill the probe itself)", [], base_env(), is_init=False)
    allv = variants + [direct]
    targets = [SigTarget(sp, v, probe) for v in allv]
    res: dict[str, list[int]] = {v.name: [] for v in allv}
    try:
        for i in range(warmup + n):
            for t in rotate(targets, i):
                lat = t.latency()
                if i >= warmup:
                    res[t.v.name].append(lat)
    except BaseException:
        for t in targets:
            t.kill()
        raise
    for t in targets:
        t.finish()
    return res


def measure_reaping(variants: list[Variant], probe: Path, runs: int, orphans: int) -> dict[str, list[int]]:
    """N orphaned zombies handed to the init as PID 1 of a new PID namespace: time from their
    parent's exit until the last one is reaped (measured by the probe, see probe.c)."""
    res: dict[str, list[int]] = {v.name: [] for v in variants}
    for i in range(runs):
        for v in rotate(variants, i):
            argv = ["unshare", "--pid", "--fork", "--mount-proc"] + v.prefix_pid1 + [str(probe), "orphans", str(orphans)]
            p = run(argv, env=v.env, capture_output=True, timeout=300)
            m = re.search(r"reap_ns=(\d+)", p.stdout)
            if p.returncode != 0 or not m:
                raise BenchError(
                    f"{v.name}: reaping run failed (exit {p.returncode}): {p.stdout.strip()} {p.stderr.strip()}"
                )
            res[v.name].append(int(m.group(1)))
    return res


# ------------------------------------------------------------------------------------------------
# fstree against tar -xzf


def make_archive(path: Path, target_mb: int = 50) -> None:
    """A deterministic tar.gz of about target_mb MB that looks like a patch of a root
    filesystem: mostly small text files (configuration, scripts), some partly compressible data
    files, a few incompressible ones (compressed assets), relative symlinks, in nested folders;
    about half the size of what it unpacks to."""
    rng = random.Random(20260601)
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(2, 10))) for _ in range(2000)]
    table16 = bytes(0x41 + (b & 15) for b in range(256))
    tmp = path.with_suffix(".tmp")
    budget = target_mb * 1_000_000
    with tarfile.open(tmp, "w:gz", compresslevel=6, format=tarfile.GNU_FORMAT) as tar:
        gz = tar.fileobj  # the gzip stream; its file's position is the compressed size so far
        dirs_made = set()
        i = 0
        while gz.fileobj.tell() < budget:
            d = f"usr/share/bench/d{i % 97:02d}/s{i % 13}"
            if d not in dirs_made:
                dirs_made.add(d)
                info = tarfile.TarInfo(d)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
                tar.addfile(info)
            info = tarfile.TarInfo()
            info.mode, info.mtime = 0o644, 1_700_000_000
            info.uname = info.gname = "root"
            if i % 100 == 99:  # a symlink to an earlier file of the same folder
                info.name, info.type, info.linkname = f"{d}/l{i}", tarfile.SYMTYPE, f"f{i - 97 * 13}.conf"
                tar.addfile(info)
                i += 1
                continue
            r = rng.random()
            if r < 0.96:  # text
                data = b" ".join(rng.choice(words) for _ in range(rng.randint(50, 2000))) + b"\n"
                info.name = f"{d}/f{i}.conf"
            elif r < 0.99:  # half-compressible data
                data = rng.randbytes(rng.randint(10_000, 200_000)).translate(table16)
                info.name = f"{d}/f{i}.dat"
            else:  # incompressible
                data = rng.randbytes(rng.randint(50_000, 250_000))
                info.name = f"{d}/f{i}.bin"
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            i += 1
    tmp.rename(path)


def dir_size(path: Path) -> tuple[int, int]:
    files = size = 0
    for root, _, names in os.walk(path):
        for n in names:
            files += 1
            size += os.lstat(os.path.join(root, n)).st_size
    return files, size


def fstree_variant_env(setup: Setup, archive: Path, dest: Path) -> dict[str, str]:
    env = base_env()
    env["HOOKINIT_DEBUG"] = f"fstree=file://{archive},dest={dest}"
    return env


def plugin_unpack_env(setup: Setup, archive: Path, dest: Path) -> dict[str, str]:
    env = base_env()
    env["HOOKINIT_CACHE_DIR"] = str(setup.plugin_cache)
    env["HOOKINIT_DEBUG"] = (
        f"plugin={setup.plugin_wasm},read={archive.parent},write={dest},"
        f"config.unpack={archive},config.dest={dest}"
    )
    return env


def probe_fstree(setup: Setup, scratch: Path) -> str | None:
    """None when DEBUG=fstree works in this binary, else why not."""
    src = scratch / "fstree-probe-src"
    (src / "etc").mkdir(parents=True, exist_ok=True)
    (src / "etc" / "bench-fstree").write_text("ok\n")
    archive = scratch / "fstree-probe.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "etc", arcname="etc")
    dest = scratch / "fstree-probe-dest"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    env = fstree_variant_env(setup, archive, dest) | {"HOOKINIT_VERBOSITY": "2"}
    p = run([str(setup.hookinit), "--", TRUE], env=env, capture_output=True, timeout=60)
    if p.returncode == 0 and (dest / "etc" / "bench-fstree").exists():
        return None
    said = [l.strip() for l in p.stderr.splitlines() if "fstree" in l or "error" in l]
    why = said[-1] if said else "it logs nothing about fstree"
    return f"`DEBUG=fstree=file://…,dest=DIR hookinit -- /bin/true` exits {p.returncode} and unpacks nothing; {why}"


def measure_fstree(setup: Setup, scratch: Path, runs: int) -> dict:
    archive = setup.target_dir / "bench" / f"fstree-50M-v{FSTREE_ARCHIVE_VERSION}.tar.gz"
    if not archive.exists():
        log(f"making the 50 MB test archive {archive} (once)")
        archive.parent.mkdir(parents=True, exist_ok=True)
        make_archive(archive)
    size = archive.stat().st_size
    res = {"tar": [], "fstree": [], "archive_bytes": size, "via_plugin": not setup.fstree_ready}
    hk_env = plugin_unpack_env if not setup.fstree_ready else fstree_variant_env
    # Unpacked into a tmpfs of its own: on a disk file system the writing costs depend on its
    # history, not on the unpacker. ext4 without a journal (this machine's root) skips inodes
    # freed in the last minutes when it allocates (`recently_deleted`), so each round's cleanup
    # slowed the next: `tar -xzf` of this archive went from 0.9 s to 7.1 s within a session,
    # nearly all system time in that scan, for tar and fstree alike but not evenly.
    mnt = scratch / "unpack-tmpfs"
    mnt.mkdir()
    p = run(["mount", "-t", "tmpfs", "-o", "size=1g,mode=0755", "bench-unpack", str(mnt)],
            capture_output=True)
    if p.returncode != 0:
        raise BenchError(f"cannot mount a tmpfs for the unpacking round (root needed): {p.stderr.strip()}")
    try:
        return unpack_rounds(setup, archive, mnt, runs, hk_env, res)
    finally:
        run(["umount", str(mnt)], capture_output=True)


def unpack_rounds(setup: Setup, archive: Path, mnt: Path, runs: int, hk_env, res: dict) -> dict:
    tar_dest = mnt / "tar-dest"
    fs_dest = mnt / "fstree-dest"
    for i in range(runs):
        for which in rotate(["tar", "fstree"], i):
            dest = tar_dest if which == "tar" else fs_dest
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            os.sync()
            if which == "tar":
                argv, env = ["tar", "-xzf", str(archive), "-C", str(dest)], base_env()
            else:
                argv, env = [str(setup.hookinit), "--", TRUE], hk_env(setup, archive, dest)
            t0 = time.monotonic_ns()
            p = run(argv, env=env, capture_output=True, timeout=600)
            t1 = time.monotonic_ns()
            if p.returncode != 0:
                raise BenchError(f"{which}: exit {p.returncode}: {p.stderr.strip()}")
            res[which].append(t1 - t0)
    res["files"], res["bytes"] = dir_size(tar_dest)
    got = dir_size(fs_dest)
    if got != (res["files"], res["bytes"]):
        raise BenchError(f"fstree unpacked {got} (files, bytes), tar {(res['files'], res['bytes'])}")
    shutil.rmtree(tar_dest, ignore_errors=True)
    shutil.rmtree(fs_dest, ignore_errors=True)
    return res


# ------------------------------------------------------------------------------------------------
# Setup: build, find, check


def cargo_target_dir() -> Path:
    p = run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT, capture_output=True)
    if p.returncode != 0:
        die(f"cargo metadata failed: {p.stderr.strip()}")
    return Path(json.loads(p.stdout)["target_directory"])


def cargo_build(cmd: list[str], hint: str) -> Path:
    """Runs `cargo build ...` and returns the hookinit executable it reports."""
    log("building: " + " ".join(cmd))
    p = run(cmd + ["--message-format=json-render-diagnostics"], cwd=ROOT, stdout=subprocess.PIPE)
    if p.returncode != 0:
        die(" ".join(cmd) + f" failed (see above){hint}")
    for line in p.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "hookinit" and msg.get("executable"):
            return Path(msg["executable"])
    die("cargo did not report the hookinit executable: " + " ".join(cmd))
    raise AssertionError


def build_hookinit() -> Path:
    return cargo_build(["cargo", "build", "--release", "-p", "hookinit"], "")


def build_dist(out: Path, no_compiler: bool) -> Path:
    """The shipped binary (static musl, `dist` profile), with or without Cranelift, copied to
    `out` (both variants build to the same path)."""
    cmd = ["cargo", "build", "--profile", "dist", "--target", "x86_64-unknown-linux-musl", "-p", "hookinit"]
    if no_compiler:
        cmd += ["--no-default-features", "--features", "plugins"]
    built = cargo_build(cmd, "; rustup target add x86_64-unknown-linux-musl; apt-get install musl-tools")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(built, out)
    return out


def check_no_compiler(setup: Setup, lean: Path, scratch: Path) -> None:
    """The build without a compiler (nor https) must run the built-in plugins and a plugin
    precompiled by a full build, say what to do with one that is not precompiled, and refuse
    https in one line. A failure stops the run."""
    hk = str(lean)
    env = base_env() | {"HOOKINIT_DEBUG": "verbose", "HOOKINIT_CACHE_DIR": str(scratch / "lean-cache")}
    p = run([hk, "--", TRUE], env=env, capture_output=True, timeout=60)
    if p.returncode != 0 or "plugin verbose: embedded" not in p.stderr:
        die(f"the build without a compiler cannot run DEBUG=verbose (exit {p.returncode}): {p.stderr.strip()[-400:]}")
    checks = ["runs DEBUG=verbose (embedded, precompiled)"]
    if setup.plugin_wasm:
        env = base_env() | {"HOOKINIT_DEBUG": f"plugin={setup.plugin_wasm}", "HOOKINIT_CACHE_DIR": str(setup.plugin_cache)}
        p = run([hk, "--", "/usr/bin/env"], env=env, capture_output=True, timeout=60)
        if "HOOKINIT_BENCH_PLUGIN=ran" not in p.stdout:
            die(f"the build without a compiler did not run bench/plugin precompiled by `hookinit plugin compile`: {p.stderr.strip()[-400:]}")
        checks.append("runs bench/plugin precompiled by the full build's `hookinit plugin compile`")
        empty = scratch / "lean-empty-cache"
        env["HOOKINIT_CACHE_DIR"] = str(empty)
        p = run([hk, "--", TRUE], env=env, capture_output=True, timeout=60)
        if p.returncode != 0 or "built without a compiler" not in p.stderr:
            die(f"the build without a compiler, given a plugin that is not precompiled, should run the main process and say why the plugin did not load: exit {p.returncode}: {p.stderr.strip()[-400:]}")
        checks.append("reports a plugin that is not precompiled in one line and runs the main process")
    # The smallest build has no https: it must say so rather than try (nothing listens there).
    env = base_env() | {"HOOKINIT_DEBUG": "fstree=https://127.0.0.1:9/fix.tar.gz"}
    p = run([hk, "--", TRUE], env=env, capture_output=True, timeout=60)
    if p.returncode != 2 or "built without https" not in p.stderr:
        die(f"the build without a compiler and https, given an https fstree, should refuse it in one line and exit 2: exit {p.returncode}: {p.stderr.strip()[-400:]}")
    checks.append("refuses fstree=https://... in one line (built without https), exit 2")
    setup.notes.append("the build without a compiler, checked on this run: " + "; ".join(checks))


def describe_binary(path: Path) -> str:
    f = run(["file", "-L", str(path)], capture_output=True).stdout
    link = "static" if "statically linked" in f or "static-pie" in f else "dynamic"
    return f"{link}, {path.stat().st_size // 1024} KiB"


def build_probe(out_dir: Path) -> Path:
    src = ROOT / "bench" / "helpers" / "probe.c"
    out = out_dir / "probe"
    out_dir.mkdir(parents=True, exist_ok=True)
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        die("no C compiler (cc) to build bench/helpers/probe.c: apt-get install gcc libc6-dev")
    if out.exists() and out.stat().st_mtime >= src.stat().st_mtime:
        return out
    p = run([cc, "-O2", "-static", "-Wall", "-o", str(out), str(src)], capture_output=True)
    if p.returncode != 0:
        die(f"cannot build {src}: {p.stderr.strip()}")
    return out


def find_inits() -> dict[str, Path]:
    found, missing = {}, []
    for name in ("tini", "dumb-init", "catatonit"):
        path = shutil.which(name, path=PATH + ":" + os.environ.get("PATH", ""))
        if path:
            found[name] = Path(path)
        else:
            missing.append(name)
    if missing:
        die(f"not found: {', '.join(missing)}; install them with: {INSTALL_HINT}")
    return found


def versions(hookinit: Path, build_kind: str, inits: dict[str, Path]) -> dict[str, str]:
    out = {}
    for name, path in inits.items():
        p = run(["dpkg-query", "-W", "-f", "${Version}", name], capture_output=True)
        v = p.stdout.strip() if p.returncode == 0 else ""
        link = "static" if "statically linked" in run(["file", "-L", str(path)], capture_output=True).stdout else ""
        if not link:
            ldd = run(["ldd", str(path)], capture_output=True)
            link = "static" if ldd.returncode != 0 or "not a dynamic" in ldd.stdout + ldd.stderr else "dynamic, glibc"
        out[name] = f"{v or '?'} ({link}, {path.stat().st_size // 1024} KiB)"
    rev = run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True).stdout.strip()
    where = f"{hookinit}, " if build_kind == "given binary" else ""
    out["hookinit"] = f"{rev or '?'} ({build_kind}, {where}{hookinit.stat().st_size // 1024} KiB)"
    return out


def hookinit_plugin_runtime(setup: Setup, scratch: Path, counts_quick: bool) -> None:
    """Wires the hookinit-only measurements that this binary supports; records why the others
    are skipped."""
    hk = str(setup.hookinit)
    cache = scratch / "plugin-cache"
    cache.mkdir(parents=True, exist_ok=True)

    # DEBUG=verbose: native lifecycle trace + the built-in `verbose` plugin.
    env = base_env() | {"HOOKINIT_DEBUG": "verbose", "HOOKINIT_CACHE_DIR": str(cache)}
    p = run([hk, "--", TRUE], env=env, capture_output=True, timeout=60)
    if p.returncode != 0:
        setup.unavailable.append(("DEBUG=verbose start overhead", f"`DEBUG=verbose hookinit -- /bin/true` exits {p.returncode}: {p.stderr.strip()[-300:]}"))
    else:
        setup.extras.append(Variant("hookinit DEBUG=verbose", [hk, "--"], env, is_init=False))
        missing = [l for l in p.stderr.splitlines() if "verbose" in l and ("not embedded" in l or "error" in l.lower())]
        if missing:
            setup.notes.append(
                "DEBUG=verbose measured without its built-in plugin, which this build does not have: "
                + missing[0].strip()
            )

    # One user plugin, compiled in the cache beforehand.
    why = user_plugin(setup, scratch, cache)
    if why:
        setup.unavailable.append(("one user plugin (cached): start overhead, on-signal round trip", why))

    # fstree.
    why = probe_fstree(setup, scratch)
    if why:
        setup.unavailable.append(("fstree against tar -xzf (50 MB tar.gz)", why))
        if setup.plugin_wasm:
            setup.unpack_via_plugin = True
            setup.notes.append(
                "until fstree works, the table times the unpack service fstree is built on, called "
                "from bench/plugin's pre-exec hook (`config.unpack=ARCHIVE`), against tar -xzf"
            )
    else:
        setup.fstree_ready = True


def user_plugin(setup: Setup, scratch: Path, cache: Path) -> str | None:
    hk = str(setup.hookinit)
    manifest = ROOT / "bench" / "plugin" / "Cargo.toml"
    # Does the binary run plugins at all? A plugin that does not exist must be reported.
    env = base_env() | {"HOOKINIT_DEBUG": f"plugin={scratch / 'no-such-plugin.wasm'}", "HOOKINIT_CACHE_DIR": str(cache)}
    p = run([hk, "--", TRUE], env=env, capture_output=True, timeout=60)
    if "no-such-plugin" not in p.stderr:
        return "this hookinit ignores DEBUG=plugin=PATH (the plugin runtime is not reached from main)"
    log("building the bench plugin (wasm32-wasip2)")
    out_dir = setup.target_dir / "bench" / "plugin"
    b = run(
        ["cargo", "build", "--release", "--target", "wasm32-wasip2", "--manifest-path", str(manifest)],
        env=os.environ | {"CARGO_TARGET_DIR": str(out_dir)},
        capture_output=True,
    )
    wasm = out_dir / "wasm32-wasip2" / "release" / "bench_plugin.wasm"
    if b.returncode != 0 or not wasm.exists():
        tail = b.stderr.strip().splitlines()[-3:]
        return f"cannot build bench/plugin for wasm32-wasip2 (rustup target add wasm32-wasip2?): {' / '.join(tail)}"
    # Fill the cache: `hookinit plugin compile` when the binary has it, else a first run compiles
    # and caches.
    c = run([hk, "plugin", "compile", str(wasm), "-o", str(cache)], capture_output=True, timeout=300)
    if c.returncode == 0:
        how = "`hookinit plugin compile -o CACHE`"
    else:
        how = "a first run (`hookinit plugin compile` is not reachable from this binary: exit %d)" % c.returncode
    env = base_env() | {"HOOKINIT_DEBUG": f"plugin={wasm}", "HOOKINIT_CACHE_DIR": str(cache)}
    first = run([hk, "--", "/usr/bin/env"], env=env, capture_output=True, timeout=300)
    check = run([hk, "-v", "-v", "--", "/usr/bin/env"], env=env, capture_output=True, timeout=60)
    if "HOOKINIT_BENCH_PLUGIN=ran" not in check.stdout:
        return (
            f"the plugin's pre-exec hook did not run (exit {check.returncode}): "
            + (check.stderr.strip().splitlines() or first.stderr.strip().splitlines() or ["no message"])[-1]
        )
    if "compiled a plugin" in check.stderr:
        setup.notes.append("the user plugin was compiled again on the measured runs: the cache did not work")
    setup.notes.append(f"user plugin: bench/plugin ({wasm.stat().st_size // 1024} KiB component), cached by {how}")
    setup.plugin_wasm, setup.plugin_cache = wasm, cache
    v = Variant("hookinit + 1 plugin (cached)", [hk, "--"], env, is_init=False)
    setup.extras.append(v)
    setup.plugin_variant = v
    return None


# ------------------------------------------------------------------------------------------------
# Report


def machine() -> dict[str, str]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "cpus": f"{os.cpu_count()} (nproc {len(os.sched_getaffinity(0))})",
        "cpu": model,
        "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
        "memory": mem,
        "os": _os_release(),
    }


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "?"


def rng(values: list[int], fmt) -> str:
    return f"{fmt(min(values))} – {fmt(max(values))}"


def status(ok: bool, caveat: str = "") -> str:
    return ("**met**" if ok else "**missed**") + (f" ({caveat})" if caveat else "")


def report(setup: Setup, counts: Counts, args, r: dict, mach: dict, loads: tuple, elapsed: float) -> str:
    names = [v.name for v in setup.inits]
    L: list[str] = []
    add = L.append
    cmdline = "bash bench/run.sh" + ("" if not args.argv_echo else " " + args.argv_echo)
    add(f"Generated by `{cmdline}` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
        f"in {elapsed:.0f} s (builds excluded). Do not edit by hand: the command rewrites everything between the markers.")
    add("")
    add(f"**Machine**: {mach['cpu']}, {mach['cpus']} CPUs, {mach['memory']}, {mach['kernel']}, {mach['os']}; "
        f"load average {loads[0]:.2f} at the start, {loads[1]:.2f} at the end"
        + (" (a shared machine: other work was running, so absolute numbers are noisy; the "
           "interleaving keeps the comparison fair)" if max(loads) > 0.5 * (os.cpu_count() or 1) else "")
        + ".")
    add("")
    add("**Versions**: " + "; ".join(f"{n} {setup.versions.get(n, '?')}" for n in names) + ".")
    add("")

    if setup.sizes:
        add("**Binary size** of the shipped builds (`x86_64-unknown-linux-musl`, static without PIE, `dist` "
            "profile: opt-level s (z for Cranelift), fat LTO, one codegen unit, stripped, start-up code "
            "grouped; the built-in plugins inside, precompiled)")
        add("")
        add("| build | size | goal |")
        add("| --- | --- | --- |")
        for label, path in setup.sizes:
            size = path.stat().st_size
            goal = SIZE_GOALS.get(label)
            cell = f"≤ {goal / 1e6:.0f} MB {status(size <= goal)}" if goal else ""
            add(f"| hookinit {label} | {size:,} bytes ({size / 1e6:.1f} MB) | {cell} |")
        add("")

    st, rs, sg, rp = r.get("start"), r.get("rss"), r.get("signal"), r.get("reap")
    header = "| | " + " | ".join(names) + " |"
    add(header)
    add("|" + " --- |" * (len(names) + 1))
    if st:
        tini = median(st["tini"])
        add("| start-to-exit of `INIT -- /bin/true`, median | " + " | ".join(ms(median(st[n])) for n in names) + " |")
        add("| … min – max | " + " | ".join(rng(st[n], lambda x: f"{x / 1e6:.2f}") + " ms" for n in names) + " |")
        add("| … p99 | " + " | ".join(ms(quantile(st[n], 0.99)) for n in names) + " |")
        add("| … vs tini (medians) | " + " | ".join(f"{median(st[n]) / tini:.2f}x" for n in names) + " |")
        bare = median(st["/bin/true alone"])
        add("| … above `/bin/true` alone, median | " + " | ".join(ms(median(st[n]) - bare) for n in names) + " |")
    if rs:
        add("| peak RSS of the init (VmHWM), median | " + " | ".join(kb(median(rs[n]["hwm"])) for n in names) + " |")
        add("| … min – max | " + " | ".join(rng(rs[n]["hwm"], lambda x: f"{x:,}") + " kB" for n in names) + " |")
        add("| … wait4 ru_maxrss of the init, median | " + " | ".join(kb(median(rs[n]["maxrss"])) for n in names) + " |")
    if sg:
        add("| signal forwarding latency, median | " + " | ".join(us(median(sg[n])) for n in names) + " |")
        add("| … p99 | " + " | ".join(us(quantile(sg[n], 0.99)) for n in names) + " |")
        add("| … min – max | " + " | ".join(rng(sg[n], lambda x: f"{x / 1e3:,.0f}") + " µs" for n in names) + " |")
    if rp:
        add(f"| reaping {counts.orphans:,} orphaned zombies as PID 1, median | " + " | ".join(ms(median(rp[n]), 1) for n in names) + " |")
        add("| … min – max | " + " | ".join(rng(rp[n], lambda x: f"{x / 1e6:.1f}") + " ms" for n in names) + " |")
        add("| … per zombie, median | " + " | ".join(f"{median(rp[n]) / counts.orphans / 1e3:.2f} µs" for n in names) + " |")
    add("")
    refs = []
    if st:
        refs.append(f"`/bin/true` alone (no init) takes {ms(median(st['/bin/true alone']))} (median) on the same runs")
    if sg:
        d = sg["no init (kill the probe itself)"]
        refs.append(f"a SIGTERM sent straight to the probe (no init) reaches its handler in {us(median(d))} (median), {us(quantile(d, 0.99))} (p99)")
    if refs:
        add("For reference: " + "; ".join(refs) + ".")
        add("")

    # hookinit only
    add("**hookinit only**")
    add("")
    add("| measurement | result | goal |")
    add("| --- | --- | --- |")
    goals: list[tuple] = []
    hk = "hookinit"
    if st and "hookinit DEBUG=verbose" in st:
        d = paired_overhead(st["hookinit DEBUG=verbose"], st[hk])
        add(f"| DEBUG=verbose start overhead (median of paired differences) | {ms(d)} "
            f"(start-to-exit {ms(median(st['hookinit DEBUG=verbose']))}) | ≤ 3 ms |")
        goals.append(("DEBUG=verbose start overhead ≤ 3 ms", ms(d), d <= GOAL_VERBOSE_NS))
    if rs and "hookinit DEBUG=verbose" in rs:
        add(f"| peak RSS with DEBUG=verbose | {kb(median(rs['hookinit DEBUG=verbose']['hwm']))} | |")
    pv = setup.plugin_variant
    if pv and st:
        d = paired_overhead(st[pv.name], st[hk])
        add(f"| one user plugin (cached): start overhead | {ms(d)} (start-to-exit {ms(median(st[pv.name]))}) | |")
    if pv and rs:
        add(f"| one user plugin (cached): peak RSS | {kb(median(rs[pv.name]['hwm']))} | |")
    if pv and sg:
        a, b = sg[pv.name], sg[hk]
        add(f"| on-signal hook round trip: latency with the plugin, median / p99 | {us(median(a))} / {us(quantile(a, 0.99))} "
            f"({'+' if median(a) >= median(b) else '−'}{us(abs(median(a) - median(b)))} over no plugin) | |")
    fs = r.get("fstree")
    if fs:
        tar_t, fs_t = median(fs["tar"]), median(fs["fstree"])
        ratio = tar_t / fs_t
        what = "unpack service from a plugin (fstree's core)" if fs["via_plugin"] else "fstree"
        add(f"| {what} vs `tar -xzf`: {fs['archive_bytes'] / 1e6:.0f} MB tar.gz, {fs['files']:,} files, "
            f"{fs['bytes'] / 1e6:.0f} MB unpacked, whole `hookinit -- /bin/true` run (median of {len(fs['tar'])}) | "
            f"{ms(fs_t, 0)} vs tar {ms(tar_t, 0)}: {ratio:.2f}x tar's speed | ≥ 0.9x (fstree) |")
        goals.append((f"fstree ≥ 0.9x tar -xzf's speed", f"{ratio:.2f}x" + (" (unpack service via a plugin; fstree itself not available yet)" if fs["via_plugin"] else ""), ratio >= GOAL_FSTREE_RATIO))
    for what, why in setup.unavailable:
        add(f"| {what} | not available yet: {why} | |")
    add("")
    for n in setup.notes:
        add(f"- {n}")
    if setup.notes:
        add("")

    # Goals: the init-level ones for every hookinit build measured, the others for the main one.
    builds = [n for n in names if n.startswith("hookinit")]
    rows: list[tuple[str, list[str]]] = []
    if st:
        cells = []
        for b in builds:
            ratio = median(st[b]) / median(st["tini"])
            cells.append(f"{ratio:.2f}x {status(ratio <= GOAL_START_RATIO)}")
        rows.append(("start-to-exit within 1.1x of tini's (medians)", cells))
    if rs:
        cells = []
        for b in builds:
            v = median(rs[b]["hwm"])
            cells.append(f"{kb(v)} {status(v <= GOAL_RSS_KB)}")
        rows.append(("peak RSS without plugins ≤ 2 MiB (2,048 kB)", cells))
    if sg:
        floor = quantile(sg["no init (kill the probe itself)"], 0.99)
        cells = []
        for b in builds:
            p = quantile(sg[b], 0.99)
            caveat = ""
            if p > GOAL_SIGNAL_P99_NS and floor > GOAL_SIGNAL_P99_NS / 2:
                caveat = f"not conclusive here: with no init at all the p99 is already {us(floor)}"
            cells.append(f"{us(p)} {status(p <= GOAL_SIGNAL_P99_NS, caveat)}")
        rows.append(("signal forwarding latency p99 ≤ 1 ms", cells))
    for g, v, ok in goals:
        rows.append((g, [f"{v} {status(ok)}"] + [""] * (len(builds) - 1)))
    add("**Goals** (issue 6)")
    add("")
    add("| goal | " + " | ".join(builds) + " |")
    add("|" + " --- |" * (len(builds) + 1))
    for g, cells in rows:
        add(f"| {g} | " + " | ".join(cells) + " |")
    add("")
    parts = []
    if st:
        parts.append(f"start-to-exit {counts.start} rounds")
    if rs:
        parts.append(f"peak RSS {counts.rss} rounds")
    if sg:
        parts.append(f"signals {counts.signals} rounds")
    if st or sg:
        parts[-1] += f" (after {counts.warmup} warm-up rounds, not counted)"
    if rp:
        parts.append(f"reaping {counts.reap_runs} round(s) of {counts.orphans:,} zombies")
    if fs:
        parts.append(f"unpacking {counts.fstree_runs} round(s)")
    add("Iterations: " + ", ".join(parts) + ".")
    return "\n".join(L)


def paired_overhead(a: list[int], b: list[int]) -> float:
    """Median of the per-round differences a[i] - b[i] (same round, so the same load)."""
    return median([x - y for x, y in zip(a, b)])


METHOD = """\
## Init speed, memory, signal latency and reaping

How hookinit compares with the inits it replaces (tini, dumb-init, catatonit, as Debian ships
them) on the work every init does. Regenerate with:

    bash bench/run.sh            # about 1-2 minutes once built; --quick for a smoke run, --scale N for longer

### Method

- **Interleaved**: every round runs each init once, in a rotating order, so that load from the
  rest of the machine spreads over all of them alike; results are medians, with min - max and
  the 99th percentile (nearest rank) where tails matter. A few warm-up rounds are not counted.
- **Same work, same flags**: each init runs with an environment of only `PATH`, stdin/stdout/
  stderr on `/dev/null`. When not PID 1, hookinit and catatonit register as child subreapers by
  themselves and tini is given `-s` to do the same (without it, tini also prints a warning);
  dumb-init has no subreaper mode. Inside a PID namespace (reaping) no flag is added.
- **Start-to-exit**: the driver (`bench/bench.py`) takes CLOCK_MONOTONIC, `posix_spawn`s
  `INIT -- /bin/true` and takes the clock again when `wait4` returns: the whole life of the init,
  its child included. `/bin/true` alone is measured in the same rounds as the floor.
- **Peak RSS of the init itself**: the main process is `probe rss` (`bench/helpers/probe.c`,
  static), which reads `VmHWM` from `/proc/PPID/status`, i.e. the init's own high-water mark while
  it supervises a child, after its start-up is done. Cross-check: `ru_maxrss` from `wait4` on the
  init; it is the maximum over the init and the children it waited for, and since a forked child
  starts as a copy of its parent it bounds the init's peak from above.
- **Signal forwarding latency**: each init runs `probe sig`, whose SIGTERM handler writes
  `clock_gettime(CLOCK_MONOTONIC)` to a pipe. The driver takes the clock, sends `kill(INIT,
  SIGTERM)`, and reads the handler's timestamp: the difference is one latency. The inits run
  side by side and get their signals in rotation. The same measurement sent straight to the probe
  (no init) is the floor.
- **Reaping**: `unshare --pid --fork --mount-proc INIT -- probe orphans N`: the probe forks a
  middle process that forks N children which exit at once, waits until all of them are zombies,
  takes the clock and exits, so the kernel hands the N zombies to PID 1; the probe then polls
  `kill(pid, 0)` (a zombie still answers) until every one of them is gone and takes the clock.
- **hookinit only**: `DEBUG=verbose` and one user plugin (`bench/plugin`, a pre-exec hook that
  sets a variable and an on-signal hook that forwards, compiled into the cache beforehand) are
  extra variants in the same interleaved rounds; their overhead is the median of the per-round
  differences with plain hookinit. fstree unpacks a deterministic 50 MB tar.gz
  (`DEBUG=fstree=file://ARCHIVE,dest=DIR hookinit -- /bin/true`, whole run) against
  `tar -xzf ARCHIVE -C DIR`, alternating, from the page cache into an empty directory on a
  tmpfs mounted for the purpose (a disk file system's allocator state made both vary 8x). A
  measurement this build cannot do yet says so in the table.
- Profiling (when a goal is missed): `valgrind --tool=callgrind` on the release binary and
  `perf record` (see the notes below the table, when there are any).

### Results
"""


def write_doc(section: str) -> None:
    block = f"{BEGIN}\n{METHOD}\n{section}\n{END}"
    if DOC.exists():
        text = DOC.read_text()
        if BEGIN in text and END in text:
            pre, rest = text.split(BEGIN, 1)
            _, post = rest.split(END, 1)
            text = pre + block + post
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    else:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        text = "# Benchmarks\n\n" + block + "\n"
    DOC.write_text(text)


# ------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="bash bench/run.sh",
        description="Benchmark hookinit side by side with tini, dumb-init and catatonit; rewrite "
        "docs/benchmarks.md's section with the results.",
    )
    ap.add_argument("--quick", action="store_true", help="a smoke run (well under a minute): few iterations; does not touch docs/ unless --write")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the iteration counts (e.g. 5 for a careful run on a quiet machine)")
    ap.add_argument("--hookinit", type=Path, help="benchmark this hookinit binary instead of building one")
    ap.add_argument("--dist", action="store_true", help="measure the shipped binary (cargo build --profile dist --target x86_64-unknown-linux-musl) as hookinit instead of the release build, and the build without the compiler beside it; sizes too")
    ap.add_argument("--compare", action="append", default=[], metavar="LABEL=PATH", help="also measure this hookinit binary, as column `hookinit LABEL` (repeatable; e.g. a patched build)")
    ap.add_argument("--write", action="store_true", help="rewrite docs/benchmarks.md even with --quick")
    ap.add_argument("--no-write", action="store_true", help="print the results only")
    ap.add_argument("--no-nice", action="store_true", help="measure at the caller's priority (default: nice -20, so that other work on a shared machine disturbs less)")
    ap.add_argument("--only", default="start,rss,signal,reap,extras", help="comma-separated subset of start,rss,signal,reap,extras")
    args = ap.parse_args()
    args.argv_echo = " ".join(sys.argv[1:])
    only = set(args.only.split(","))

    if os.geteuid() != 0:
        die("run as root: the reaping benchmark creates PID namespaces (unshare --pid)")
    base = QUICK if args.quick else DEFAULT
    s = args.scale
    counts = Counts(
        start=max(5, round(base.start * s)),
        rss=max(2, round(base.rss * s)),
        signals=max(20, round(base.signals * s)),
        reap_runs=max(1, round(base.reap_runs * s)),
        orphans=base.orphans,
        fstree_runs=max(1, round(base.fstree_runs * s)),
        warmup=base.warmup,
    )
    load0 = os.getloadavg()[0]

    inits = find_inits()
    target_dir = cargo_target_dir()
    # With --dist the shipped static build is `hookinit`, so that the hookinit-only rows
    # (verbose, plugins, fstree) measure what users run; the release build is not built then.
    dist = None
    if args.hookinit:
        hookinit, build_kind = args.hookinit.resolve(), "given binary"
    elif args.dist:
        dist = build_dist(target_dir / "bench" / "hookinit-dist", False)
        hookinit, build_kind = dist, "dist: static, musl"
    else:
        hookinit, build_kind = build_hookinit(), "release"
    if not os.access(hookinit, os.X_OK):
        die(f"{hookinit} is not executable")
    probe = build_probe(target_dir / "bench")
    others = []
    compared = []
    lean = None
    if args.dist:
        if dist is None:
            compared.append(("dist", build_dist(target_dir / "bench" / "hookinit-dist", False)))
        lean = build_dist(target_dir / "bench" / "hookinit-dist-no-compiler", True)
        compared.append(("dist, no compiler", lean))
    for spec in args.compare:
        label, sep, path = spec.partition("=")
        if not sep or not label or not os.access(path, os.X_OK):
            die(f"--compare {spec}: expected LABEL=PATH to an executable")
        compared.append((label, Path(path).resolve()))
    env = base_env()
    # A build without the compiler given with --compare (say, from an earlier --dist run) is
    # checked like the one --dist builds.
    lean = lean or next((p for label, p in compared if label == "dist, no compiler"), None)
    for label, path in compared:
        others.append(Variant(f"hookinit {label}", [str(path), "--"], env, [str(path), "--"]))
    setup = Setup(
        hookinit=hookinit,
        probe=probe,
        target_dir=target_dir,
        inits=[
            Variant("hookinit", [str(hookinit), "--"], env, [str(hookinit), "--"]),
            *others,
            Variant("tini", [str(inits["tini"]), "-s", "--"], env, [str(inits["tini"]), "--"]),
            Variant("dumb-init", [str(inits["dumb-init"]), "--"], env, [str(inits["dumb-init"]), "--"]),
            Variant("catatonit", [str(inits["catatonit"]), "--"], env, [str(inits["catatonit"]), "--"]),
        ],
    )
    setup.versions = versions(hookinit, build_kind, inits)
    for label, path in compared:
        setup.versions[f"hookinit {label}"] = f"{path} ({describe_binary(path)})"
    if Path("/etc/hookinit.toml").exists():
        setup.notes.append("/etc/hookinit.toml exists on this machine and was read by hookinit on every run")

    t_begin = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="hookinit-bench-"))
    results: dict = {}
    sp = Spawner()
    try:
        if "extras" in only:
            hookinit_plugin_runtime(setup, scratch, args.quick)
        if lean:
            check_no_compiler(setup, lean, scratch)
        setup.sizes = ([("dist", dist)] if dist else []) + compared
        variants = setup.inits + setup.extras
        if not args.no_nice:
            os.setpriority(os.PRIO_PROCESS, 0, -20)  # inherited by every init measured
        gc.disable()
        if "start" in only:
            log(f"start-to-exit: {counts.start} rounds x {len(variants) + 1} variants")
            results["start"] = measure_start(sp, variants, counts.start, counts.warmup)
        if "rss" in only:
            log(f"peak RSS: {counts.rss} rounds")
            results["rss"] = measure_rss(sp, variants, probe, counts.rss)
        if "signal" in only:
            sig_variants = setup.inits + ([setup.plugin_variant] if setup.plugin_variant else [])
            log(f"signal forwarding: {counts.signals} rounds x {len(sig_variants) + 1} targets")
            results["signal"] = measure_signals(sp, sig_variants, probe, counts.signals, counts.warmup)
        gc.enable()
        if "reap" in only:
            log(f"reaping: {counts.reap_runs} round(s) of {counts.orphans} zombies per init")
            results["reap"] = measure_reaping(setup.inits, probe, counts.reap_runs, counts.orphans)
        if "extras" in only and (setup.fstree_ready or setup.unpack_via_plugin):
            log(f"{'fstree' if setup.fstree_ready else 'unpack service'} vs tar -xzf: {counts.fstree_runs} round(s)")
            results["fstree"] = measure_fstree(setup, scratch, counts.fstree_runs)
    except BenchError as e:
        die(str(e))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    elapsed = time.monotonic() - t_begin
    section = report(setup, counts, args, results, machine(), (load0, os.getloadavg()[0]), elapsed)
    print(section)
    if not args.no_write and (not args.quick or args.write) and only >= {"start", "rss", "signal", "reap", "extras"}:
        write_doc(section)
        log(f"wrote {DOC.relative_to(ROOT)}")
    elif not args.no_write:
        log(f"{DOC.relative_to(ROOT)} left as it was (--quick, --only or --no-write)")


if __name__ == "__main__":
    main()
