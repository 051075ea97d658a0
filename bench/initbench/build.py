"""Building and finding what is measured: hookinit (release or dist), the probe, the other inits,
and their versions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from .console import die, log
from .plan import PATH, ROOT
from .spawn import run

INSTALL_HINT = "apt-get install tini dumb-init catatonit"


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


def describe_binary(path: Path) -> str:
    f = run(["file", "-L", str(path)], capture_output=True).stdout
    link = "static" if "statically linked" in f or "static-pie" in f else "dynamic"
    return f"{link}, {path.stat().st_size // 1024} KiB"
