#!/usr/bin/env python3
"""A long soak of hookinit as PID 1: its RSS and open descriptors must stay flat (issue 7).

    python3 bench/soak.py --hookinit PATH [--minutes 10] [--plugin WASM --cache DIR]

hookinit runs as PID 1 of a PID namespace (unshare, so run as root) with a main process that,
for the whole soak, forks orphans that die at once (hookinit reaps them) and answers the signals
the driver sends (USR1, HUP, WINCH, a real-time one: hookinit forwards them). With --plugin, a
plugin subscribed to on-signal sees every signal too (a round trip through the plugin worker).

Every 10 s the driver samples hookinit's VmRSS and the number of its open descriptors. At the
end it prints a Markdown table (first, last, min, max of each, and the work done) and exits 1 if
either grew: RSS by more than 512 KiB between the first sample after warm-up and the last, or
descriptors at all. Nothing here sleeps in place of synchronisation: the samples are the point.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

WORKLOAD = r"""
import os, signal, sys, time
counts = {"signals": 0, "orphans": 0}
def on_signal(n, f):
    counts["signals"] += 1
for s in (signal.SIGUSR1, signal.SIGHUP, signal.SIGWINCH, 40):
    signal.signal(s, on_signal)
def report(n, f):
    print(f"done signals={counts['signals']} orphans={counts['orphans']}", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, report)
print("ready", flush=True)
while True:
    # A child that forks an orphan and exits: the orphan is PID 1's to reap.
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
    counts["orphans"] += 1
    time.sleep(0.002)
"""


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/{pid}/status")


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def child_of(pid: int, deadline: float) -> int:
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        if children:
            return int(children[0])
        time.sleep(0.01)
    raise SystemExit("soak: hookinit did not start under unshare")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hookinit", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--plugin", type=Path, help="a plugin subscribed to on-signal (e.g. sigguard.wasm)")
    ap.add_argument("--cache", type=Path, help="HOOKINIT_CACHE_DIR for the plugin")
    ap.add_argument("--rate", type=float, default=200.0, help="signals per second (default 200)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("soak: run as root (unshare --pid)")

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if args.plugin:
        env["HOOKINIT_DEBUG"] = f"plugin={args.plugin}"
        if args.cache:
            env["HOOKINIT_CACHE_DIR"] = str(args.cache)
    cmd = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", str(args.hookinit), "--",
           sys.executable, "-c", WORKLOAD]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit(f"soak: the workload did not start: {proc.stderr.read() if proc.stderr else ''}")
    init = child_of(proc.pid, time.monotonic() + 10)

    kinds = [signal.SIGUSR1, signal.SIGHUP, signal.SIGWINCH, 40]
    samples: list[tuple[float, int, int]] = []
    sent = 0
    start = time.monotonic()
    end = start + args.minutes * 60
    next_sample = start
    interval = 1.0 / args.rate
    while (now := time.monotonic()) < end:
        if now >= next_sample:
            samples.append((now - start, status_kib(init, "VmRSS"), fds(init)))
            next_sample += 10
        os.kill(init, kinds[sent % len(kinds)])
        sent += 1
        time.sleep(interval)
    samples.append((time.monotonic() - start, status_kib(init, "VmRSS"), fds(init)))
    hwm = status_kib(init, "VmHWM")
    os.kill(init, signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    done = [l for l in out.splitlines() if l.startswith("done")]
    if proc.returncode != 0 or not done:
        raise SystemExit(f"soak: hookinit ended with {proc.returncode}: {err[-500:]}")

    # The first minute warms up (allocator arenas, the plugin's first calls).
    steady = [s for s in samples if s[0] >= 60] or samples
    rss = [s[1] for s in steady]
    fd = [s[2] for s in steady]
    grew_rss = rss[-1] - rss[0]
    grew_fd = fd[-1] - fd[0]
    print(f"| soak of {args.minutes:g} min, {args.hookinit.name}{' + on-signal plugin' if args.plugin else ''} | first (after 1 min) | last | min | max |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| hookinit VmRSS (KiB) | {rss[0]:,} | {rss[-1]:,} | {min(rss):,} | {max(rss):,} |")
    print(f"| hookinit open descriptors | {fd[0]} | {fd[-1]} | {min(fd)} | {max(fd)} |")
    print()
    print(f"{len(samples)} samples every 10 s; peak RSS (VmHWM) {hwm:,} KiB; {sent:,} signals sent; "
          f"the main process {done[0].removeprefix('done ')} (orphans = orphaned processes hookinit reaped).")
    if grew_rss > 512 or grew_fd > 0:
        print(f"soak: FAILED: RSS grew by {grew_rss} KiB, descriptors by {grew_fd}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
