"""Uptime, the quorum rule, incidents and error budget on the step grid (pure functions).

Per location, a step is one of:

- ``F`` failing: at least one run finished in the step and at least half of them failed;
- ``U`` up: runs finished and most succeeded — or none finished and the last run before
  did not fail (a check every 5m keeps its state between runs, as ``probe_success`` does);
- ``N`` no data: Prometheus holds no sample of the location's run counter in the step.

Per check, the quorum rule of the alerts decides (``q`` = the quorum, at most the number
of locations the check ran from):

- ``M`` maintenance: a window applies (checked first; excluded from every figure);
- ``D`` down: ``failing >= q``;
- ``U`` up: ``failing + no_data < q`` — even if every silent location was failing there
  would be no quorum;
- ``N`` no data otherwise: the silent locations could have made the quorum. How these
  steps count is the gap policy: ``exclude`` (default) leaves them out of the SLA figure,
  ``down`` counts them as downtime, ``up`` as uptime.

>>> states = [location_states([1, 0], [0, 1], [1, 1]), location_states([1, 0], [0, 1], [1, 1])]
>>> bytes(check_status(states, bytearray(2), quorum=2, gaps="exclude"))
b'UD'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from twinlens.report.model import Budget

__all__ = [
    "DOWN",
    "FAILING",
    "GAP_POLICIES",
    "MAINTENANCE",
    "NO_DATA",
    "UP",
    "GapPolicy",
    "check_status",
    "error_budget",
    "location_states",
    "runs_of",
    "spans",
]

UP = ord("U")
DOWN = ord("D")
FAILING = ord("F")
NO_DATA = ord("N")
MAINTENANCE = ord("M")

GapPolicy = Literal["exclude", "down", "up"]
GAP_POLICIES: tuple[GapPolicy, ...] = ("exclude", "down", "up")


def location_states(
    success: Sequence[float], failure: Sequence[float], present: Sequence[int]
) -> bytearray:
    """One location's state per step from its per-step run increases (see module doc)."""
    out = bytearray(len(present))
    current = UP  # until the first run in the period, a location counts as up
    for i, here in enumerate(present):
        if not here:
            out[i] = NO_DATA
            continue
        ok, bad = success[i], failure[i]
        if ok + bad > 0:
            current = FAILING if bad > 0 and bad >= ok else UP
        out[i] = current
    return out


def check_status(
    states: Sequence[Sequence[int]],
    maintenance: Sequence[int],
    quorum: int,
    gaps: GapPolicy,
) -> bytearray:
    """The check's status per step from its locations' states (see module doc)."""
    n = len(maintenance)
    q = max(1, min(quorum, len(states)))
    if not states:
        return bytearray(MAINTENANCE if maintenance[i] else NO_DATA for i in range(n))
    gap_code = {"exclude": NO_DATA, "down": DOWN, "up": UP}[gaps]
    out = bytearray(n)
    for i in range(n):
        if maintenance[i]:
            out[i] = MAINTENANCE
            continue
        failing = silent = 0
        for s in states:
            code = s[i]
            if code == FAILING:
                failing += 1
            elif code == NO_DATA:
                silent += 1
        if failing >= q:
            out[i] = DOWN
        elif failing + silent < q:
            out[i] = UP
        else:
            out[i] = gap_code
    return out


def spans(codes: Sequence[int]) -> list[tuple[int, int, int]]:
    """Maximal runs of equal codes as inclusive ``(first, last, code)``.

    >>> spans(b"UUDU")
    [(0, 1, 85), (2, 2, 68), (3, 3, 85)]
    """
    out: list[tuple[int, int, int]] = []
    for i, code in enumerate(codes):
        if out and out[-1][2] == code:
            out[-1] = (out[-1][0], i, code)
        else:
            out.append((i, i, code))
    return out


def runs_of(codes: Sequence[int], code: int) -> list[tuple[int, int]]:
    """Maximal runs of ``code`` as inclusive ``(first, last)`` step indexes."""
    return [(a, b) for a, b, c in spans(codes) if c == code]


def error_budget(target_percent: float, measured_seconds: float, down_seconds: float) -> Budget:
    """How much downtime the SLO allows over the measured time, and how much is left.

    >>> b = error_budget(99.5, 340 * 60, 60)
    >>> round(b.allowed_down_seconds, 6), round(b.left_seconds, 6)
    (102.0, 42.0)
    """
    allowed = (100.0 - target_percent) / 100.0 * measured_seconds
    left = allowed - down_seconds
    ratio = left / allowed if allowed > 0 else None
    # Compared in seconds with a microsecond of slack, so 99.5% of 20400s is met by 102s
    # of downtime despite binary floating point.
    met = left >= -1e-6 if measured_seconds > 0 else None
    return Budget(
        target_percent=target_percent,
        allowed_down_seconds=allowed,
        down_seconds=down_seconds,
        left_seconds=left,
        left_ratio=ratio,
        met=met,
    )
