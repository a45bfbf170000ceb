"""The reporting period and its grid of steps.

A period runs from ``start`` (inclusive) to ``end`` (exclusive) and is cut into ``n``
equal steps of ``step`` seconds; step ``i`` covers ``(start + i*step, start + (i+1)*step]``,
the same left-open interval a Prometheus sample at its end stands for. Everything the
report says about time (downtime, incidents, maintenance, gaps) is in whole steps::

    >>> p = month_period("2026-11", step=60)
    >>> p.n, p.step_end(0) - p.start_ts
    (43200, 60.0)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

from twinlens.report.errors import ReportError
from twinlens.runtime.config import format_duration

__all__ = ["MAX_STEPS", "Period", "month_period", "parse_time", "resolve_period"]

#: Upper bound on steps in one report (a year at 1m is 525,600): memory stays bounded.
MAX_STEPS = 600_000

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in UTC, cut into ``n`` steps of ``step`` seconds."""

    start: datetime
    end: datetime
    step: float

    # Cached: the report's loops ask for these per step.
    @cached_property
    def start_ts(self) -> float:
        return self.start.timestamp()

    @cached_property
    def end_ts(self) -> float:
        return self.end.timestamp()

    @cached_property
    def seconds(self) -> float:
        return self.end_ts - self.start_ts

    @cached_property
    def n(self) -> int:
        return round(self.seconds / self.step)

    def step_end(self, i: int) -> float:
        """Timestamp closing step ``i`` (where Prometheus is asked for its value)."""
        return self.start_ts + (i + 1) * self.step

    def step_start(self, i: int) -> float:
        return self.start_ts + i * self.step

    def index_of_end(self, ts: float) -> int:
        """The step whose end is ``ts`` (a query_range point); rounding absorbs float noise."""
        return round((ts - self.start_ts) / self.step) - 1


def parse_time(text: str) -> datetime:
    """A point in time from the command line, in UTC.

    Accepts RFC 3339 (``2026-11-01T00:00:00Z``, with an offset or without one, meaning
    UTC), a date (``2026-11-01``, midnight UTC) or Unix seconds (``1793491200``).

    >>> parse_time("2026-11-01").isoformat()
    '2026-11-01T00:00:00+00:00'
    """
    raw = text.strip()
    try:
        if re.fullmatch(r"\d+(\.\d+)?", raw):
            return datetime.fromtimestamp(float(raw), UTC)
        value = datetime.fromisoformat(raw.replace("z", "Z"))
    except (ValueError, OverflowError, OSError):
        raise ReportError(
            f"not a time: {text!r} (examples: 2026-11-01, 2026-11-01T06:00:00Z, 1793491200)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def month_period(month: str, step: float) -> Period:
    """The calendar month ``YYYY-MM`` in UTC."""
    match = _MONTH_RE.match(month.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ReportError(f"--month must be YYYY-MM (for example 2026-11), not {month!r}")
    year, mon = int(match.group(1)), int(match.group(2))
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return Period(start, end, step)


def _previous_month(now: datetime) -> str:
    first = now.replace(day=1)
    last_month = first - timedelta(days=1)
    return f"{last_month.year:04d}-{last_month.month:02d}"


def resolve_period(
    *,
    month: str | None,
    from_: str | None,
    to: str | None,
    step: float,
    now: datetime,
) -> tuple[Period, list[str]]:
    """The period the command line asks for, and notes about any adjustment made.

    With neither ``--month`` nor ``--from``/``--to`` it is the previous calendar month. A
    period reaching past ``now`` is cut at the last whole step before ``now`` (and a note
    says so), because the future has no data and would read as a monitoring gap.
    """
    if step < 1 or not math.isfinite(step):
        raise ReportError("--step must be at least 1s")
    if month is not None and (from_ is not None or to is not None):
        raise ReportError("use either --month or --from/--to, not both")
    if month is not None:
        period = month_period(month, step)
    elif from_ is not None or to is not None:
        if from_ is None or to is None:
            raise ReportError("--from and --to go together")
        period = Period(parse_time(from_), parse_time(to), step)
    else:
        period = month_period(_previous_month(now), step)
    if period.end <= period.start:
        raise ReportError(
            f"the period is empty: --to ({period.end:%Y-%m-%dT%H:%M:%SZ}) must be after "
            f"--from ({period.start:%Y-%m-%dT%H:%M:%SZ})"
        )
    whole = period.seconds / step
    if abs(whole - round(whole)) > 1e-6:
        raise ReportError(
            f"the period ({format_duration(period.seconds)}) is not a whole number of "
            f"--step ({format_duration(step)}); pick a step that divides it"
        )
    notes: list[str] = []
    if period.end > now:
        whole_steps = math.floor((now.timestamp() - period.start_ts) / step)
        if whole_steps < 1:
            raise ReportError(
                f"the period starts at {period.start:%Y-%m-%dT%H:%M:%SZ}, "
                "which is not yet one step in the past: there is nothing to report"
            )
        cut = datetime.fromtimestamp(period.start_ts + whole_steps * step, UTC)
        notes.append(
            f"The period ends in the future; this report covers it up to {cut:%Y-%m-%d %H:%M} UTC."
        )
        period = Period(period.start, cut, step)
    if period.n > MAX_STEPS:
        raise ReportError(
            f"the period has {period.n} steps of {format_duration(step)}, more than "
            f"{MAX_STEPS}; use a larger --step"
        )
    return period, notes
