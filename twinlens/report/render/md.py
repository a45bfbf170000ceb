"""``--format md``: the report as Markdown, for a ticket, a wiki page or an e-mail.

Tables only (GitHub-flavoured), no HTML, so it reads the same as plain text::

    | check | SLO | uptime | met | downtime | budget left | incidents |
    |---|---|---|---|---|---|---|
    | homepage | 99.000% | 95.357% | missed | 13m | -10m 12s (-364.3%) | 2 |
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from twinlens.report.model import AppReport, CheckReport, Report, VitalFigures
from twinlens.report.render import fmt

__all__ = ["render_md"]


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = [
        "| " + " | ".join(_cell(h) for h in header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def met_text(met: bool | None) -> str:
    return {True: "met", False: "missed", None: fmt.NA}[met]


def budget_text(check: CheckReport) -> str:
    b = check.budget
    if b.left_ratio is None:
        return fmt.NA if check.measured_seconds <= 0 else fmt.duration(b.left_seconds)
    return f"{fmt.duration(b.left_seconds)} ({fmt.share(b.left_ratio)})"


def _summary(report: Report) -> list[str]:
    rows = []
    for c in report.checks:
        rows.append(
            (
                c.check,
                fmt.percent(c.budget.target_percent),
                fmt.percent(c.uptime_percent),
                met_text(c.budget.met),
                fmt.duration(c.down_seconds),
                budget_text(c),
                len(c.incidents),
                fmt.duration(c.maintenance_seconds),
                fmt.duration(c.no_data_seconds),
                fmt.seconds(c.latency.p95 if c.latency else None),
            )
        )
    header = (
        "check",
        "SLO target",
        "uptime",
        "SLO met",
        "downtime",
        "budget left",
        "incidents",
        "maintenance",
        "no data",
        "p95 latency",
    )
    return _table(header, rows)


def _check(c: CheckReport) -> list[str]:
    out = [f"### {c.check}", ""]
    out.append(
        f"Uptime **{fmt.percent(c.uptime_percent)}** against an SLO of "
        f"{fmt.percent(c.budget.target_percent)} ({met_text(c.budget.met)}), over "
        f"{fmt.duration(c.measured_seconds)} measured; quorum {c.quorum} of "
        f"{len(c.locations)} location(s). Error budget "
        f"{fmt.duration(c.budget.allowed_down_seconds)}, "
        f"downtime {fmt.duration(c.down_seconds)}, left {budget_text(c)}."
    )
    out.append("")
    rows: list[Sequence[object]] = []
    for loc in c.locations:
        lat = loc.latency
        rows.append(
            (
                loc.location,
                f"{loc.runs:,}",
                f"{loc.failed_runs:,}",
                fmt.percent(loc.uptime_percent),
                fmt.duration(loc.failing_seconds),
                fmt.duration(loc.no_data_seconds),
                fmt.seconds(lat.p50 if lat else None),
                fmt.seconds(lat.p95 if lat else None),
                fmt.seconds(lat.p99 if lat else None),
            )
        )
    if c.latency:
        rows.append(
            (
                "**all**",
                f"{sum(x.runs for x in c.locations):,}",
                f"{sum(x.failed_runs for x in c.locations):,}",
                "",
                "",
                "",
                fmt.seconds(c.latency.p50),
                fmt.seconds(c.latency.p95),
                fmt.seconds(c.latency.p99),
            )
        )
    header: tuple[str, ...] = (
        "location",
        "runs",
        "failed",
        "uptime (runs)",
        "failing",
        "no data",
        "p50",
        "p95",
        "p99",
    )
    out += _table(header, rows)
    if c.incidents:
        rows = []
        for n, inc in enumerate(c.incidents, 1):
            reasons = ", ".join(f"{r}: {k}" for r, k in inc.reasons.items()) or fmt.NA
            flags = " (ongoing)" if inc.ongoing else ""
            rows.append(
                (
                    n,
                    fmt.moment(inc.start),
                    fmt.moment(inc.end) + flags,
                    fmt.duration(inc.duration_seconds),
                    ", ".join(inc.locations) or fmt.NA,
                    inc.failed_runs,
                    reasons,
                )
            )
        header = (
            "#",
            "start (UTC)",
            "end (UTC)",
            "duration",
            "failing from",
            "failed runs",
            "reasons",
        )
        out += ["Incidents:", "", *_table(header, rows)]
    else:
        out += ["No incidents.", ""]
    return out


def _vital_row(label: str, v: VitalFigures) -> tuple[str, ...]:
    return (
        label,
        fmt.share(v.good_share),
        fmt.share(v.needs_improvement_share),
        fmt.share(v.poor_share),
        fmt.vital_value(v.vital, v.p75),
        fmt.number(v.samples),
    )


def _app(a: AppReport) -> list[str]:
    out = [f"### {a.app}", "", f"{fmt.number(a.page_views)} page views.", ""]
    if not any(v.samples for v in a.vitals):
        return [*out, "No Web Vitals were measured for this app in the period.", ""]
    out += _table(
        ("vital", "good", "needs improvement", "poor", "p75", "samples"),
        (_vital_row(v.vital, v) for v in a.vitals),
    )
    rows = []
    for r in a.routes:
        by = {v.vital: v for v in r.vitals}
        row: list[str] = [r.route, fmt.number(r.page_views)]
        for name in ("LCP", "INP", "CLS"):
            row += [fmt.share(by[name].good_share), fmt.vital_value(name, by[name].p75)]
        row += [fmt.share(by["FCP"].good_share), fmt.share(by["TTFB"].good_share)]
        rows.append(row)
    if rows:
        header = (
            "route",
            "page views",
            "LCP good",
            "LCP p75",
            "INP good",
            "INP p75",
            "CLS good",
            "CLS p75",
            "FCP good",
            "TTFB good",
        )
        out += ["Routes:", "", *_table(header, rows)]
    for title, groups in (("regions", a.slowest_regions), ("device types", a.slowest_devices)):
        if not groups:
            continue
        out += [f"Slowest {title} (by p75 LCP):", ""]
        out += _table(
            ("name", "LCP p75", "LCP good", "INP p75", "INP good", "samples"),
            (
                (
                    g.name,
                    fmt.seconds(g.lcp_p75),
                    fmt.share(g.lcp_good_share),
                    fmt.seconds(g.inp_p75),
                    fmt.share(g.inp_good_share),
                    fmt.number(g.samples),
                )
                for g in groups
            ),
        )
    return out


def render_md(report: Report) -> str:
    s = report.settings
    out = [
        f"# {report.title}",
        "",
        f"Period {fmt.moment(report.period_start)} to {fmt.moment(report.period_end)} UTC · "
        f"generated {fmt.moment(report.generated_at)} UTC from {s.prometheus} · "
        f"quorum {s.quorum} · step {fmt.duration(s.step_seconds)} · gaps: {s.gaps}",
        "",
    ]
    if report.checks:
        out += ["## Synthetic checks", "", *_summary(report)]
        for c in report.checks:
            out += _check(c)
    if report.maintenance:
        out += ["## Maintenance windows", ""]
        out += _table(
            ("window", "start (UTC)", "end (UTC)", "duration", "checks"),
            (
                (
                    m.name,
                    fmt.moment(m.start),
                    fmt.moment(m.end),
                    fmt.duration(m.duration_seconds),
                    ", ".join(m.checks) or "all",
                )
                for m in report.maintenance
            ),
        )
    if report.apps:
        out += ["## Real users (RUM)", ""]
        for a in report.apps:
            out += _app(a)
    if report.notes:
        out += ["## Notes", "", *(f"- {n}" for n in report.notes), ""]
    out += ["## How these figures are computed", ""]
    lines = fmt.method_lines(
        s.step_seconds, s.quorum, s.gaps, synthetic=bool(report.checks), rum=bool(report.apps)
    )
    out += [f"- {line}" for line in lines]
    return "\n".join(out) + "\n"
