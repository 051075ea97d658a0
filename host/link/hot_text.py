#!/usr/bin/env python3
r"""Regenerates host/link/hot-text.ld: the functions hookinit runs on every start, placed side by
side at the front of its code.

Why: in a 12 MB binary the few hundred functions an init runs (start, spawn, signal forwarding,
reaping, exit) are scattered over the whole text, and the kernel maps code at least 64 KiB
around every page it faults in (a whole large folio on recent kernels: up to 1 MiB of a file
that is warm in the page cache): scattered, they made 0.6 to 2 MB of code resident for ~300 KB
that runs. Grouped, they take a handful of pages (docs/benchmarks.md has the before and after).

How: runs the shipped hookinit (stripped is fine) under `valgrind --tool=callgrind
--dump-instr=yes` in the scenarios below, collects the address of every instruction executed in
hookinit's own process, looks each up in the linker map of that same build to find its input
section (rustc puts every function in `.text.<symbol>`, `#[cold]` ones in
`.text.unlikely.<symbol>`), and writes a GNU ld script that inserts a `.text.hot` output section
before `.text` listing them. The map must come from the build being measured: an unstripped or
otherwise different build is different code (the profile is part of every symbol's hash, and
LLVM's merging of identical functions keeps one of their names, chosen by what else is linked).

Symbols are written as patterns without their hash (legacy mangling ends in `17h<16 hex>E`; v0
mangling carries crate hashes) and without LLVM's per-build number of local symbols
(`kind.2133`), so a list stays useful while the code changes. The patterns already listed are
kept (`--fresh` drops them), so that both shipped builds can be covered one after the other;
a pattern that matches nothing is harmless, a function missing from the list only costs some
resident memory. Both shipped builds, each with its map:

    HOOKINIT_LINK_MAP=/tmp/full.map cargo build --profile dist \
        --target x86_64-unknown-linux-musl -p hookinit
    cp target/x86_64-unknown-linux-musl/dist/hookinit /tmp/full
    # the same with --no-default-features --features plugins, to /tmp/lean and /tmp/lean.map
    python3 host/link/hot_text.py /tmp/full /tmp/full.map /tmp/lean /tmp/lean.map

It prints, per build, how many of the sections that ran were outside `.text.hot`: after
rebuilding with the new list, a second run should print 0 for both.
"""

import bisect
import collections
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
        "valgrind", "--tool=callgrind", "--dump-instr=yes",
        f"--callgrind-out-file={outdir}/cg.%p", binary,
    ] + args
    subprocess.run(cmd, env={"PATH": "/usr/bin:/bin"}, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False, timeout=120)


def executed(outdir):
    """Addresses of the instructions that ran. Callgrind writes a cost line's position absolute
    (`0x401a2c`), relative to the previous one (`+5`, `-12`) or unchanged (`*`)."""
    addrs = set()
    for f in os.listdir(outdir):
        at = 0
        with open(os.path.join(outdir, f), errors="replace") as fh:
            for line in fh:
                pos = line.split(" ", 1)[0]
                if pos.startswith("0x"):
                    at = int(pos, 16)
                elif pos[:1] in "+-" and pos[1:].strip().isdigit():
                    at += int(pos)
                elif pos.strip() != "*":
                    continue
                addrs.add(at)
    return addrs


# An input section as the linker map lists it; `output` is the output section it went to.
Section = collections.namedtuple("Section", "addr size name output file")


def sections(map_path):
    """The code input sections of a GNU ld map, sorted by address."""
    found, output, pending = [], None, None
    with open(map_path, errors="replace") as fh:
        for line in fh:
            m = re.match(r"^(\.\S+)", line)
            if m:
                output = m.group(1)
                continue
            # ` .text.name  0xADDR  0xSIZE  file`, or the name alone when it is long and the
            # numbers on the next line.
            m = re.match(r"^ (\.text\S*)(?:\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(.*))?", line)
            if m:
                if m.group(2):
                    found.append(Section(int(m.group(2), 16), int(m.group(3), 16), m.group(1),
                                         output, m.group(4)))
                else:
                    pending = m.group(1)
                continue
            m = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(.*)", line)
            if m and pending:
                found.append(Section(int(m.group(1), 16), int(m.group(2), 16), pending, output,
                                     m.group(3)))
            pending = None
    found = [s for s in found if s.size > 0]
    if not found:
        sys.exit(f"{map_path}: no code sections: not a GNU ld map?")
    return sorted(found)


def without_local_number(name):
    """LLVM's per-build number of a local symbol (`kind.2133`) as a wildcard."""
    return re.sub(r"\.\d+$", "*", name)


def pattern(section, file):
    """An input section as a hash-free pattern (`.text.unlikely.` folded into `.text.`); None for
    sections the script's fixed lines cover (musl, the start files) or that name no function."""
    if re.search(r"libc\.a|crt\w*\.o", file):
        return None
    m = re.match(r"\.text\.(?:unlikely\.)?(.+)$", section)
    if not m:
        return None
    symbol = m.group(1)
    if symbol.startswith("_ZN"):
        symbol = re.sub(r"17h[0-9a-f]{16}E$", "*", symbol)
    elif symbol.startswith("_R"):
        # v0 crate disambiguators (Cs<base62>_) change with the toolchain and the crate's flags.
        symbol = re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", symbol)
    symbol = without_local_number(symbol)
    # `$` and `.` are literal in section names but `$` is not allowed unquoted in ld scripts,
    # and quoting disables wildcards: `?` stands for it.
    return ".text." + symbol.replace("$", "?")


def ran(binary, map_path):
    """The patterns of the sections that ran in `binary`, and how many were outside .text.hot."""
    secs = sections(map_path)
    starts = [s.addr for s in secs]
    with tempfile.TemporaryDirectory() as outdir:
        for scenario in SCENARIOS:
            for pid1 in (True, False):
                run(binary, scenario, pid1, outdir)
        addrs = executed(outdir)
    hit = set()
    for a in addrs:
        i = bisect.bisect_right(starts, a) - 1
        if i >= 0 and a < secs[i].addr + secs[i].size:
            hit.add(secs[i])
    if len(hit) < 50:
        sys.exit(f"only {len(hit)} code sections ran: is {map_path} the map of {binary}?")
    outside = [s for s in hit if s.output != ".text.hot"]
    return {p for p in (pattern(s.name, s.file) for s in hit) if p}, outside


def listed():
    """The patterns already in hot-text.ld, normalised like new ones."""
    try:
        with open(OUT) as fh:
            text = fh.read()
    except FileNotFoundError:
        return set()
    found = re.findall(r"^\s+\*\((\.text\.[^ )]+)", text, re.M)
    return {without_local_number(p) for p in found}


def main():
    args = sys.argv[1:]
    fresh = "--fresh" in args
    files = [os.path.abspath(a) for a in args if a != "--fresh"]
    if not files or len(files) % 2:
        sys.exit(__doc__)
    patterns = set()
    for binary, map_path in zip(files[::2], files[1::2]):
        seen, outside = ran(binary, map_path)
        print(f"{binary}: {len(seen)} functions ran, {len(outside)} of them outside .text.hot")
        for s in sorted(outside)[:20]:
            print(f"    {s.addr:#x} {s.name}")
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
        # musl's own code (memcpy, malloc, signal and process calls) is small and all of it hot;
        # so are the C start files' few functions and the `main` rustc generates.
        out.write("    *libc.a:*(.text .text.*)\n")
        out.write("    *crt1.o(.text .text.*) *crtbegin.o(.text.*) *(.text.main)\n")
        # LLVM puts `#[cold]` functions (RawVec's growth, Once's slow path, clap's builders) in
        # `.text.unlikely.<symbol>`; at start-up they run all the same.
        for p in patterns:
            out.write(f"    *({p} {p.replace('.text.', '.text.unlikely.', 1)})\n")
        out.write("  }\n}\nINSERT BEFORE .text;\n")
    print(f"{OUT}: {len(patterns)} patterns, {new} new")


if __name__ == "__main__":
    main()
