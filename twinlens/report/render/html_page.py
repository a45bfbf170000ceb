"""``--format html``: one self-contained page with inline SVG charts that prints well.

No scripts, no web fonts, no images, no links to fetch: the file can be mailed, archived
or printed to PDF years later and look the same. Every label from Prometheus is escaped.
Print styles keep each check on one page where it fits and keep the chart colours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from twinlens.report.model import AppReport, CheckReport, GroupFigures, Report, VitalFigures
from twinlens.report.render import fmt, svg
from twinlens.report.render.md import budget_text, met_text

__all__ = ["render_html"]

_CSS = """
:root { --fg: #212121; --muted: #616161; --line: #e0e0e0; --bg-alt: #fafafa; }
* { box-sizing: border-box; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--fg); margin: 0 auto; max-width: 1080px; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 2px solid var(--fg); padding-bottom: 2px; }
h3 { font-size: 16px; margin: 24px 0 6px; }
.meta, .muted, figcaption { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 14px; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
         vertical-align: middle; }
th { font-weight: 600; background: var(--bg-alt); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 0 8px; border-radius: 9px; font-size: 12px;
         font-weight: 600; color: #fff; }
.met { background: #2e7d32; } .missed { background: #c62828; } .unknown { background: #9e9e9e; }
figure { margin: 8px 0 12px; }
svg.strip { width: 100%; height: 28px; display: block; }
svg.chart { width: 100%; height: auto; display: block; max-width: 760px; }
svg.chart text { font: 11px system-ui, sans-serif; fill: #424242; }
svg.share { width: 120px; height: 12px; vertical-align: middle; margin-right: 6px; }
.axis { display: flex; justify-content: space-between; color: var(--muted); font-size: 11px; }
.legend span { margin-right: 14px; font-size: 12px; white-space: nowrap; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px;
            vertical-align: -1px; }
.figure { font-size: 22px; font-weight: 600; }
ul.notes li { margin-bottom: 4px; }
@page { size: A4; margin: 14mm; }
@media print {
  body { padding: 0; max-width: none; font-size: 10pt; }
  section.check, section.app, figure, tr { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _table(
    header: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = ()
) -> str:
    def cell(tag: str, i: int, value: object) -> str:
        cls = ' class="num"' if i in numeric else ""
        return f"<{tag}{cls}>{value}</{tag}>"

    head = "".join(cell("th", i, _e(h)) for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _badge(met: bool | None) -> str:
    cls = {True: "met", False: "missed", None: "unknown"}[met]
    return f'<span class="badge {cls}">{_e(met_text(met))}</span>'


def _legend(keys: Sequence[tuple[str, str]]) -> str:
    return (
        '<div class="legend">'
        + "".join(
            f'<span><i style="background:{svg.COLORS[k]}"></i>{_e(t)}</span>' for k, t in keys
        )
        + "</div>"
    )


def _summary(report: Report) -> str:
    rows = [
        (
            f'<a href="#check-{n}">{_e(c.check)}</a>',
            _e(fmt.percent(c.budget.target_percent)),
            _e(fmt.percent(c.uptime_percent)),
            _badge(c.budget.met),
            _e(fmt.duration(c.down_seconds)),
            _e(budget_text(c)),
            len(c.incidents),
            _e(fmt.duration(c.maintenance_seconds)),
            _e(fmt.duration(c.no_data_seconds)),
            _e(fmt.seconds(c.latency.p95 if c.latency else None)),
        )
        for n, c in enumerate(report.checks, 1)
    ]
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
    return _table(header, rows, numeric=(1, 2, 4, 5, 6, 7, 8, 9))


def _check(n: int, c: CheckReport, report: Report) -> str:
    hourly = (report.period_end - report.period_start).total_seconds() < 3 * 86400
    out = [f'<section class="check" id="check-{n}"><h3>{_e(c.check)}</h3>']
    out.append(
        f'<p><span class="figure">{_e(fmt.percent(c.uptime_percent))}</span> uptime · SLO '
        f"{_e(fmt.percent(c.budget.target_percent))} {_badge(c.budget.met)} · error budget "
        f"{_e(fmt.duration(c.budget.allowed_down_seconds))}, downtime "
        f"{_e(fmt.duration(c.down_seconds))}, left {_e(budget_text(c))} · measured "
        f"{_e(fmt.duration(c.measured_seconds))} · quorum {c.quorum} of {len(c.locations)} "
        "location(s)</p>"
    )
    out.append(
        "<figure>"
        + svg.status_strip(
            c.timeline, report.period_start, report.period_end, f"{c.check}: status over the period"
        )
        + f'<div class="axis"><span>{_e(fmt.moment(report.period_start))}</span>'
        f"<span>{_e(fmt.moment(report.period_end))} UTC</span></div>"
        + _legend(
            (("up", "up"), ("down", "down"), ("no_data", "no data"), ("maintenance", "maintenance"))
        )
        + "</figure>"
    )
    per = "hour" if hourly else "day"
    out.append(
        "<figure>"
        + svg.downtime_bars(c.buckets, f"{c.check}: downtime per {per}", hourly)
        + f"<figcaption>Downtime, time without data and maintenance per {per} (UTC).</figcaption>"
        "</figure>"
    )
    rows: list[Sequence[object]] = []
    for loc in c.locations:
        lat = loc.latency
        rows.append(
            (
                _e(loc.location),
                f"{loc.runs:,}",
                f"{loc.failed_runs:,}",
                _e(fmt.percent(loc.uptime_percent)),
                _e(fmt.duration(loc.failing_seconds)),
                _e(fmt.duration(loc.no_data_seconds)),
                _e(fmt.seconds(lat.p50 if lat else None)),
                _e(fmt.seconds(lat.p95 if lat else None)),
                _e(fmt.seconds(lat.p99 if lat else None)),
            )
        )
    if c.latency:
        rows.append(
            (
                "<b>all</b>",
                f"{sum(x.runs for x in c.locations):,}",
                f"{sum(x.failed_runs for x in c.locations):,}",
                "",
                "",
                "",
                _e(fmt.seconds(c.latency.p50)),
                _e(fmt.seconds(c.latency.p95)),
                _e(fmt.seconds(c.latency.p99)),
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
    out.append(_table(header, rows, numeric=(1, 2, 3, 4, 5, 6, 7, 8)))
    if c.incidents:
        rows = []
        for k, inc in enumerate(c.incidents, 1):
            reasons = ", ".join(f"{r}: {m}" for r, m in inc.reasons.items()) or fmt.NA
            rows.append(
                (
                    k,
                    _e(fmt.moment(inc.start)),
                    _e(fmt.moment(inc.end)) + (" <b>(ongoing)</b>" if inc.ongoing else ""),
                    _e(fmt.duration(inc.duration_seconds)),
                    _e(", ".join(inc.locations) or fmt.NA),
                    inc.failed_runs,
                    _e(reasons),
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
        out.append("<h4>Incidents</h4>" + _table(header, rows, numeric=(0, 3, 5)))
    else:
        out.append('<p class="muted">No incidents.</p>')
    out.append("</section>")
    return "".join(out)


def _vital_cells(v: VitalFigures) -> tuple[str, str]:
    bar = svg.share_bar(v.good_share, v.needs_improvement_share, v.poor_share)
    return bar + _e(fmt.share(v.good_share)), _e(fmt.vital_value(v.vital, v.p75))


def _groups(title: str, groups: Sequence[GroupFigures]) -> str:
    if not groups:
        return ""
    chart = svg.hbars([(g.name, g.lcp_p75) for g in groups], 2.5, f"{title}: p75 LCP", fmt.seconds)
    rows = [
        (
            _e(g.name),
            _e(fmt.seconds(g.lcp_p75)),
            _e(fmt.share(g.lcp_good_share)),
            _e(fmt.seconds(g.inp_p75)),
            _e(fmt.share(g.inp_good_share)),
            _e(fmt.number(g.samples)),
        )
        for g in groups
    ]
    table = _table(
        ("name", "LCP p75", "LCP good", "INP p75", "INP good", "samples"),
        rows,
        numeric=(1, 2, 3, 4, 5),
    )
    return f"<h4>{_e(title)} (by p75 LCP)</h4><figure>{chart}</figure>{table}"


def _app(a: AppReport) -> str:
    out = [f'<section class="app"><h3>{_e(a.app)}</h3>']
    out.append(f'<p><span class="figure">{_e(fmt.number(a.page_views))}</span> page views</p>')
    if not any(v.samples for v in a.vitals):
        out.append('<p class="muted">No Web Vitals were measured for this app in the period.</p>')
        return "".join(out) + "</section>"
    vital_rows: list[Sequence[object]] = []
    for v in a.vitals:
        good, p75 = _vital_cells(v)
        vital_rows.append(
            (
                _e(v.vital),
                good,
                _e(fmt.share(v.needs_improvement_share)),
                _e(fmt.share(v.poor_share)),
                p75,
                _e(fmt.number(v.samples)),
            )
        )
    out.append(
        _table(
            ("vital", "good", "needs improvement", "poor", "p75", "samples"),
            vital_rows,
            (2, 3, 4, 5),
        )
    )
    out.append(
        _legend((("good", "good"), ("needs_improvement", "needs improvement"), ("poor", "poor")))
    )
    if a.routes:
        rows: list[Sequence[object]] = []
        for r in a.routes:
            by = {v.vital: v for v in r.vitals}
            row: list[str] = [_e(r.route), _e(fmt.number(r.page_views))]
            for name in ("LCP", "INP", "CLS"):
                row += list(_vital_cells(by[name]))
            rows.append(row)
        header = (
            "route",
            "page views",
            "LCP good",
            "LCP p75",
            "INP good",
            "INP p75",
            "CLS good",
            "CLS p75",
        )
        out.append("<h4>Routes</h4>" + _table(header, rows, numeric=(1, 3, 5, 7)))
    out.append(_groups("Slowest regions", a.slowest_regions))
    out.append(_groups("Slowest device types", a.slowest_devices))
    out.append("</section>")
    return "".join(out)


def render_html(report: Report) -> str:
    s = report.settings
    body = [
        f"<header><h1>{_e(report.title)}</h1>"
        f'<p class="meta">Period {_e(fmt.moment(report.period_start))} to '
        f"{_e(fmt.moment(report.period_end))} UTC · generated "
        f"{_e(fmt.moment(report.generated_at))} UTC from {_e(s.prometheus)} · quorum "
        f"{s.quorum} · step {_e(fmt.duration(s.step_seconds))} · time without data: "
        f"{_e(s.gaps)}</p></header>"
    ]
    if report.checks:
        body.append("<section><h2>Synthetic checks</h2>" + _summary(report) + "</section>")
        body += [_check(n, c, report) for n, c in enumerate(report.checks, 1)]
    if report.maintenance:
        rows = [
            (
                _e(m.name),
                _e(fmt.moment(m.start)),
                _e(fmt.moment(m.end)),
                _e(fmt.duration(m.duration_seconds)),
                _e(", ".join(m.checks) or "all"),
            )
            for m in report.maintenance
        ]
        body.append(
            "<section><h2>Maintenance windows</h2>"
            + _table(("window", "start (UTC)", "end (UTC)", "duration", "checks"), rows, (3,))
            + "</section>"
        )
    if report.apps:
        body.append("<section><h2>Real users (RUM)</h2></section>")
        body += [_app(a) for a in report.apps]
    if report.notes:
        items = "".join(f"<li>{_e(n)}</li>" for n in report.notes)
        body.append(f'<section><h2>Notes</h2><ul class="notes">{items}</ul></section>')
    lines = fmt.method_lines(
        s.step_seconds, s.quorum, s.gaps, synthetic=bool(report.checks), rum=bool(report.apps)
    )
    method = "".join(f"<li>{_e(m)}</li>" for m in lines)
    body.append(
        f'<section><h2>How these figures are computed</h2><ul class="notes">{method}</ul></section>'
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{_e(report.title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
