"""What the driver says on stderr, and how a measurement fails."""

from __future__ import annotations

import sys


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def die(msg: str) -> None:
    print(f"bench: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)
