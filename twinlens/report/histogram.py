"""Percentiles and good / needs-improvement / poor shares from cumulative histogram buckets.

The quantile follows PromQL's ``histogram_quantile`` exactly (linear interpolation inside
the bucket, the lower bound of the first bucket is 0, a rank in ``+Inf`` gives the highest
finite bound), so the report agrees with the dashboards. Shares need no interpolation: the
RUM buckets put a boundary on each threshold.

>>> buckets = [(0.1, 0.0), (0.25, 10.0), (float("inf"), 10.0)]
>>> quantile(0.5, buckets)
0.175
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

__all__ = ["Buckets", "add_buckets", "quantile", "shares", "total"]

#: le (upper bound, +Inf included) -> cumulative count
Buckets = Mapping[float, float]


def _sorted(buckets: Buckets | Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    items = buckets.items() if isinstance(buckets, Mapping) else buckets
    out = sorted((float(le), float(c)) for le, c in items)
    # Bucket series are scraped one by one, so counts can be momentarily non-monotonic;
    # PromQL fixes that the same way.
    best = 0.0
    fixed = []
    for le, c in out:
        best = max(best, c)
        fixed.append((le, best))
    return fixed


def total(buckets: Buckets | Iterable[tuple[float, float]]) -> float:
    """Observations counted (the ``+Inf`` bucket); 0 without one."""
    items = _sorted(buckets)
    return items[-1][1] if items and math.isinf(items[-1][0]) else 0.0


def quantile(q: float, buckets: Buckets | Iterable[tuple[float, float]]) -> float | None:
    """The ``q`` quantile, or None with no observations or no ``+Inf`` bucket."""
    items = _sorted(buckets)
    if len(items) < 2 or not math.isinf(items[-1][0]) or items[-1][1] <= 0:
        return None
    rank = q * items[-1][1]
    b = next(i for i, (_, count) in enumerate(items) if count >= rank)
    le, count = items[b]
    if math.isinf(le):
        return items[-2][0]
    if b == 0 and le <= 0:
        return le
    lower, below = (0.0, 0.0) if b == 0 else items[b - 1]
    in_bucket = count - below
    if in_bucket <= 0:
        return le
    return lower + (le - lower) * ((rank - below) / in_bucket)


def shares(
    buckets: Buckets | Iterable[tuple[float, float]], good: float, poor: float
) -> tuple[float, float, float] | None:
    """(good, needs improvement, poor) shares; ``good``/``poor`` must be bucket bounds.

    Returns None with no observations or when a threshold is not a bucket bound (the
    histogram does not have the layout the report expects, and guessing would mislead).
    """
    items = dict(_sorted(buckets))
    count = items.get(math.inf, 0.0)
    if count <= 0 or good not in items or poor not in items:
        return None
    g = items[good] / count
    p = (count - items[poor]) / count
    return g, max(0.0, 1.0 - g - p), p


def add_buckets(into: dict[float, float], more: Buckets) -> None:
    """Add ``more`` to ``into`` (histograms of the same layout sum bucket by bucket)."""
    for le, c in more.items():
        into[le] = into.get(le, 0.0) + c
