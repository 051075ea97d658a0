"""What is measured and how often: the inits and variants, their environment, the counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent  # bench/initbench/plan.py
TRUE = "/bin/true"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Counts:
    start: int  # start-to-exit iterations (each runs every variant once)
    rss: int  # RSS runs per variant
    signals: int  # signals per variant
    reap_runs: int  # reaping runs per init
    orphans: int  # zombies per reaping run
    fstree_runs: int  # fstree / tar runs
    warmup: int


DEFAULT = Counts(start=600, rss=15, signals=3000, reap_runs=5, orphans=10_000, fstree_runs=3, warmup=20)
QUICK = Counts(start=40, rss=3, signals=200, reap_runs=1, orphans=1_000, fstree_runs=1, warmup=3)


@dataclass
class Variant:
    """One init (or hookinit with a debug option) as the benchmark runs it."""

    name: str
    prefix: list[str]  # argv up to and including `--`, when not PID 1
    env: dict[str, str]
    prefix_pid1: list[str] | None = None  # when PID 1 of a PID namespace (reaping)
    is_init: bool = True  # one of the four inits compared side by side
    note: str = ""


@dataclass
class Setup:
    hookinit: Path
    probe: Path
    target_dir: Path
    inits: list[Variant]  # hookinit, tini, dumb-init, catatonit
    extras: list[Variant] = field(default_factory=list)  # hookinit-only variants
    unavailable: list[tuple[str, str]] = field(default_factory=list)  # (measurement, why)
    notes: list[str] = field(default_factory=list)
    plugin_variant: Variant | None = None
    plugin_wasm: Path | None = None
    plugin_cache: Path | None = None
    fstree_ready: bool = False
    unpack_via_plugin: bool = False  # fstree missing: time the unpack service from bench/plugin
    versions: dict[str, str] = field(default_factory=dict)
    sizes: list[tuple[str, Path]] = field(default_factory=list)  # shipped builds (--dist)


def base_env() -> dict[str, str]:
    # The same small environment for every init: nothing of the caller's (no DEBUG, TINI_*, ...).
    return {"PATH": PATH}


def rotate(items: list, i: int) -> list:
    k = i % len(items)
    return items[k:] + items[:k]
