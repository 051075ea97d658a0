"""The measurements every init gets: start-to-exit, peak RSS, signal forwarding latency, reaping."""

from __future__ import annotations

import os
import re
import select
import signal
import struct
import time
from pathlib import Path

from .console import BenchError
from .plan import TRUE, Variant, base_env, rotate
from .spawn import Spawner, run


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
