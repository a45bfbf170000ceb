"""Maintenance windows on the step grid (pure functions).

A step counts as maintenance when any part of it overlaps a window that applies to the
check; with the default 1m step and windows on whole minutes this is exact. Repeating
windows are expanded to their occurrences inside the period::

    >>> occs = occurrences([window], period)          # clipped to the period, sorted
    >>> mask = step_mask(occs, period, "homepage")    # bytearray, 1 = maintenance
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from twinlens.report.config import MaintenanceWindow
from twinlens.report.period import Period

__all__ = ["Occurrence", "named_checks", "occurrences", "segments", "step_mask"]


@dataclass(frozen=True)
class Occurrence:
    """One stretch of maintenance inside the period (clipped to it); ``checks`` empty = all."""

    name: str
    start: float
    end: float
    checks: tuple[str, ...]

    def applies_to(self, check: str) -> bool:
        return not self.checks or check in self.checks


def occurrences(windows: Iterable[MaintenanceWindow], period: Period) -> list[Occurrence]:
    """Every occurrence of ``windows`` overlapping ``period``, clipped, by start time."""
    lo, hi = period.start_ts, period.end_ts
    out = []
    for w in windows:
        first, length = w.start.timestamp(), w.length
        if w.every is None:
            starts: Iterable[float] = [first]
        else:
            every = float(w.every)
            k0 = max(0, math.floor((lo - first - length) / every))
            k1 = math.ceil((hi - first) / every)
            starts = (first + k * every for k in range(k0, k1 + 1))
        for s in starts:
            e = s + length
            if s < hi and e > lo:
                out.append(Occurrence(w.name, max(s, lo), min(e, hi), tuple(w.checks)))
    out.sort(key=lambda o: (o.start, o.end, o.name))
    return out


def step_mask(occs: Iterable[Occurrence], period: Period, check: str | None = None) -> bytearray:
    """1 for each step overlapping an occurrence that applies to ``check``.

    ``check=None`` takes only the windows that apply to every check.
    """
    mask = bytearray(period.n)
    for o in occs:
        if check is None and o.checks:
            continue
        if check is not None and not o.applies_to(check):
            continue
        first = max(0, math.floor((o.start - period.start_ts) / period.step))
        last = min(period.n - 1, math.ceil((o.end - period.start_ts) / period.step) - 1)
        for i in range(first, last + 1):
            mask[i] = 1
    return mask


def segments(mask: Sequence[int]) -> list[tuple[int, int]]:
    """Maximal runs of steps *outside* maintenance, as inclusive ``(first, last)`` pairs.

    >>> segments(bytearray([0, 0, 1, 1, 0]))
    [(0, 1), (4, 4)]
    """
    out = []
    start: int | None = None
    for i, m in enumerate(mask):
        if not m and start is None:
            start = i
        elif m and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(mask) - 1))
    return out


def named_checks(occs: Iterable[Occurrence]) -> list[str]:
    """Checks some window is scoped to, sorted.

    Every other check has the mask of the windows that apply to all checks, so one set of
    queries covers all of them together.
    """
    return sorted({c for o in occs for c in o.checks})
