#!/usr/bin/env python3
r"""Regenerates host/link/hot-text.ld, the functions hookinit runs on every start placed side by
side at the front of its code, or checks that it is current. Run through host/link/refresh.sh,
which builds the binaries and their maps.

Why: scattered over the whole text, the few hundred functions an init runs (start, spawn, signal
forwarding, reaping, exit) made 0.6 to 2 MB of code resident for ~300 KB that runs: the kernel
maps code at least 64 KiB around every page it faults in (a whole large folio on recent kernels).
Grouped, they take a handful of pages (docs/benchmarks.md has the measurements).

How: runs the shipped hookinit (stripped is fine) under `valgrind --tool=callgrind
--dump-instr=yes` in the scenarios below, looks up every executed address in the linker map of
that same build (an unstripped build is different code: the profile is part of every symbol's
hash) to find its input section (`.text.<symbol>`, `.text.unlikely.<symbol>` for `#[cold]`
ones), and writes a GNU ld script that inserts a `.text.hot` output section listing them before
`.text`. Symbols are written as patterns without their hash and without LLVM's per-build number
of local symbols (`kind.2133`), so that the list survives code changes; a pattern that matches
nothing is harmless, a function missing from the list costs resident memory, never correctness.

    hot_text.py [--fresh] BINARY MAP [BINARY MAP ...]   # rewrite hot-text.ld
    hot_text.py --check BINARY MAP [BINARY MAP ...]     # exit 1 when it is out of date

The list covers every build given; without `--fresh` the patterns already listed are kept too.
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


# Rounds of the scenarios a regeneration runs: a few functions run only with some timings (seen:
# `Timespec::sub_timespec` and `__udivti3`, in 2 rounds of 6), and a list without them would make
# the check fail at random.
ROUNDS = 3

# What a function outside `.text.hot` costs is the window the kernel maps around the page it
# faults in (fault-around, 64 KiB; a large folio can be more), whatever the function's size. The
# check counts those windows, past the ones `.text.hot` spans, and tolerates one: a rarely taken
# path the regeneration's rounds missed (at most 64 KiB, under 5% of the peak RSS). A stale list
# (a renamed crate or module, new start-up code) puts tens of functions in several windows.
WINDOW = 64 * 1024
TOLERANCE = 1

# What ran in one build: the code sections, those of them outside `.text.hot`, and how many
# windows of their own those took.
Ran = collections.namedtuple("Ran", "hit stray windows")


def measure(binary, map_path, rounds):
    """What ran in `binary` in `rounds` rounds of the scenarios (the check runs one)."""
    secs = sections(map_path)
    starts = [s.addr for s in secs]
    addrs = set()
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as outdir:
            for scenario in SCENARIOS:
                for pid1 in (True, False):
                    run(binary, scenario, pid1, outdir)
            addrs |= executed(outdir)
    hit, stray_addrs = set(), set()
    for a in addrs:
        i = bisect.bisect_right(starts, a) - 1
        if i >= 0 and a < secs[i].addr + secs[i].size:
            hit.add(secs[i])
            if secs[i].output != ".text.hot":
                stray_addrs.add(a)
    if len(hit) < 50:
        sys.exit(f"only {len(hit)} code sections ran: is {map_path} the map of {binary}?")
    hot = {w for s in secs if s.output == ".text.hot"
           for w in range(s.addr // WINDOW, (s.addr + s.size - 1) // WINDOW + 1)}
    windows = {a // WINDOW for a in stray_addrs} - hot
    return Ran(hit, sorted(s for s in hit if s.output != ".text.hot"), len(windows))


def report(binary, ran):
    size = sum(s.size for s in ran.stray)
    print(f"{binary}: {len(ran.hit)} code sections ran, {len(ran.stray)} of them outside "
          f".text.hot ({size:,} bytes, {ran.windows} 64 KiB windows of their own)")
    for s in ran.stray[:20]:
        print(f"    {s.addr:#x} {s.name}")


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
    flags = {a for a in args if a.startswith("--")}
    files = [os.path.abspath(a) for a in args if not a.startswith("--")]
    if flags - {"--fresh", "--check"} or len(flags) > 1 or not files or len(files) % 2:
        sys.exit(__doc__)
    check = "--check" in flags
    patterns, stale = set(), []
    for binary, map_path in zip(files[::2], files[1::2]):
        ran = measure(binary, map_path, 1 if check else ROUNDS)
        report(binary, ran)
        patterns |= {p for p in (pattern(s.name, s.file) for s in ran.hit) if p}
        if ran.windows > TOLERANCE:
            stale.append(f"{os.path.basename(binary)}: {ran.windows}")
    if check:
        if stale:
            sys.exit(f"host/link/hot-text.ld is out of date ({', '.join(stale)} windows of 64 KiB "
                     f"of start-up code outside .text.hot, tolerance {TOLERANCE}): run `bash "
                     f"host/link/refresh.sh` and commit the list it writes")
        return
    old = listed()
    if "--fresh" not in flags:
        patterns |= old
    text = script(sorted(patterns))
    # Rewritten only when it changes: cargo relinks (a fat LTO) whenever the file is touched.
    same = os.path.exists(OUT) and open(OUT).read() == text
    if not same:
        with open(OUT, "w") as out:
            out.write(text)
    print(f"{OUT}: {len(patterns)} patterns ({len(patterns - old)} added, {len(old - patterns)} "
          f"dropped){', unchanged' if same else ''}")


def script(patterns):
    """hot-text.ld listing `patterns`."""
    lines = [
        "/* Generated by host/link/refresh.sh: the functions hookinit runs on every start,",
        "   side by side before the rest of the code (host/link/hot_text.py says why and how).",
        "   Passed to the linker by host/build.rs. */",
        "SECTIONS", "{", "  .text.hot :", "  {",
        # musl's own code (memcpy, malloc, signal and process calls) is small and all of it hot;
        # so are the C start files' few functions and the `main` rustc generates.
        "    *libc.a:*(.text .text.*)",
        "    *crt1.o(.text .text.*) *crtbegin*.o(.text.*) *(.text.main)",
    ]
    # LLVM puts `#[cold]` functions (RawVec's growth, Once's slow path, clap's builders) in
    # `.text.unlikely.<symbol>`; at start-up they run all the same.
    lines += [f"    *({p} {p.replace('.text.', '.text.unlikely.', 1)})" for p in patterns]
    lines += ["  }", "}", "INSERT BEFORE .text;"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
