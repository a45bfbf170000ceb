"""SLA reports: what the month looked like, from the numbers Prometheus already holds.

``twinlens report`` (see :mod:`twinlens.report.cli`) turns the exporter's run counters and
the RUM gateway's histograms into the figure a team owes its customers — uptime per check
with the location quorum of the alerts, incidents with their failure reasons, latency
percentiles, SLO and error budget, maintenance left out — and what real users saw (Core
Web Vitals per app and route, the slowest regions and devices)::

    >>> from twinlens.report import Options, Prometheus, build_report, render
    >>> report = build_report(Prometheus(url, timeout=60), Options(url, period), config)
    >>> html = render(report, "html")

The computations are pure functions on a grid of steps (``uptime``, ``counters``,
``histogram``, ``windows``), tested without a server.
"""

from twinlens.report.collect import Options, build_report, plan_queries
from twinlens.report.config import MaintenanceWindow, ReportConfig, SLOConfig, load_config
from twinlens.report.errors import PrometheusError, QueryTimeout, ReportError
from twinlens.report.model import Report
from twinlens.report.period import Period, month_period, parse_time, resolve_period
from twinlens.report.prom import Progress, Prometheus
from twinlens.report.render import FORMATS, render

__all__ = [
    "FORMATS",
    "MaintenanceWindow",
    "Options",
    "Period",
    "Progress",
    "Prometheus",
    "PrometheusError",
    "QueryTimeout",
    "Report",
    "ReportConfig",
    "ReportError",
    "SLOConfig",
    "build_report",
    "load_config",
    "month_period",
    "parse_time",
    "plan_queries",
    "render",
    "resolve_period",
]
