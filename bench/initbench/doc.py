"""docs/benchmarks.md: the method, and the section between the markers that the results replace."""

from __future__ import annotations

from .plan import ROOT

DOC = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"


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
