"""The five Grafana dashboards, as plain JSON-able dicts built by small helpers.

Why plain dicts and not ``grafana-foundation-sdk``'s typed builders: the output is
checked in and compared byte for byte, so we want full control of what is emitted (no
SDK defaults changing between its releases, which follow Grafana's own versions); the
SDK would be a runtime dependency for a build-time job; and the correctness the types
would give is checked anyway, more strictly, by validating every dashboard and panel
against the SDK's own JSON schemas (``tests/unit/test_observability_dashboards.py``).

    >>> dash = build_dashboards(Spec())["twinlens-overview"]
    >>> dash["templating"]["list"][0]["type"]
    'datasource'

Conventions every dashboard follows: a ``datasource`` variable used by every panel and
query; only current panel types (timeseries, stat, table, heatmap, bargauge), never the
Angular ``graph`` / ``singlestat``; a unit and a description on every panel; rates over
``$__rate_interval``; not editable (they are provisioned, and regenerated from source).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twinlens.observability.rules import recording_name
from twinlens.observability.spec import (
    API_METRIC,
    CORE_VITALS,
    VITALS,
    Spec,
    Vital,
    le_matcher,
    number,
)

__all__ = ["DASHBOARDS", "build_dashboards"]

DS = {"type": "prometheus", "uid": "${datasource}"}
RI = "$__rate_interval"
#: uid -> title; the uid is also the file name (``dashboards/<uid>.json``).
DASHBOARDS = {
    "twinlens-overview": "twinlens / Overview: probes and real users side by side",
    "twinlens-synthetic": "twinlens / Synthetic checks",
    "twinlens-rum": "twinlens / Real users",
    "twinlens-sla": "twinlens / SLA: uptime against target",
    "twinlens-api": "twinlens / Backend API per route",
}

Json = dict[str, Any]


# --- building blocks ----------------------------------------------------------------------


def _target(expr: str, legend: str = "", *, instant: bool = False, fmt: str = "") -> Json:
    t: Json = {"datasource": DS, "expr": expr, "editorMode": "code", "range": not instant}
    t["instant"] = instant
    t["legendFormat"] = legend or "__auto"
    if fmt:
        t["format"] = fmt
    return t


def _thresholds(*steps: tuple[float | None, str]) -> Json:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in steps]}


_GREEN = _thresholds((None, "green"))


class _Layout:
    """Places panels left to right on Grafana's 24-column grid, wrapping rows."""

    def __init__(self) -> None:
        self.x = self.y = self.row_h = 0
        self.next_id = 1
        self.panels: list[Json] = []

    def add(self, panel: Json, w: int, h: int = 8) -> None:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"] = self.next_id
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)

    def row(self, title: str) -> None:
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.panels.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "id": self.next_id,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                "panels": [],
            }
        )
        self.next_id += 1
        self.y += 1


def _field_config(
    unit: str,
    *,
    custom: Json | None = None,
    thresholds: Json | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    mappings: list[Json] | None = None,
    color: str = "palette-classic",
) -> Json:
    defaults: Json = {"unit": unit, "color": {"mode": color}, "thresholds": thresholds or _GREEN}
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    if mappings:
        defaults["mappings"] = mappings
    if custom is not None:
        defaults["custom"] = custom
    return {"defaults": defaults, "overrides": []}


def timeseries(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[Json],
    *,
    stack: bool = False,
    bars: bool = False,
    thresholds: Json | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Json:
    custom: Json = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 60 if stack else 10,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
    }
    if thresholds is not None:
        custom["thresholdsStyle"] = {"mode": "dashed"}
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": _ref(targets),
        "fieldConfig": _field_config(
            unit, custom=custom, thresholds=thresholds, minimum=minimum, maximum=maximum
        ),
        "options": {
            "legend": {
                "displayMode": "list",
                "placement": "bottom",
                "showLegend": True,
                "calcs": [],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[Json],
    *,
    thresholds: Json | None = None,
    mappings: list[Json] | None = None,
    decimals: int | None = None,
) -> Json:
    fc = _field_config(unit, thresholds=thresholds, mappings=mappings, color="thresholds")
    if decimals is not None:
        fc["defaults"]["decimals"] = decimals
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": _ref(targets),
        "fieldConfig": fc,
        "options": {
            "graphMode": "none",
            "colorMode": "background",
            "justifyMode": "auto",
            "textMode": "value_and_name",
            "wideLayout": True,
            "showPercentChange": False,
            "percentChangeColorMode": "standard",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        },
    }


def table(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[Json],
    *,
    sort_by: str | None = None,
    thresholds: Json | None = None,
    hide: Sequence[str] = ("Time",),
) -> Json:
    """An instant-query table; several queries are merged on their common labels."""
    for t in targets:
        t.update(instant=True, range=False, format="table")
    transformations: list[Json] = []
    if len(targets) > 1:
        transformations.append({"id": "merge", "options": {}})
    transformations.append(
        {"id": "organize", "options": {"excludeByName": {name: True for name in hide}}}
    )
    fc = _field_config(
        unit,
        custom={"align": "auto", "inspect": False},
        thresholds=thresholds,
        color="thresholds",
    )
    options: Json = {"frameIndex": 0, "showHeader": True, "cellHeight": "sm"}
    if sort_by:
        options["sortBy"] = [{"displayName": sort_by, "desc": True}]
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": _ref(targets),
        "fieldConfig": fc,
        "options": options,
        "transformations": transformations,
    }


def heatmap(title: str, description: str, unit: str, expr: str) -> Json:
    return {
        "type": "heatmap",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": _ref([_target(expr, "{{le}}", fmt="heatmap")]),
        "fieldConfig": _field_config(
            unit, custom={"hideFrom": {"legend": False, "tooltip": False, "viz": False}}
        ),
        "options": {
            "calculate": False,
            "cellGap": 1,
            "color": {
                "mode": "scheme",
                "scheme": "Oranges",
                "fill": "dark-orange",
                "exponent": 0.5,
                "steps": 64,
                "reverse": False,
            },
            "showValue": "never",
            "yAxis": {"axisPlacement": "left", "unit": unit},
            "rowsFrame": {"layout": "le"},
            "legend": {"show": True},
            "tooltip": {"mode": "single", "yHistogram": True, "showColorScale": False},
            "exemplars": {"color": "rgba(255,0,255,0.7)"},
            "cellValues": {"unit": "short"},
        },
    }


def bargauge(title: str, description: str, unit: str, targets: Sequence[Json], **kw: Any) -> Json:
    return {
        "type": "bargauge",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": _ref(targets),
        "fieldConfig": _field_config(unit, color="thresholds", **kw),
        "options": {
            "displayMode": "gradient",
            "valueMode": "color",
            "namePlacement": "auto",
            "showUnfilled": True,
            "sizing": "auto",
            "minVizWidth": 8,
            "minVizHeight": 16,
            "maxVizHeight": 300,
            "orientation": "horizontal",
            "legend": {
                "displayMode": "list",
                "placement": "bottom",
                "showLegend": False,
                "calcs": [],
            },
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        },
    }


def _ref(targets: Sequence[Json]) -> list[Json]:
    for i, t in enumerate(targets):
        t["refId"] = chr(ord("A") + i)
    return list(targets)


def _datasource_var() -> Json:
    return {
        "type": "datasource",
        "name": "datasource",
        "label": "Data source",
        "query": "prometheus",
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "includeAll": False,
        "multi": False,
        "options": [],
    }


def _query_var(name: str, label: str, query: str, *, multi: bool = True) -> Json:
    var: Json = {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DS,
        "query": query,
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "hide": 0,
        "multi": multi,
        "includeAll": multi,
        "options": [],
    }
    if multi:
        var["allValue"] = ".*"
        var["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    return var


def _dashboard(
    uid: str, description: str, variables: list[Json], layout: _Layout, time_from: str
) -> Json:
    return {
        "uid": uid,
        "title": DASHBOARDS[uid],
        "description": description,
        "tags": ["twinlens"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "time": {"from": time_from, "to": "now"},
        "refresh": "1m",
        "schemaVersion": 39,
        "version": 1,
        "links": [
            {
                "title": "twinlens",
                "type": "dashboards",
                "icon": "external link",
                "tooltip": "the other twinlens dashboards",
                "tags": ["twinlens"],
                "asDropdown": True,
                "targetBlank": False,
                "includeVars": False,
                "keepTime": True,
            }
        ],
        "annotations": {"list": []},
        "templating": {"list": [_datasource_var(), *variables]},
        "panels": layout.panels,
    }


def _rate(by: str, series: str, window: str = RI) -> str:
    return f"sum by ({by}) (rate({series}[{window}]))"


def _inc(by: str, series: str, window: str = RI) -> str:
    return f"sum by ({by}) (increase({series}[{window}]))"


def _ratio_or_zero(bad: str, total: str) -> str:
    """``bad / total`` that shows 0, not "no data", while nothing is bad."""
    return f"({bad} or 0 * {total}) / {total}"


def _bucket(v: Vital, sel: str, bound: float) -> str:
    return f"{v.metric}_bucket{{{sel}, {le_matcher(bound)}}}"


def _good_share(metric: str, v: Vital, sel: str, by: str, window: str) -> str:
    good = f"sum by ({by}) (increase({metric}_bucket{{{sel}, {le_matcher(v.good)}}}[{window}]))"
    count = f"sum by ({by}) (increase({metric}_count{{{sel}}}[{window}]))"
    return f"{good} / {count}"


def _p(q: float, metric: str, sel: str, by: str) -> str:
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{sel}}}[{RI}])))"


# --- the dashboards -----------------------------------------------------------------------


def _overview(spec: Spec) -> Json:
    budget = number(spec.check_error_budget)
    lay = _Layout()
    runs = "twinlens_check_runs_total"
    lay.row("Synthetic: is it up? (probes, from every location, even at 3am)")
    lay.add(
        table(
            "Availability by check and location",
            "Share of scheduled runs that succeeded (after retries) over the dashboard's "
            "time range, from the exact run counters.",
            "percentunit",
            [
                _target(
                    f'sum by (check, location) (increase({runs}{{result="success"}}[$__range]))'
                    f" / sum by (check, location) (increase({runs}[$__range]))"
                )
            ],
            thresholds=_thresholds((None, "red"), (spec.check_slo, "green")),
        ),
        12,
    )
    lay.add(
        bargauge(
            "Error budget left by check",
            f"Share of the uptime error budget ({number(spec.check_slo * 100)}% SLO) "
            "still unspent over the time range; below zero the SLO is missed.",
            "percentunit",
            [
                _target(
                    "1 - "
                    + _ratio_or_zero(
                        f'sum by (check) (increase({runs}{{result="failure"}}[$__range]))',
                        f"sum by (check) (increase({runs}[$__range]))",
                    )
                    + f" / {budget}",
                    "{{check}}",
                    instant=True,
                )
            ],
            thresholds=_thresholds((None, "red"), (0.25, "orange"), (0.5, "green")),
            minimum=0,
            maximum=1,
        ),
        12,
    )
    lay.add(
        timeseries(
            "Probe success by check and location",
            "1 when the last run succeeded. Several locations down at once is an outage; "
            "one alone is usually the path from that location.",
            "percentunit",
            [
                _target(
                    'min by (check, location) (probe_success{check!=""})',
                    "{{check}} @ {{location}}",
                )
            ],
            minimum=0,
            maximum=1,
        ),
        24,
    )
    lay.row("Real users: how does it feel? (RUM, by route and device)")
    lay.add(
        table(
            "Good share per core vital by route and device",
            f"Share of samples within the Web Vitals 'good' threshold over the time range "
            f"(target {number(spec.rum_good_share * 100)}%). Exact: the thresholds are "
            "bucket bounds.",
            "percentunit",
            [
                _target(
                    _good_share(v.metric, v, 'app=~"$app"', "route, device", "$__range"), v.title
                )
                for v in CORE_VITALS
            ],
            thresholds=_thresholds((None, "red"), (spec.rum_good_share, "green")),
        ),
        24,
    )
    for v in CORE_VITALS:
        lay.add(
            timeseries(
                f"p75 {v.title} by route and device",
                f"75th percentile of {v.title} (the Web Vitals reporting percentile); good "
                f"<= {number(v.good)}, poor > {number(v.poor)}.",
                v.unit,
                [
                    _target(
                        _p(0.75, v.metric, 'app=~"$app"', "route, device"), "{{route}} {{device}}"
                    )
                ],
                thresholds=_thresholds((None, "green"), (v.good, "orange"), (v.poor, "red")),
            ),
            8,
        )
    lay.row("The API: what browsers get, next to what probes see")
    api = "rum_api_request_duration_seconds"
    lay.add(
        timeseries(
            "Browser-observed API error ratio",
            "Share of the API calls pages made that failed (5xx, or no answer at all: "
            "network, CORS, TLS), by API route.",
            "percentunit",
            [
                _target(
                    _ratio_or_zero(
                        _rate(
                            "api_route", f'{api}_count{{app=~"$app", status_class=~"5xx|error"}}'
                        ),
                        _rate("api_route", f'{api}_count{{app=~"$app"}}'),
                    ),
                    "{{api_route}}",
                )
            ],
            minimum=0,
        ),
        8,
    )
    lay.add(
        timeseries(
            "Probe availability by check",
            "Share of locations whose last run succeeded: what synthetic checks see of "
            "the same service.",
            "percentunit",
            [_target('avg by (check) (probe_success{check!=""})', "{{check}}")],
            minimum=0,
            maximum=1,
        ),
        8,
    )
    lay.add(
        timeseries(
            "API p95: browsers vs probes",
            "p95 of API calls as browsers timed them, next to how long each probe took. "
            "Browsers include the user's network; probes run from a datacenter.",
            "s",
            [
                _target(_p(0.95, api, 'app=~"$app"', "api_route"), "browser {{api_route}}"),
                _target('max by (check) (probe_duration_seconds{check!=""})', "probe {{check}}"),
            ],
        ),
        8,
    )
    lay.row("Alerts")
    lay.add(
        table(
            "Firing alerts",
            "twinlens alerts firing now, from Prometheus's ALERTS series.",
            "none",
            [_target('ALERTS{alertstate="firing", alertname=~"Twinlens.*"}')],
            hide=("Time", "Value", "__name__", "alertstate"),
        ),
        24,
    )
    return _dashboard(
        "twinlens-overview",
        "Both halves of monitoring in one place: synthetic availability and SLO budget, "
        "real users' Web Vitals, the API as browsers and probes see it, firing alerts.",
        [_query_var("app", "App", "label_values(rum_beacons_total, app)")],
        lay,
        "now-6h",
    )


def _synthetic(spec: Spec) -> Json:
    sel = 'check=~"$check", location=~"$location"'
    lay = _Layout()
    lay.add(
        stat(
            "Up now",
            "Result of the last run, per check and location.",
            "bool_yes_no",
            [_target(f"probe_success{{{sel}}}", "{{check}} @ {{location}}", instant=True)],
            thresholds=_thresholds((None, "red"), (1, "green")),
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "DOWN", "color": "red", "index": 0},
                        "1": {"text": "UP", "color": "green", "index": 1},
                    },
                }
            ],
        ),
        12,
        5,
    )
    lay.add(
        stat(
            "Time since last run",
            f"Seconds since each check last ran; the stale alert fires at "
            f"{number(spec.stale_intervals)} intervals.",
            "s",
            [
                _target(
                    f"time() - twinlens_check_last_run_timestamp_seconds{{{sel}}}",
                    "{{check}} @ {{location}}",
                    instant=True,
                )
            ],
        ),
        6,
        5,
    )
    lay.add(
        stat(
            "TLS certificate expires in",
            "Time until the earliest-expiring certificate of the served chain expires "
            f"(reported even when verification fails). Warning at "
            f"{number(spec.tls_warning_days)} days.",
            "dtdurations",
            [
                _target(
                    f"min by (check, location) (probe_ssl_earliest_cert_expiry{{{sel}}}) - time()",
                    "{{check}} @ {{location}}",
                    instant=True,
                )
            ],
            thresholds=_thresholds(
                (None, "red"), (0, "orange"), (spec.tls_warning_days * 86400, "green")
            ),
        ),
        6,
        5,
    )
    runs = "twinlens_check_runs_total"
    lay.add(
        timeseries(
            "Availability",
            "Share of runs that succeeded in each interval, from the run counters.",
            "percentunit",
            [
                _target(
                    f'sum by (check, location) (increase({runs}{{{sel}, result="success"}}[{RI}]))'
                    f" / sum by (check, location) (increase({runs}{{{sel}}}[{RI}]))",
                    "{{check}} @ {{location}}",
                )
            ],
            minimum=0,
            maximum=1,
        ),
        12,
    )
    lay.add(
        timeseries(
            "Failures by reason",
            "Failed runs per interval by reason (dns, connect, tls, timeout, http_status, "
            "body_regex, ...): the first place to look when a check goes red.",
            "short",
            [
                _target(
                    _inc("check, location, reason", f"twinlens_check_failures_total{{{sel}}}"),
                    "{{check}} @ {{location}}: {{reason}}",
                )
            ],
            bars=True,
            stack=True,
        ),
        12,
    )
    lay.add(
        timeseries(
            "HTTP phases",
            "Where the time of the last run went: resolve, connect, tls, processing "
            "(server think time), transfer.",
            "s",
            [
                _target(
                    f"probe_http_duration_seconds{{{sel}}}",
                    "{{location}} {{phase}}",
                )
            ],
            stack=True,
        ),
        12,
    )
    lay.add(
        timeseries(
            "Run duration p50 / p95",
            "Percentiles of how long runs took, from the check duration histogram.",
            "s",
            [
                _target(
                    _p(0.5, "twinlens_check_duration_seconds", sel, "check, location"),
                    "p50 {{check}} @ {{location}}",
                ),
                _target(
                    _p(0.95, "twinlens_check_duration_seconds", sel, "check, location"),
                    "p95 {{check}} @ {{location}}",
                ),
            ],
        ),
        12,
    )
    lay.add(
        timeseries(
            "HTTP status code",
            "Status code of the last response (0 when none came back).",
            "none",
            [_target(f"probe_http_status_code{{{sel}}}", "{{check}} @ {{location}}")],
        ),
        12,
    )
    lay.add(
        timeseries(
            "Runs and attempts",
            "Final results per interval next to every attempt: attempts above runs means "
            "retries are hiding flakiness.",
            "short",
            [
                _target(
                    f"sum by (check, result) (increase({runs}{{{sel}}}[{RI}]))",
                    "runs {{check}} {{result}}",
                ),
                _target(
                    _inc("check, result", f"twinlens_check_attempts_total{{{sel}}}"),
                    "attempts {{check}} {{result}}",
                ),
            ],
        ),
        12,
    )
    lay.row("Journeys (multi-step checks)")
    lay.add(
        timeseries(
            "Journey step success",
            "1 when the step passed in the last run. Only journey checks have steps.",
            "bool_yes_no",
            [
                _target(
                    f"twinlens_journey_step_success{{{sel}}}",
                    "{{check}} @ {{location}}: {{step}}",
                )
            ],
            minimum=0,
            maximum=1,
        ),
        12,
    )
    lay.add(
        timeseries(
            "Journey step duration",
            "How long each step of the last run took.",
            "s",
            [
                _target(
                    f"twinlens_journey_step_duration_seconds{{{sel}}}",
                    "{{check}} @ {{location}}: {{step}}",
                )
            ],
            stack=True,
        ),
        12,
    )
    return _dashboard(
        "twinlens-synthetic",
        "Scheduled checks per check and location: up/down, phases, status codes, "
        "failure reasons, certificate expiry, run durations, journey steps.",
        [
            _query_var("check", "Check", "label_values(twinlens_check_info, check)"),
            _query_var(
                "location",
                "Location",
                'label_values(twinlens_check_info{check=~"$check"}, location)',
            ),
        ],
        lay,
        "now-6h",
    )


def _rum(spec: Spec) -> Json:
    route = 'app=~"$app", route=~"$route", device=~"$device"'
    geo = 'app=~"$app", region=~"$region", country=~"$country", device=~"$device"'
    browser = 'app=~"$app", browser=~"$browser", device=~"$device"'
    lay = _Layout()
    lay.row("Core Web Vitals by route")
    for v in VITALS:
        lay.add(
            timeseries(
                f"p75 {v.title} by route",
                f"75th percentile of {v.title} per route (good <= {number(v.good)}, poor > "
                f"{number(v.poor)}).",
                v.unit,
                [_target(_p(0.75, v.metric, route, "route"), "{{route}}")],
                thresholds=_thresholds((None, "green"), (v.good, "orange"), (v.poor, "red")),
            ),
            8 if v in CORE_VITALS else 12,
        )
    lay.row("Good / needs improvement / poor")
    for v in CORE_VITALS:
        count = f"sum(increase({v.metric}_count{{{route}}}[{RI}]))"
        good = f"sum(increase({v.metric}_bucket{{{route}, {le_matcher(v.good)}}}[{RI}]))"
        ok = f"sum(increase({v.metric}_bucket{{{route}, {le_matcher(v.poor)}}}[{RI}]))"
        lay.add(
            timeseries(
                f"{v.title}: good / needs improvement / poor",
                f"Shares of {v.title} samples in each Web Vitals band (good <= "
                f"{number(v.good)}, poor > {number(v.poor)}); exact, since both thresholds "
                "are bucket bounds.",
                "percentunit",
                [
                    _target(f"{good} / {count}", "good"),
                    _target(f"({ok} - {good}) / {count}", "needs improvement"),
                    _target(f"1 - {ok} / {count}", "poor"),
                ],
                stack=True,
                minimum=0,
                maximum=1,
            ),
            8,
        )
    lay.row("Distributions")
    for v in CORE_VITALS:
        lay.add(
            heatmap(
                f"{v.title} distribution",
                f"How many {v.title} samples fell in each bucket over time.",
                v.unit,
                f"sum by (le) (increase({v.metric}_bucket{{{route}}}[{RI}]))",
            ),
            8,
        )
    lay.row("Where: devices, browsers, countries, regions")
    lay.add(
        timeseries(
            "p75 LCP by device",
            "Mobile on a slow network is where the slowest users usually are.",
            "s",
            [_target(_p(0.75, "rum_lcp_seconds", route, "device"), "{{device}}")],
        ),
        8,
    )
    lay.add(
        timeseries(
            "p75 LCP by browser",
            "By browser family and device class.",
            "s",
            [
                _target(
                    _p(0.75, "rum_lcp_by_browser_seconds", browser, "browser, device"),
                    "{{browser}} {{device}}",
                )
            ],
        ),
        8,
    )
    lay.add(
        timeseries(
            "p75 INP by browser",
            "Interaction latency by browser family and device class.",
            "s",
            [
                _target(
                    _p(0.75, "rum_inp_by_browser_seconds", browser, "browser, device"),
                    "{{browser}} {{device}}",
                )
            ],
        ),
        8,
    )
    lay.add(
        timeseries(
            "LCP good share by region and device",
            "Share of good LCP per UN M49 sub-region and device: the slow users a "
            "datacenter probe never sees.",
            "percentunit",
            [
                _target(
                    _good_share("rum_lcp_by_geo_seconds", VITALS[0], geo, "region, device", RI),
                    "{{region}} {{device}}",
                )
            ],
            thresholds=_thresholds((None, "red"), (spec.rum_good_share, "green")),
            minimum=0,
            maximum=1,
        ),
        12,
    )
    lay.add(
        table(
            "p75 and good share by country",
            "Per country over the time range: p75 LCP and share of good LCP samples.",
            "s",
            [
                _target(
                    "histogram_quantile(0.75, sum by (le, country, region) "
                    f"(increase(rum_lcp_by_geo_seconds_bucket{{{geo}}}[$__range])))",
                    "p75 LCP",
                ),
                _target(
                    _good_share(
                        "rum_lcp_by_geo_seconds", VITALS[0], geo, "country, region", "$__range"
                    ),
                    "good share",
                ),
            ],
        ),
        12,
    )
    lay.row("Fix this first")
    not_good = [
        _target(
            f"topk(20, {_inc('route, device', f'{v.metric}_count{{{route}}}', '$__range')}"
            f" - {_inc('route, device', _bucket(v, route, v.good), '$__range')})",
            f"{v.title} not good",
        )
        for v in CORE_VITALS
    ]
    lay.add(
        table(
            "Routes ranked by slow experiences",
            "Traffic-weighted: how many samples per route and device were not 'good', "
            "over the time range. A busy route slightly slow outranks a rare route very "
            "slow: fixing it helps more users.",
            "short",
            not_good,
            sort_by="LCP not good",
        ),
        24,
        9,
    )
    lay.row("Traffic, errors and the API calls pages make")
    lay.add(
        timeseries(
            "Page views by navigation type",
            "Views per second (scaled by the session sample rate), by navigation type: "
            "navigate, reload, back_forward, soft (SPA route change), ...",
            "suffix: views/s",
            [
                _target(
                    f"sum by (nav_type) (rate(rum_page_views_total{{{route}}}[{RI}]))",
                    "{{nav_type}}",
                )
            ],
            stack=True,
        ),
        8,
    )
    lay.add(
        timeseries(
            "JavaScript errors",
            "Errors per second by route and kind (error, unhandledrejection, ...).",
            "suffix: errors/s",
            [
                _target(
                    _rate("route, kind", 'rum_errors_total{app=~"$app", route=~"$route"}'),
                    "{{route}} {{kind}}",
                )
            ],
        ),
        8,
    )
    lay.add(
        timeseries(
            "Beacons received and rejected",
            "Beacons accepted per app, and rejected ones by reason (origin, size, rate "
            "limit, bot, invalid). A drop in accepted beacons is the SDK-broken signal.",
            "suffix: beacons/s",
            [
                _target(
                    f'sum by (app) (rate(rum_beacons_total{{app=~"$app"}}[{RI}]))',
                    "accepted {{app}}",
                ),
                _target(
                    f"sum by (reason) (rate(rum_beacons_rejected_total[{RI}]))",
                    "rejected {{reason}}",
                ),
            ],
        ),
        8,
    )
    api = "rum_api_request_duration_seconds"
    lay.add(
        timeseries(
            "API calls from browsers by status class",
            "Fetch/XHR calls pages made, per second, by API route and status class "
            "(`error` = no response: network, CORS, TLS).",
            "reqps",
            [
                _target(
                    f'sum by (api_route, status_class) (rate({api}_count{{app=~"$app"}}[{RI}]))',
                    "{{api_route}} {{status_class}}",
                )
            ],
            stack=True,
        ),
        12,
    )
    lay.add(
        timeseries(
            "API p95 seen by browsers",
            "95th percentile of API call duration as the page timed it.",
            "s",
            [_target(_p(0.95, api, 'app=~"$app"', "api_route"), "{{api_route}}")],
        ),
        12,
    )
    return _dashboard(
        "twinlens-rum",
        "Real users: Web Vitals by route, device, browser, country and region; "
        "distributions; good / needs-improvement / poor shares; what to fix first; "
        "errors and the API calls pages make.",
        [
            _query_var("app", "App", "label_values(rum_beacons_total, app)"),
            _query_var("route", "Route", 'label_values(rum_page_views_total{app=~"$app"}, route)'),
            _query_var(
                "device", "Device", 'label_values(rum_lcp_seconds_count{app=~"$app"}, device)'
            ),
            _query_var(
                "browser",
                "Browser",
                'label_values(rum_lcp_by_browser_seconds_count{app=~"$app"}, browser)',
            ),
            _query_var(
                "region",
                "Region",
                'label_values(rum_lcp_by_geo_seconds_count{app=~"$app"}, region)',
            ),
            _query_var(
                "country",
                "Country",
                "label_values(rum_lcp_by_geo_seconds_count"
                '{app=~"$app", region=~"$region"}, country)',
            ),
        ],
        lay,
        "now-6h",
    )


def _sla(spec: Spec) -> Json:
    sel = 'check=~"$check"'
    runs = "twinlens_check_runs_total"
    budget = number(spec.check_error_budget)
    failed = f'sum by (check) (increase({runs}{{{sel}, result="failure"}}[$__range]))'
    total = f"sum by (check) (increase({runs}{{{sel}}}[$__range]))"
    lay = _Layout()
    lay.add(
        table(
            "Uptime against target",
            f"Per check over the time range (this month by default): uptime from the "
            f"run counters against the {number(spec.check_slo * 100)}% target, error "
            "budget left, and downtime it amounts to.",
            "percentunit",
            [
                _target(f"1 - {_ratio_or_zero(failed, total)}", "uptime"),
                _target(f"1 - {_ratio_or_zero(failed, total)} / {budget}", "budget left"),
                _target(f"{_ratio_or_zero(failed, total)} * $__range_s", "downtime"),
            ],
            thresholds=_thresholds((None, "red"), (spec.check_slo, "green")),
        ),
        24,
    )
    lay.add(
        bargauge(
            "Error budget left",
            f"Share of the error budget ({budget} of runs may fail) not yet spent this "
            "period. Zero: the SLO is missed.",
            "percentunit",
            [_target(f"1 - {_ratio_or_zero(failed, total)} / {budget}", "{{check}}", instant=True)],
            thresholds=_thresholds((None, "red"), (0.25, "orange"), (0.5, "green")),
            minimum=0,
            maximum=1,
        ),
        12,
    )
    lay.add(
        timeseries(
            "Burn rate (1h and 6h)",
            "How many times faster than sustainable the budget burns. The page alert "
            f"fires at {' / '.join(number(b.factor) for b in spec.page_burn)}x, the "
            f"ticket at {' / '.join(number(b.factor) for b in spec.ticket_burn)}x.",
            "suffix:x",
            [
                _target(
                    f"{recording_name('check_errors', '1h')}{{{sel}}} / {budget}", "1h {{check}}"
                ),
                _target(
                    f"{recording_name('check_errors', '6h')}{{{sel}}} / {budget}", "6h {{check}}"
                ),
            ],
            thresholds=_thresholds(
                (None, "green"),
                (spec.page_burn[-1].factor, "orange"),
                (spec.page_burn[0].factor, "red"),
            ),
            minimum=0,
        ),
        12,
    )
    lay.add(
        timeseries(
            "Daily uptime",
            "Uptime per day and check, against the target line.",
            "percentunit",
            [
                _target(
                    f'sum by (check) (increase({runs}{{{sel}, result="success"}}[1d]))'
                    f" / sum by (check) (increase({runs}{{{sel}}}[1d]))",
                    "{{check}}",
                )
            ],
            thresholds=_thresholds((None, "red"), (spec.check_slo, "green")),
            bars=True,
        ),
        24,
    )
    return _dashboard(
        "twinlens-sla",
        f"Uptime per check against its {number(spec.check_slo * 100)}% target over the "
        "month, error budget left and burn rate.",
        [_query_var("check", "Check", "label_values(twinlens_check_info, check)")],
        lay,
        "now/M",
    )


def _api(spec: Spec) -> Json:
    sel = 'job=~"$job", http_route=~"$route"'
    m = API_METRIC
    total = f"sum by (http_route) (rate({m}_count{{{sel}}}[{RI}]))"
    lay = _Layout()
    lay.add(
        timeseries(
            "Request rate by route",
            "Requests per second the server handled, per route template.",
            "reqps",
            [_target(total, "{{http_route}}")],
        ),
        12,
    )
    lay.add(
        timeseries(
            "Request rate by status code",
            "Requests per second by HTTP status code.",
            "reqps",
            [
                _target(
                    f"sum by (http_response_status_code) (rate({m}_count{{{sel}}}[{RI}]))",
                    "{{http_response_status_code}}",
                )
            ],
            stack=True,
        ),
        12,
    )
    for cls, text in (("5", "Server errors (5xx): count against the availability SLO."),
                      ("4", "Client errors (4xx), kept apart: the caller's mistake, or a "
                            "broken link or client release.")):  # fmt: skip
        lay.add(
            timeseries(
                f"{cls}xx ratio by route",
                text,
                "percentunit",
                [
                    _target(
                        _ratio_or_zero(
                            _rate(
                                "http_route",
                                f'{m}_count{{{sel}, http_response_status_code=~"{cls}.."}}',
                            ),
                            total,
                        ),
                        "{{http_route}}",
                    )
                ],
                minimum=0,
            ),
            12,
        )
    lay.add(
        timeseries(
            "Latency p50 / p95 / p99 by route",
            "Server-side request duration percentiles per route "
            f"(the latency SLO counts requests above {number(spec.api_latency_threshold)}s).",
            "s",
            [
                _target(_p(q, m, sel, "http_route"), f"p{int(q * 100)} {{{{http_route}}}}")
                for q in (0.5, 0.95, 0.99)
            ],
            thresholds=_thresholds((None, "green"), (spec.api_latency_threshold, "red")),
        ),
        12,
    )
    lay.add(
        timeseries(
            "p95: server vs browser, same route",
            "The server's p95 next to the p95 browsers measured for the same route "
            "template: the gap is network and queueing the users pay for. The browser "
            "series needs the SDK's API route template to match the server's.",
            "s",
            [
                _target(_p(0.95, m, sel, "http_route"), "server {{http_route}}"),
                _target(
                    _p(
                        0.95,
                        "rum_api_request_duration_seconds",
                        'app=~"$app", api_route=~"$route"',
                        "api_route",
                    ),
                    "browser {{api_route}}",
                ),
            ],
        ),
        12,
    )
    api = "rum_api_request_duration_seconds"
    browser_sel = 'app=~"$app", api_route=~"$route"'
    errors_budget = number(spec.api_error_budget)
    latency_budget = number(spec.api_latency_budget)
    lay.add(
        timeseries(
            "Error ratio: server vs browser",
            "5xx ratio at the server next to the failure ratio browsers saw for the same "
            "route (5xx or no response). Browser-only failures point at what lies "
            "between: CDN, proxy, CORS, network.",
            "percentunit",
            [
                _target(
                    _ratio_or_zero(
                        _rate(
                            "http_route", f'{m}_count{{{sel}, http_response_status_code=~"5.."}}'
                        ),
                        total,
                    ),
                    "server {{http_route}}",
                ),
                _target(
                    _ratio_or_zero(
                        _rate(
                            "api_route", f'{api}_count{{{browser_sel}, status_class=~"5xx|error"}}'
                        ),
                        _rate("api_route", f"{api}_count{{{browser_sel}}}"),
                    ),
                    "browser {{api_route}}",
                ),
            ],
            minimum=0,
        ),
        12,
    )
    lay.add(
        timeseries(
            "SLO burn by route (1h)",
            "Error ratio and slow-request ratio over the last hour divided by their "
            f"budgets ({number(spec.api_error_budget)} and "
            f"{number(spec.api_latency_budget)}): 1x spends the budget exactly over "
            f"{spec.slo_period}; the page alert fires at {number(spec.page_burn[0].factor)}x.",
            "suffix:x",
            [
                _target(
                    f"{recording_name('http_server_errors', '1h')}{{{sel}}} / {errors_budget}",
                    "errors {{http_route}}",
                ),
                _target(
                    f"{recording_name('http_server_slow', '1h')}{{{sel}}} / {latency_budget}",
                    "latency {{http_route}}",
                ),
            ],
            thresholds=_thresholds((None, "green"), (spec.page_burn[0].factor, "red")),
            minimum=0,
        ),
        12,
    )
    lay.add(
        timeseries(
            "In-flight requests",
            "Requests being handled right now, by method: saturation.",
            "short",
            [
                _target(
                    'sum by (http_request_method) (http_server_active_requests{job=~"$job"})',
                    "{{http_request_method}}",
                )
            ],
        ),
        12,
    )
    return _dashboard(
        "twinlens-api",
        "The backend API per route from the OpenTelemetry HTTP server metric: rate, "
        "error ratios (5xx and 4xx apart), p50/p95/p99, with what browsers saw of the "
        "same route beside it.",
        [
            _query_var("job", "Service", f"label_values({m}_count, job)"),
            _query_var("route", "Route", f'label_values({m}_count{{job=~"$job"}}, http_route)'),
            _query_var("app", "RUM app", "label_values(rum_beacons_total, app)"),
        ],
        lay,
        "now-6h",
    )


def build_dashboards(spec: Spec) -> dict[str, Json]:
    """uid -> dashboard JSON model."""
    return {
        "twinlens-overview": _overview(spec),
        "twinlens-synthetic": _synthetic(spec),
        "twinlens-rum": _rum(spec),
        "twinlens-sla": _sla(spec),
        "twinlens-api": _api(spec),
    }
