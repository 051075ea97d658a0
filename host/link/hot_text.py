#!/usr/bin/env python3
r"""Regenerates host/link/hot-text.ld: the functions hookinit runs on every start, placed side by
side at the front of its code.

Why: in a 13 MB binary the few hundred functions an init runs (start, spawn, signal forwarding,
reaping, exit) are scattered over the whole text, and the kernel maps code 64 KiB around every
page it faults in: a plain start made some 2 MB of code resident for ~150 KB that runs. Grouped,
they take a handful of 64 KiB windows (docs/benchmarks.md has the before and after).

How: runs the given (unstripped, non-PIE) hookinit under `valgrind --tool=callgrind` in the
scenarios below, collects the symbol of every function executed in hookinit's own process, and
writes a GNU ld script that inserts a `.text.hot` output section before `.text` listing their
input sections (rustc puts every function in `.text.<symbol>`). Symbols are written as patterns
without their hash (legacy mangling ends in `17h<16 hex>E`; v0 mangling carries crate hashes),
so a list generated once stays useful while the code changes; a pattern that matches nothing is
harmless, a function missing from the list only costs some resident memory.

Names differ between builds: LLVM merges identical functions (many `drop_in_place`s) under the
name of one of them, which depends on what else is linked in (Cranelift or not) and on the
optimisation levels, and local symbols carry a per-build number (`kind.2133`). So the patterns
already in the list are kept (`--fresh` drops them), numeric suffixes are wildcards, and both
shipped builds should be given:

    cargo build --profile dist --target x86_64-unknown-linux-musl -p hookinit \
        --config 'profile.dist.strip=false'
    # copy the binary aside, then build and copy again with --no-default-features
    python3 host/link/hot_text.py /tmp/hookinit-full /tmp/hookinit-no-compiler
"""

import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "hot-text.ld")

# What every start does, in the two modes: as PID 1 (a PID namespace) and as a subreaper.
SCENARIOS = [
    ["--", "/bin/true"],
    ["--", "/bin/false"],
    # TERM forwarded to the main process (its handler-less death: 143).
    ["--", "sh", "-c", "kill -TERM $PPID; sleep 5"],
    # An orphan reaped while the main process runs.
    ["--", "sh", "-c", "(sleep 0.1 &); sleep 0.3"],
]


def run(binary, args, pid1, outdir):
    prefix = ["unshare", "--pid", "--fork", "--mount-proc"] if pid1 else []
    cmd = prefix + [
        "valgrind", "--tool=callgrind", "--demangle=no",
        f"--callgrind-out-file={outdir}/cg.%p", binary,
    ] + args
    subprocess.run(cmd, env={"PATH": "/usr/bin:/bin"}, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False, timeout=120)


def executed(outdir):
    names = set()
    for f in os.listdir(outdir):
        with open(os.path.join(outdir, f), errors="replace") as fh:
            for line in fh:
                m = re.match(r"c?fn=\(\d+\) (\S+)", line)
                if m:
                    # callgrind marks recursion levels with 'N
                    names.add(re.sub(r"'\d+$", "", m.group(1)))
    return names


def without_local_number(name):
    """LLVM's per-build number of a local symbol (`kind.2133`) as a wildcard."""
    return re.sub(r"\.\d+$", "*", name)


def pattern(symbol):
    """The input section of a Rust function, as a hash-free pattern; None for anything else."""
    if symbol.startswith("_ZN"):
        symbol = re.sub(r"17h[0-9a-f]{16}E$", "*", symbol)
    elif symbol.startswith("_R"):
        # v0 crate disambiguators (Cs<base62>_) change with the toolchain and the crate's flags.
        symbol = re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", symbol)
    else:
        return None
    symbol = without_local_number(symbol)
    # `$` and `.` are literal in section names but `$` is not allowed unquoted in ld scripts,
    # and quoting disables wildcards: `?` stands for it.
    return ".text." + symbol.replace("$", "?")


def listed():
    """The patterns already in hot-text.ld, normalised like new ones."""
    try:
        with open(OUT) as fh:
            text = fh.read()
    except FileNotFoundError:
        return set()
    found = re.findall(r"^\s+\*\((\.text\.[^)]+)\)$", text, re.M)
    return {without_local_number(p) for p in found}


def main():
    args = sys.argv[1:]
    fresh = "--fresh" in args
    binaries = [os.path.abspath(a) for a in args if a != "--fresh"]
    if not binaries:
        sys.exit(__doc__)
    patterns = set()
    for binary in binaries:
        with tempfile.TemporaryDirectory() as outdir:
            for scenario in SCENARIOS:
                for pid1 in (True, False):
                    run(binary, scenario, pid1, outdir)
            seen = {p for p in map(pattern, executed(outdir)) if p}
        if len(seen) < 50:
            sys.exit(f"only {len(seen)} Rust functions seen: is {binary} unstripped?")
        patterns |= seen
    kept = set() if fresh else listed()
    new = len(patterns - kept)
    patterns = sorted(patterns | kept)
    with open(OUT, "w") as out:
        out.write(
            "/* Generated by host/link/hot_text.py: the functions hookinit runs on every start,\n"
            "   side by side before the rest of the code (see that script for why and how).\n"
            "   Passed to the linker by host/build.rs. */\n"
            "SECTIONS\n{\n  .text.hot :\n  {\n"
        )
        # musl's own code (memcpy, malloc, signal and process calls) is small and all of it hot.
        out.write("    *libc.a:*(.text .text.*)\n")
        for p in patterns:
            out.write(f"    *({p})\n")
        out.write("  }\n}\nINSERT BEFORE .text;\n")
    print(f"{OUT}: {len(patterns)} patterns, {new} new")


if __name__ == "__main__":
    main()
