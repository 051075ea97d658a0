"""The command line (`bash bench/run.sh`): options, the counts, the order of the measurements."""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .build import build_dist, build_hookinit, build_probe, cargo_target_dir, describe_binary, find_inits, versions
from .console import BenchError, die, log
from .doc import DOC, write_doc
from .extras import check_no_compiler, hookinit_plugin_runtime
from .measure import measure_reaping, measure_rss, measure_signals, measure_start
from .plan import DEFAULT, QUICK, ROOT, Counts, Setup, Variant, base_env
from .report import machine, report
from .spawn import Spawner
from .unpack import measure_fstree


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
