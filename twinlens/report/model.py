"""The report as data: what every renderer (md, html, csv, json) draws from.

Frozen msgspec structures, so ``--format json`` is the model itself, encoded. Times are
aware UTC datetimes, durations are seconds, shares are 0..1, uptime is in percent, latency
and Web Vitals are in seconds (CLS is unitless). ``None`` means "no data", never 0.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

__all__ = [
    "AppReport",
    "Budget",
    "CheckReport",
    "GroupFigures",
    "Incident",
    "Latency",
    "LocationFigures",
    "MaintenanceEntry",
    "Report",
    "RouteReport",
    "Settings",
    "Span",
    "Status",
    "TimeBucket",
    "VitalFigures",
]

#: JSON schema version of :class:`Report`; bumped on incompatible changes.
SCHEMA_VERSION = 1

Status = Literal["up", "down", "no_data", "maintenance"]


class _S(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Latency(_S, frozen=True):
    """Synthetic latency percentiles (seconds) from the duration histogram."""

    p50: float | None
    p95: float | None
    p99: float | None
    observations: float


class LocationFigures(_S, frozen=True):
    """One check seen from one location; ``uptime_percent`` = successful / all runs."""

    location: str
    runs: int
    failed_runs: int
    uptime_percent: float | None
    failing_seconds: float
    no_data_seconds: float
    latency: Latency | None


class Budget(_S, frozen=True):
    target_percent: float
    allowed_down_seconds: float
    down_seconds: float
    left_seconds: float
    left_ratio: float | None
    met: bool | None


class Incident(_S, frozen=True):
    """A stretch of consecutive down steps (quorum of locations failing)."""

    start: datetime
    end: datetime
    duration_seconds: float
    locations: list[str]
    failed_runs: int
    reasons: dict[str, int]
    no_data_seconds: float
    open_at_start: bool
    ongoing: bool


class Span(_S, frozen=True):
    start: datetime
    end: datetime
    status: Status


class TimeBucket(_S, frozen=True):
    """A day (or an hour, for periods under three days) of one check's timeline."""

    start: datetime
    end: datetime
    up_seconds: float
    down_seconds: float
    no_data_seconds: float
    maintenance_seconds: float
    uptime_percent: float | None


class CheckReport(_S, frozen=True):
    """One check over the period: the SLA figure (``uptime_percent``) and what explains it."""

    check: str
    quorum: int
    uptime_percent: float | None
    measured_seconds: float
    down_seconds: float
    no_data_seconds: float
    maintenance_seconds: float
    budget: Budget
    incidents: list[Incident]
    locations: list[LocationFigures]
    latency: Latency | None
    timeline: list[Span]
    buckets: list[TimeBucket]


class VitalFigures(_S, frozen=True):
    """One Core Web Vital: good / needs-improvement / poor shares and the p75."""

    vital: str
    samples: float
    good_share: float | None
    needs_improvement_share: float | None
    poor_share: float | None
    p75: float | None


class RouteReport(_S, frozen=True):
    route: str
    page_views: float
    vitals: list[VitalFigures]


class GroupFigures(_S, frozen=True):
    """A region or device type, ranked by p75 LCP for "slowest" lists."""

    name: str
    samples: float
    lcp_p75: float | None
    lcp_good_share: float | None
    inp_p75: float | None
    inp_good_share: float | None


class AppReport(_S, frozen=True):
    app: str
    page_views: float
    vitals: list[VitalFigures]
    routes: list[RouteReport]
    slowest_regions: list[GroupFigures]
    slowest_devices: list[GroupFigures]


class MaintenanceEntry(_S, frozen=True):
    """A maintenance occurrence inside the period (clipped to it); ``checks`` empty = all."""

    name: str
    start: datetime
    end: datetime
    duration_seconds: float
    checks: list[str]


class Settings(_S, frozen=True):
    prometheus: str
    step_seconds: float
    quorum: int
    gaps: str
    check_filter: list[str]
    app_filter: list[str]


class Report(_S, frozen=True):
    title: str
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    settings: Settings
    checks: list[CheckReport]
    apps: list[AppReport]
    maintenance: list[MaintenanceEntry]
    notes: list[str]
    schema_version: int = SCHEMA_VERSION
