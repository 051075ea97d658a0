"""Running programs: posix_spawn and wait4 for the timed runs, subprocess for the rest."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time

from .console import BenchError


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
