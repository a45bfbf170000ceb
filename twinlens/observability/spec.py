"""The one source of truth: metric names, thresholds, SLO targets and windows.

Everything in ``dashboards/`` and ``alerts/`` (and ``docs/runbook.md``) is generated from a
:class:`Spec`. Changing a threshold here and running ``twinlens generate`` changes the
rules, their promtool tests, the dashboards' threshold lines and the runbook together.

    >>> spec = Spec(check_slo=0.995)
    >>> spec.check_error_budget
    0.005
    >>> Spec(time_scale=1 / 60).window("1h")   # short windows for end-to-end tests
    '1m'

Metric names below are the contract with the exporter, the RUM gateway and the backend
middleware (``../shared/DESIGN.md``); they are not configurable on purpose.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from twinlens.runtime.config import format_duration, parse_duration

__all__ = [
    "API_METRIC",
    "CORE_VITALS",
    "OTEL_BUCKETS",
    "SLO_WINDOWS",
    "VITALS",
    "BurnRate",
    "Spec",
    "SpecError",
    "Vital",
    "le_matcher",
    "number",
]


class SpecError(ValueError):
    """A spec that cannot generate sound rules; the message names every bad field."""


@dataclass(frozen=True)
class Vital:
    """One Web Vital as the gateway exports it; thresholds sit exactly on bucket bounds."""

    key: str  # lcp, fcp, ttfb, inp, cls
    title: str
    good: float
    poor: float
    buckets: tuple[float, ...]
    seconds: bool = True  # CLS is unitless

    @property
    def metric(self) -> str:
        """``rum_lcp_seconds`` (route x device), ``rum_cls`` for the unitless one."""
        return f"rum_{self.key}_seconds" if self.seconds else f"rum_{self.key}"

    @property
    def geo_metric(self) -> str:
        return f"rum_{self.key}_by_geo_seconds" if self.seconds else f"rum_{self.key}_by_geo"

    @property
    def browser_metric(self) -> str:
        if self.seconds:
            return f"rum_{self.key}_by_browser_seconds"
        return f"rum_{self.key}_by_browser"

    @property
    def unit(self) -> str:
        """Grafana unit id."""
        return "s" if self.seconds else "none"


VITALS: tuple[Vital, ...] = (
    Vital("lcp", "LCP", 2.5, 4.0, (0.5, 1, 1.5, 2, 2.5, 3, 4, 6, 10, 20)),
    Vital("inp", "INP", 0.2, 0.5, (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5)),
    Vital("cls", "CLS", 0.1, 0.25, (0.01, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2), seconds=False),
    Vital("fcp", "FCP", 1.8, 3.0, (0.5, 1, 1.5, 1.8, 2.5, 3, 4, 6, 10)),
    Vital("ttfb", "TTFB", 0.8, 1.8, (0.1, 0.2, 0.4, 0.6, 0.8, 1.2, 1.8, 3, 6)),
)
#: The Core Web Vitals: the ones alerts watch (FCP and TTFB are diagnostic, dashboard only).
CORE_VITALS: tuple[Vital, ...] = VITALS[:3]

#: OpenTelemetry's default buckets for ``http.server.request.duration`` (seconds).
OTEL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
#: The backend middleware's histogram (OTel semantic convention names).
API_METRIC = "http_server_request_duration_seconds"


@dataclass(frozen=True)
class BurnRate:
    """One multi-window burn-rate condition: both windows burn ``factor``x the budget."""

    long: str
    short: str
    factor: float


def _default_page() -> tuple[BurnRate, ...]:
    return (BurnRate("1h", "5m", 14.4), BurnRate("6h", "30m", 6.0))


def _default_ticket() -> tuple[BurnRate, ...]:
    return (BurnRate("1d", "2h", 3.0), BurnRate("3d", "6h", 1.0))


#: Every error-ratio window the burn-rate alerts read (recorded once each).
SLO_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def le_matcher(bound: float) -> str:
    """A label matcher for a bucket bound that works with every client library.

    Go clients write ``le="4"``, Python's write ``le="4.0"``; Prometheus 2.x compares the
    strings, so a whole-number bound must accept both.

    >>> le_matcher(2.5), le_matcher(4.0)
    ('le="2.5"', 'le=~"4|4.0"')
    """
    if float(bound).is_integer():
        return f'le=~"{int(bound)}|{int(bound)}.0"'
    return f'le="{number(bound)}"'


def number(x: float) -> str:
    """A float as PromQL / YAML text without binary noise: ``14.4 * 0.001`` → ``0.0144``.

    >>> number(14.4 * (1 - 0.999)), number(2.0), number(0.75)
    ('0.0144', '2', '0.75')
    """
    rounded = round(float(x), 12)
    if rounded.is_integer():
        return str(int(rounded))
    return repr(rounded)


@dataclass(frozen=True)
class Spec:
    """Thresholds, SLO targets and windows; defaults are what ships in the repo.

    Windows are written at production scale; ``time_scale`` shrinks every window and
    ``for:`` duration together (``1/60`` turns hours into minutes) so an end-to-end test
    sees alerts fire in seconds from rules made by this same generator.
    """

    # --- synthetic uptime SLO -------------------------------------------------------------
    check_slo: float = 0.999
    slo_period: str = "30d"
    page_burn: tuple[BurnRate, ...] = field(default_factory=_default_page)
    ticket_burn: tuple[BurnRate, ...] = field(default_factory=_default_ticket)
    page_for: str = "2m"
    ticket_for: str = "15m"
    # --- probes ---------------------------------------------------------------------------
    down_quorum: int = 2
    down_for: str = "1m"
    tls_warning_days: float = 14
    stale_intervals: float = 3
    # --- RUM ------------------------------------------------------------------------------
    rum_good_share: float = 0.75
    rum_window: str = "1h"
    rum_min_samples: int = 50
    rum_for: str = "15m"
    traffic_window: str = "1h"
    traffic_drop_ratio: float = 0.5
    traffic_floor: int = 100
    traffic_for: str = "30m"
    rum_api_error_ratio: float = 0.05
    rum_api_window: str = "10m"
    rum_api_min_calls: int = 20
    rum_api_for: str = "5m"
    # --- backend API (OTel http server metrics) -------------------------------------------
    api_availability_slo: float = 0.999
    api_latency_slo: float = 0.99
    api_latency_threshold: float = 0.5
    # --- links ----------------------------------------------------------------------------
    grafana_url: str = "http://localhost:3000"
    runbook_url: str = "https://github.com/twinlens/twinlens/blob/main/docs/runbook.md"
    datasource_uid: str = "twinlens-prometheus"
    folder_uid: str = "twinlens"
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        errors = []
        for name in ("check_slo", "api_availability_slo", "api_latency_slo", "rum_good_share"):
            value = getattr(self, name)
            if not 0 < value < 1:
                errors.append(f"{name} must be between 0 and 1 (exclusive), got {value}")
        if not 0 < self.traffic_drop_ratio < 1:
            errors.append(
                f"traffic_drop_ratio must be between 0 and 1, got {self.traffic_drop_ratio}"
            )
        if not 0 < self.rum_api_error_ratio <= 1:
            errors.append(f"rum_api_error_ratio must be in (0, 1], got {self.rum_api_error_ratio}")
        if self.down_quorum < 1:
            errors.append(f"down_quorum must be at least 1, got {self.down_quorum}")
        if self.api_latency_threshold not in OTEL_BUCKETS:
            errors.append(
                f"api_latency_threshold must be an OTel bucket bound {OTEL_BUCKETS}, "
                f"got {self.api_latency_threshold}: the SLI must be exact, not interpolated"
            )
        if not (math.isfinite(self.time_scale) and 0 < self.time_scale <= 1):
            errors.append(f"time_scale must be in (0, 1], got {self.time_scale}")
        for name in ("tls_warning_days", "stale_intervals"):
            if getattr(self, name) <= 0:
                errors.append(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("rum_min_samples", "traffic_floor", "rum_api_min_calls"):
            if getattr(self, name) < 1:
                errors.append(f"{name} must be at least 1, got {getattr(self, name)}")
        for f in dataclasses.fields(self):
            if f.name.endswith(("_for", "_window", "_period")):
                try:
                    parse_duration(getattr(self, f.name))
                except ValueError as exc:
                    errors.append(f"{f.name}: {exc}")
        for burn in (*self.page_burn, *self.ticket_burn):
            for w in (burn.long, burn.short):
                if w not in SLO_WINDOWS:
                    errors.append(f"burn-rate window {w} is not one of {SLO_WINDOWS}")
            if burn.factor * (1 - self.check_slo) >= 1:
                errors.append(
                    f"burn factor {burn.factor} x budget {number(1 - self.check_slo)} >= 1: "
                    "the alert could never fire"
                )
        if errors:
            raise SpecError("; ".join(errors))

    # --- derived values -------------------------------------------------------------------

    @property
    def check_error_budget(self) -> float:
        return float(number(1 - self.check_slo))

    @property
    def api_error_budget(self) -> float:
        return float(number(1 - self.api_availability_slo))

    @property
    def api_latency_budget(self) -> float:
        return float(number(1 - self.api_latency_slo))

    def window(self, duration: str) -> str:
        """A production duration scaled by ``time_scale``, as a Prometheus duration."""
        seconds = parse_duration(duration) * self.time_scale
        return format_duration(max(seconds, 0.001))

    def seconds(self, duration: str) -> float:
        """A production duration, scaled, in seconds."""
        return round(parse_duration(duration) * self.time_scale, 3)

    def with_overrides(self, overrides: dict[str, str]) -> Spec:
        """A copy with fields set from ``key=value`` text (the ``--set`` flag).

        >>> Spec().with_overrides({"down_quorum": "3"}).down_quorum
        3
        """
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        errors = []
        for key, text in overrides.items():
            if key not in fields or key in ("page_burn", "ticket_burn"):
                settable = sorted(k for k in fields if k not in ("page_burn", "ticket_burn"))
                errors.append(f"unknown setting {key!r} (one of: {', '.join(settable)})")
                continue
            kind = type(getattr(self, key))
            try:
                changes[key] = float(text) if kind is float else int(text) if kind is int else text
            except ValueError:
                errors.append(f"{key}: expected a {kind.__name__}, got {text!r}")
        if errors:
            raise SpecError("; ".join(errors))
        return dataclasses.replace(self, **changes)
