"""How figures read in a report: one place, so md, html and csv agree.

>>> duration(3_723), percent(99.95), share(0.875), seconds(0.175), seconds(2.48)
('1h 02m', '99.950%', '87.5%', '175 ms', '2.48 s')
"""

from __future__ import annotations

import math
from datetime import datetime

__all__ = [
    "NA",
    "duration",
    "method_lines",
    "moment",
    "number",
    "percent",
    "seconds",
    "share",
    "vital_value",
]

#: Shown where there is no data (never 0, which would be a claim).
NA = "—"


def duration(value: float | None) -> str:
    """Seconds as ``3d 4h``, ``1h 02m``, ``13m``, ``42s``; signed when negative."""
    if value is None:
        return NA
    sign = "-" if value < 0 else ""
    s = round(abs(value))
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    if d:
        text = f"{d}d {h}h" if h else f"{d}d"
    elif h:
        text = f"{h}h {m:02d}m"
    elif m:
        text = f"{m}m {sec:02d}s" if sec else f"{m}m"
    else:
        text = f"{sec}s"
    return sign + text


def percent(value: float | None, digits: int = 3) -> str:
    """A percentage already in percent (uptime, SLO targets)."""
    if value is None or not math.isfinite(value):
        return NA
    return f"{value:.{digits}f}%"


def share(value: float | None, digits: int = 1) -> str:
    """A 0..1 share as a percentage."""
    return NA if value is None else percent(value * 100, digits)


def seconds(value: float | None) -> str:
    """Latency: milliseconds under a second, else seconds."""
    if value is None or not math.isfinite(value):
        return NA
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def vital_value(vital: str, value: float | None) -> str:
    """A Web Vital in its own unit (CLS has none)."""
    if vital == "CLS":
        return NA if value is None else f"{value:.3f}"
    return seconds(value)


def number(value: float | None) -> str:
    """Counts (page views may be fractional after sample-rate scaling)."""
    return NA if value is None else f"{round(value):,}"


def moment(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


_GAPS = {
    "exclude": "are left out of the measured time (neither up nor down) and shown as no data",
    "down": "are counted as downtime",
    "up": "are counted as uptime",
}


def method_lines(
    step_seconds: float, quorum: int, gaps: str, *, synthetic: bool = True, rum: bool = True
) -> list[str]:
    """How the figures were computed, in words, for the end of every report."""
    lines = []
    if synthetic:
        lines += [
            f"A check's uptime is the share of measured time it was up, in steps of "
            f"{duration(step_seconds)}. A step is down when at least {quorum} locations (all "
            "of them if the check runs from fewer) were failing. A location is failing in a "
            "step when at least half of its runs that finished in the step failed, and keeps "
            "its last state between runs.",
            "Per-location uptime is successful runs / all runs of twinlens_check_runs_total, "
            "counted exactly (no extrapolation; counter resets handled).",
            "Steps where the silent locations could have made the quorum (no samples in "
            f"Prometheus: exporter or Prometheus down) {_GAPS.get(gaps, gaps)}. Runs the "
            "exporter counted during such a gap are counted in the step after it.",
            "Maintenance windows are left out of uptime, error budget and latency; a step "
            "touching a window counts as maintenance.",
            "Error budget = (100% minus the SLO target) of the measured time; budget left = "
            "error budget minus downtime.",
            "Latency percentiles interpolate within the buckets of "
            "twinlens_check_duration_seconds, as PromQL's histogram_quantile does.",
        ]
    if rum:
        lines.append(
            "Web Vitals shares are exact (bucket bounds sit on the thresholds: LCP 2.5 s / 4 s, "
            "INP 200 ms / 500 ms, CLS 0.1 / 0.25, FCP 1.8 s / 3 s, TTFB 800 ms / 1.8 s); "
            "p75 is interpolated within a bucket. They cover the whole period, maintenance "
            "included: real users saw what they saw."
        )
    return lines
