"""``--format csv``: every figure as one row, for spreadsheets and billing scripts.

A single "long" table with fixed columns, so any tool can load it and pivot it::

    section,check,location,app,route,group,metric,value
    check,homepage,,,,,uptime_percent,95.35714285714286
    location,homepage,ams,,,,runs,300
    incident,homepage,,,,1,start,2026-10-05T01:00:00Z

Numbers are plain (seconds, percent, 0..1 shares), times RFC 3339 UTC, and an empty value
means "no data".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from twinlens.report.model import GroupFigures, Latency, Report, VitalFigures

__all__ = ["COLUMNS", "render_csv"]

COLUMNS = ("section", "check", "location", "app", "route", "group", "metric", "value")

Row = tuple[str, str, str, str, str, str, str, str]


def _v(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _row(
    section: str,
    metric: str,
    value: object,
    *,
    check: str = "",
    location: str = "",
    app: str = "",
    route: str = "",
    group: str = "",
) -> Row:
    return (section, check, location, app, route, group, metric, _v(value))


def _latency(section: str, lat: Latency | None, **where: str) -> Iterator[Row]:
    for q in ("p50", "p95", "p99"):
        yield _row(section, f"latency_{q}_seconds", getattr(lat, q) if lat else None, **where)


def _vitals(section: str, vitals: list[VitalFigures], **where: str) -> Iterator[Row]:
    for v in vitals:
        name = v.vital.lower()
        yield _row(section, f"{name}_samples", v.samples, **where)
        yield _row(section, f"{name}_good_share", v.good_share, **where)
        yield _row(section, f"{name}_needs_improvement_share", v.needs_improvement_share, **where)
        yield _row(section, f"{name}_poor_share", v.poor_share, **where)
        yield _row(section, f"{name}_p75", v.p75, **where)


def _groups(section: str, app: str, groups: list[GroupFigures]) -> Iterator[Row]:
    for rank, g in enumerate(groups, 1):
        where = {"app": app, "group": g.name}
        yield _row(section, "rank", rank, **where)
        yield _row(section, "samples", g.samples, **where)
        yield _row(section, "lcp_p75", g.lcp_p75, **where)
        yield _row(section, "lcp_good_share", g.lcp_good_share, **where)
        yield _row(section, "inp_p75", g.inp_p75, **where)
        yield _row(section, "inp_good_share", g.inp_good_share, **where)


def _rows(report: Report) -> Iterator[Row]:
    s = report.settings
    yield _row("report", "period_start", report.period_start)
    yield _row("report", "period_end", report.period_end)
    yield _row("report", "generated_at", report.generated_at)
    yield _row("report", "prometheus", s.prometheus)
    yield _row("report", "step_seconds", s.step_seconds)
    yield _row("report", "quorum", s.quorum)
    yield _row("report", "gaps", s.gaps)
    for c in report.checks:
        w = {"check": c.check}
        b = c.budget
        yield _row("check", "slo_target_percent", b.target_percent, **w)
        yield _row("check", "uptime_percent", c.uptime_percent, **w)
        yield _row("check", "slo_met", b.met, **w)
        yield _row("check", "measured_seconds", c.measured_seconds, **w)
        yield _row("check", "down_seconds", c.down_seconds, **w)
        yield _row("check", "no_data_seconds", c.no_data_seconds, **w)
        yield _row("check", "maintenance_seconds", c.maintenance_seconds, **w)
        yield _row("check", "budget_allowed_seconds", b.allowed_down_seconds, **w)
        yield _row("check", "budget_left_seconds", b.left_seconds, **w)
        yield _row("check", "budget_left_ratio", b.left_ratio, **w)
        yield _row("check", "quorum", c.quorum, **w)
        yield _row("check", "incidents", len(c.incidents), **w)
        yield from _latency("check", c.latency, **w)
        for loc in c.locations:
            lw = {"check": c.check, "location": loc.location}
            yield _row("location", "runs", loc.runs, **lw)
            yield _row("location", "failed_runs", loc.failed_runs, **lw)
            yield _row("location", "uptime_percent", loc.uptime_percent, **lw)
            yield _row("location", "failing_seconds", loc.failing_seconds, **lw)
            yield _row("location", "no_data_seconds", loc.no_data_seconds, **lw)
            yield from _latency("location", loc.latency, **lw)
        for n, inc in enumerate(c.incidents, 1):
            iw = {"check": c.check, "group": str(n)}
            yield _row("incident", "start", inc.start, **iw)
            yield _row("incident", "end", inc.end, **iw)
            yield _row("incident", "duration_seconds", inc.duration_seconds, **iw)
            yield _row("incident", "locations", " ".join(inc.locations), **iw)
            yield _row("incident", "failed_runs", inc.failed_runs, **iw)
            yield _row("incident", "no_data_seconds", inc.no_data_seconds, **iw)
            yield _row("incident", "ongoing", inc.ongoing, **iw)
            for reason, count in inc.reasons.items():
                yield _row("incident", f"reason_{reason}", count, **iw)
        for bucket in c.buckets:
            bw = {"check": c.check, "group": _v(bucket.start)}
            yield _row("bucket", "down_seconds", bucket.down_seconds, **bw)
            yield _row("bucket", "no_data_seconds", bucket.no_data_seconds, **bw)
            yield _row("bucket", "maintenance_seconds", bucket.maintenance_seconds, **bw)
            yield _row("bucket", "uptime_percent", bucket.uptime_percent, **bw)
    for n, m in enumerate(report.maintenance, 1):
        mw = {"group": str(n)}
        yield _row("maintenance", "name", m.name, **mw)
        yield _row("maintenance", "start", m.start, **mw)
        yield _row("maintenance", "end", m.end, **mw)
        yield _row("maintenance", "duration_seconds", m.duration_seconds, **mw)
        yield _row("maintenance", "checks", " ".join(m.checks) or "all", **mw)
    for a in report.apps:
        yield _row("app", "page_views", a.page_views, app=a.app)
        yield from _vitals("app", a.vitals, app=a.app)
        for r in a.routes:
            yield _row("route", "page_views", r.page_views, app=a.app, route=r.route)
            yield from _vitals("route", r.vitals, app=a.app, route=r.route)
        yield from _groups("slowest_region", a.app, a.slowest_regions)
        yield from _groups("slowest_device", a.app, a.slowest_devices)
    for n, note in enumerate(report.notes, 1):
        yield _row("note", "text", note, group=str(n))


def render_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(_rows(report))
    return out.getvalue()
