"""The hookinit-only variants this binary supports (DEBUG=verbose, a cached user plugin,
fstree), and the checks of the build without a compiler."""

from __future__ import annotations

import os
from pathlib import Path

from .console import die, log
from .plan import ROOT, TRUE, Setup, Variant, base_env
from .spawn import run
from .unpack import probe_fstree


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
