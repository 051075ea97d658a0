"""Statistics (medians, nearest-rank quantiles, paired differences) and how numbers are shown."""

from __future__ import annotations

import math


def quantile(values: list[int], q: float) -> int:
    """Nearest-rank quantile (q in 0..1) of a non-empty list."""
    s = sorted(values)
    k = max(1, math.ceil(q * len(s)))
    return s[min(k, len(s)) - 1]


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def paired_overhead(a: list[int], b: list[int]) -> float:
    """Median of the per-round differences a[i] - b[i] (same round, so the same load)."""
    return median([x - y for x, y in zip(a, b)])


def ms(ns: float, digits: int = 2) -> str:
    return f"{ns / 1e6:.{digits}f} ms"


def us(ns: float) -> str:
    return f"{ns / 1e3:.0f} µs"


def kb(v: float) -> str:
    return f"{v:,.0f} kB"


def rng(values: list[int], fmt) -> str:
    return f"{fmt(min(values))} – {fmt(max(values))}"
