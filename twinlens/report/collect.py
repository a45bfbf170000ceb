"""From Prometheus to the report model: plan every query, run them, compute the figures.

All queries are planned before the first one is sent, so the progress bar knows its total
and a report over a year costs a predictable number of requests:

- run counters: the last value in each step (``last_over_time(x[step-1ms])``), in chunks of
  at most a day (and at most :data:`~twinlens.report.prom.MAX_POINTS` steps), plus one
  look-back query for each counter's value when the period starts — exact increases per
  step come from :mod:`twinlens.report.counters`; a step in which a counter reset (an
  exporter restart) gets one more query for its raw samples, so no run is lost;
- failure-reason counters: the same, for the reasons behind each incident;
- duration histograms: ``increase()`` over each stretch between maintenance windows, so
  maintenance is left out of the latency percentiles too;
- RUM histograms and page views: ``increase()`` over the whole period (real users'
  experience during maintenance is still what they experienced).

>>> report = build_report(prom, options, config)
"""

from __future__ import annotations

import math
import re
from array import array
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from twinlens.report import histogram
from twinlens.report.config import ReportConfig
from twinlens.report.counters import CounterDeltas, exact_increase
from twinlens.report.errors import ReportError
from twinlens.report.model import (
    AppReport,
    CheckReport,
    GroupFigures,
    Incident,
    Latency,
    LocationFigures,
    MaintenanceEntry,
    Report,
    RouteReport,
    Settings,
    Span,
    Status,
    TimeBucket,
    VitalFigures,
)
from twinlens.report.period import Period
from twinlens.report.prom import MAX_POINTS, Progress, Prometheus, promql_duration, promql_string
from twinlens.report.uptime import (
    DOWN,
    FAILING,
    MAINTENANCE,
    NO_DATA,
    UP,
    GapPolicy,
    check_status,
    error_budget,
    location_states,
    runs_of,
    spans,
)
from twinlens.report.windows import Occurrence, named_checks, occurrences, segments, step_mask

__all__ = ["MIN_GROUP_SAMPLES", "VITALS", "Options", "Vital", "build_report", "plan_queries"]

RUNS = "twinlens_check_runs_total"
FAILURES = "twinlens_check_failures_total"
DURATION = "twinlens_check_duration_seconds_bucket"
PAGE_VIEWS = "rum_page_views_total"

#: A region or device type needs this many LCP samples to be ranked among the slowest:
#: one visitor on a train must not top the list.
MIN_GROUP_SAMPLES = 10
#: How far back the value of a counter at the start of the period is looked for.
BASELINE_LOOKBACK = 86400.0


@dataclass(frozen=True)
class Vital:
    """A Core Web Vital as the gateway exposes it; ``good``/``poor`` are bucket bounds."""

    name: str
    metric: str
    geo_metric: str
    good: float
    poor: float


VITALS = (
    Vital("LCP", "rum_lcp_seconds", "rum_lcp_by_geo_seconds", 2.5, 4.0),
    Vital("INP", "rum_inp_seconds", "rum_inp_by_geo_seconds", 0.2, 0.5),
    Vital("CLS", "rum_cls", "rum_cls_by_geo", 0.1, 0.25),
    Vital("FCP", "rum_fcp_seconds", "rum_fcp_by_geo_seconds", 1.8, 3.0),
    Vital("TTFB", "rum_ttfb_seconds", "rum_ttfb_by_geo_seconds", 0.8, 1.8),
)
_BY_NAME = {v.name: v for v in VITALS}
#: Vitals broken down by region and by device type for the "slowest" lists.
_GROUP_VITALS = ("LCP", "INP")

_STATUS_NAME: dict[int, Status] = {
    UP: "up",
    DOWN: "down",
    NO_DATA: "no_data",
    MAINTENANCE: "maintenance",
}


@dataclass(frozen=True)
class Options:
    """What the command line asked for."""

    prometheus: str
    period: Period
    checks: list[str] = field(default_factory=list)  # regexes on the check label
    apps: list[str] = field(default_factory=list)  # regexes on the app label
    quorum: int = 2
    gaps: GapPolicy = "exclude"
    top: int = 5
    title: str | None = None
    synthetic: bool = True
    rum: bool = True


def _alternation(patterns: list[str], flag: str) -> str:
    for p in patterns:
        try:
            re.compile(p)
        except re.error as exc:
            raise ReportError(f"{flag} {p!r} is not a valid regular expression: {exc}") from None
    return "|".join(f"(?:{p})" for p in patterns)


def _selector(metric: str, matchers: Iterable[str]) -> str:
    inner = ",".join(m for m in matchers if m)
    return f"{metric}{{{inner}}}" if inner else metric


def _regex_escape(text: str) -> str:
    """Escape for RE2 (Prometheus), which accepts a backslash before any punctuation."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


# --- accumulators -------------------------------------------------------------------------


class _Location:
    """Per-step run increases and sample presence of one (check, location)."""

    __slots__ = ("failure", "present", "reasons", "success")

    def __init__(self, n: int) -> None:
        self.success = array("d", bytes(8 * n))
        self.failure = array("d", bytes(8 * n))
        self.present = bytearray(n)
        self.reasons: dict[str, dict[int, float]] = {}


@dataclass
class _Collected:
    locations: dict[tuple[str, str], _Location] = field(default_factory=dict)
    durations: dict[tuple[str, str], dict[float, float]] = field(default_factory=dict)
    # (app, route, device) -> vital -> buckets
    rum: dict[tuple[str, str, str], dict[str, dict[float, float]]] = field(default_factory=dict)
    # (app, region) -> vital -> buckets
    geo: dict[tuple[str, str], dict[str, dict[float, float]]] = field(default_factory=dict)
    page_views: dict[tuple[str, str], float] = field(default_factory=dict)


def _series_key(metric: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(metric.items()))


def _le(metric: dict[str, str]) -> float | None:
    try:
        return float(metric.get("le", ""))
    except ValueError:
        return None


# --- the plan -----------------------------------------------------------------------------

#: (progress label, one request); a job may return follow-up jobs (counter resets).
Job = tuple[str, Callable[[Prometheus], "list[Job] | None"]]
#: Where one series' per-step increases go: ``sink(step, increase)``.
Sink = Callable[[int, float], None]
#: Labels of a series -> its sink, or None for a series the report does not use. Called
#: once per series and chunk, so the per-sample loop does no label lookups.
Feed = Callable[[dict[str, str]], "Sink | None"]


class _Planner:
    def __init__(self, options: Options, config: ReportConfig, occs: list[Occurrence]) -> None:
        self.o = options
        self.p = options.period
        self.config = config
        self.occs = occs
        self.data = _Collected()
        self.check_match = (
            f"check=~{promql_string(_alternation(options.checks, '--check'))}"
            if options.checks
            else ""
        )
        self.app_match = (
            f"app=~{promql_string(_alternation(options.apps, '--app'))}" if options.apps else ""
        )

    def jobs(self) -> list[Job]:
        out: list[Job] = []
        if self.o.synthetic:
            out += self._counter_jobs(RUNS, self._feed_runs, "runs")
            out += self._counter_jobs(FAILURES, self._feed_failures, "failure reasons")
            out += self._latency_jobs()
        if self.o.rum:
            out += self._rum_jobs()
        return out

    # counters

    def _counter_jobs(self, metric: str, feed: Feed, what: str) -> list[Job]:
        p = self.p
        sel = _selector(metric, [self.check_match])
        tracker = CounterDeltas()
        baseline_expr = f"last_over_time({sel}[{promql_duration(max(BASELINE_LOOKBACK, p.step))}])"
        step_expr = f"last_over_time({sel}[{promql_duration(p.step - 0.001)}])"

        def baseline(prom: Prometheus) -> None:
            for series in prom.instant(baseline_expr, p.start_ts):
                metric_labels = series.get("metric", {})
                value = float(series["value"][1])
                if math.isfinite(value):
                    tracker.delta(_series_key(metric_labels), value)
                    feed(metric_labels)  # known before the period: listed even if silent

        jobs: list[Job] = [(f"{what}: start value", baseline)]
        chunk = max(1, min(MAX_POINTS, math.ceil(86400 / p.step)))
        for first in range(0, p.n, chunk):
            last = min(p.n, first + chunk) - 1

            def fetch(prom: Prometheus, first: int = first, last: int = last) -> list[Job]:
                result = prom.range(step_expr, p.step_end(first), p.step_end(last), p.step)
                # The hot loop of a long report (a month of 1m steps is 44,640 samples a
                # series): everything it needs is a local.
                start, step, n, isfinite = p.start_ts, p.step, p.n, math.isfinite
                for series in result:
                    metric_labels = series.get("metric", {})
                    sink = feed(metric_labels)
                    if sink is None:
                        continue
                    points = [
                        (i, v)
                        for ts, raw in series.get("values", [])
                        if 0 <= (i := round((ts - start) / step) - 1) < n
                        and isfinite(v := float(raw))
                    ]
                    steps = [i for i, _ in points]
                    values = [v for _, v in points]
                    tracker.feed(_series_key(metric_labels), steps, values, sink)
                resets, tracker.resets = tracker.resets, []
                return self._reset_jobs(sel, feed, what, resets)

            label = f"{what} {_dt(p.step_start(first)):%Y-%m-%d}"
            jobs.append((label, fetch))
        return jobs

    def _reset_jobs(
        self, sel: str, feed: Feed, what: str, resets: list[tuple[Hashable, int, float]]
    ) -> list[Job]:
        """One raw-samples query per step in which counters reset, to recount that step."""
        by_step: dict[int, dict[Hashable, float]] = {}
        for key, i, before in resets:
            by_step.setdefault(i, {})[key] = before
        jobs: list[Job] = []
        for i, befores in sorted(by_step.items()):

            def recount(
                prom: Prometheus, i: int = i, befores: dict[Hashable, float] = befores
            ) -> None:
                p = self.p
                for series in prom.samples(sel, p.step - 0.001, p.step_end(i)):
                    labels = series.get("metric", {})
                    key = _series_key(labels)
                    values = [float(v) for _, v in series.get("values", [])]
                    if key not in befores or not values:
                        continue
                    # The chunk counted the last value (runs since the restart); add what
                    # happened in the step before the restart.
                    extra = exact_increase(befores[key], values) - values[-1]
                    sink = feed(labels)
                    if extra > 0 and sink is not None:
                        sink(i, extra)

            jobs.append((f"{what}: restart at {_dt(self.p.step_start(i)):%Y-%m-%d %H:%M}", recount))
        return jobs

    def _location(self, labels: dict[str, str]) -> _Location | None:
        check = labels.get("check")
        if not check:
            return None
        key = (check, labels.get("location", ""))
        loc = self.data.locations.get(key)
        if loc is None:
            loc = self.data.locations[key] = _Location(self.p.n)
        return loc

    def _feed_runs(self, labels: dict[str, str]) -> Sink | None:
        result = labels.get("result")
        if result not in ("success", "failure"):
            return None
        loc = self._location(labels)
        if loc is None:
            return None
        present = loc.present
        counts = loc.success if result == "success" else loc.failure

        def sink(i: int, delta: float) -> None:
            present[i] = 1
            counts[i] += delta

        return sink

    def _feed_failures(self, labels: dict[str, str]) -> Sink | None:
        check = labels.get("check")
        loc = self.data.locations.get((check, labels.get("location", ""))) if check else None
        if loc is None:  # failures without runs: not a check this report knows
            return None
        steps = loc.reasons.setdefault(labels.get("reason", "unknown"), {})

        def sink(i: int, delta: float) -> None:
            if delta > 0:
                steps[i] = steps.get(i, 0.0) + delta

        return sink

    # latency

    def _latency_jobs(self) -> list[Job]:
        p = self.p
        named = [c for c in named_checks(self.occs) if self._wanted(c)]
        groups: list[tuple[str, bytearray]] = [
            (f"check={promql_string(c)}", step_mask(self.occs, p, c)) for c in named
        ]
        others = (
            f"check!~{promql_string('|'.join(_regex_escape(c) for c in named))}" if named else ""
        )
        groups.insert(0, (others, step_mask(self.occs, p, None)))
        jobs: list[Job] = []
        for match, mask in groups:
            sel = _selector(DURATION, [self.check_match, match])
            for first, last in segments(mask):
                expr = (
                    f"sum by (check, location, le) "
                    f"(increase({sel}[{promql_duration((last - first + 1) * p.step)}]))"
                )

                def fetch(prom: Prometheus, expr: str = expr, last: int = last) -> None:
                    for series in prom.instant(expr, p.step_end(last)):
                        labels = series.get("metric", {})
                        le, value = _le(labels), float(series["value"][1])
                        if le is None or not math.isfinite(value) or "check" not in labels:
                            continue
                        key = (labels["check"], labels.get("location", ""))
                        buckets = self.data.durations.setdefault(key, {})
                        buckets[le] = buckets.get(le, 0.0) + value

                jobs.append((f"latency {_dt(p.step_start(first)):%Y-%m-%d %H:%M}", fetch))
        return jobs

    def _wanted(self, check: str) -> bool:
        if not self.o.checks:
            return True
        try:
            return any(re.fullmatch(pat, check) for pat in self.o.checks)
        except re.error:
            return True

    # RUM

    def _rum_jobs(self) -> list[Job]:
        p = self.p
        window = promql_duration(p.seconds)
        jobs: list[Job] = []
        for vital in VITALS:
            sel = _selector(f"{vital.metric}_bucket", [self.app_match])
            expr = f"sum by (app, route, device, le) (increase({sel}[{window}]))"
            jobs.append((f"RUM {vital.name}", self._rum_fetch(expr, vital.name, by_geo=False)))
        for name in _GROUP_VITALS:
            sel = _selector(f"{_BY_NAME[name].geo_metric}_bucket", [self.app_match])
            expr = f"sum by (app, region, le) (increase({sel}[{window}]))"
            jobs.append((f"RUM {name} by region", self._rum_fetch(expr, name, by_geo=True)))
        pv_expr = (
            f"sum by (app, route) (increase({_selector(PAGE_VIEWS, [self.app_match])}[{window}]))"
        )

        def page_views(prom: Prometheus) -> None:
            for series in prom.instant(pv_expr, p.end_ts):
                labels = series.get("metric", {})
                value = float(series["value"][1])
                if "app" in labels and math.isfinite(value):
                    key = (labels["app"], labels.get("route", ""))
                    self.data.page_views[key] = self.data.page_views.get(key, 0.0) + value

        jobs.append(("RUM page views", page_views))
        return jobs

    def _rum_fetch(self, expr: str, vital: str, by_geo: bool) -> Callable[[Prometheus], None]:
        def fetch(prom: Prometheus) -> None:
            for series in prom.instant(expr, self.p.end_ts):
                labels = series.get("metric", {})
                le, value = _le(labels), float(series["value"][1])
                if le is None or not math.isfinite(value) or "app" not in labels:
                    continue
                target: dict[str, dict[float, float]]
                if by_geo:
                    target = self.data.geo.setdefault(
                        (labels["app"], labels.get("region", "unknown")), {}
                    )
                else:
                    key = (labels["app"], labels.get("route", ""), labels.get("device", "other"))
                    target = self.data.rum.setdefault(key, {})
                buckets = target.setdefault(vital, {})
                buckets[le] = buckets.get(le, 0.0) + value

        return fetch


def plan_queries(options: Options, config: ReportConfig) -> int:
    """How many requests a report with these options will send (for estimates and tests)."""
    occs = occurrences(config.maintenance, options.period)
    return len(_Planner(options, config, occs).jobs())


# --- figures ------------------------------------------------------------------------------


def _latency(buckets: dict[float, float] | None) -> Latency | None:
    if not buckets or histogram.total(buckets) <= 0:
        return None
    return Latency(
        p50=histogram.quantile(0.5, buckets),
        p95=histogram.quantile(0.95, buckets),
        p99=histogram.quantile(0.99, buckets),
        observations=histogram.total(buckets),
    )


def _bucket_width(period: Period) -> float:
    width = 86400.0 if period.seconds >= 3 * 86400 else 3600.0
    return max(width, period.step)


def _time_buckets(raw: bytearray, counted: bytearray, period: Period) -> list[TimeBucket]:
    width = _bucket_width(period)
    out: list[TimeBucket] = []
    i = 0
    while i < period.n:
        b_start = math.floor(period.step_start(i) / width) * width
        b_end = b_start + width
        j = i
        while j < period.n and period.step_start(j) < b_end:
            j += 1
        part_raw, part = raw[i:j], counted[i:j]
        up, down = part.count(UP) * period.step, part.count(DOWN) * period.step
        out.append(
            TimeBucket(
                start=_dt(max(b_start, period.start_ts)),
                end=_dt(min(b_end, period.end_ts)),
                up_seconds=up,
                down_seconds=down,
                no_data_seconds=part_raw.count(NO_DATA) * period.step,
                maintenance_seconds=part_raw.count(MAINTENANCE) * period.step,
                uptime_percent=up / (up + down) * 100 if up + down > 0 else None,
            )
        )
        i = j
    return out


def _check_report(
    check: str,
    locs: dict[str, _Location],
    durations: dict[str, dict[float, float]],
    mask: bytearray,
    options: Options,
    config: ReportConfig,
) -> CheckReport:
    p = options.period
    names = sorted(locs)
    states = [location_states(locs[n].success, locs[n].failure, locs[n].present) for n in names]
    raw = check_status(states, mask, options.quorum, "exclude")
    counted = check_status(states, mask, options.quorum, options.gaps)
    quorum = max(1, min(options.quorum, len(names)))
    step = p.step

    down = counted.count(DOWN) * step
    measured = down + counted.count(UP) * step
    incidents = []
    for first, last in runs_of(counted, DOWN):
        reasons: dict[str, float] = {}
        failing = []
        failed_runs = 0.0
        for name, st in zip(names, states, strict=True):
            loc = locs[name]
            if FAILING in st[first : last + 1]:
                failing.append(name)
            failed_runs += sum(loc.failure[first : last + 1])
            for reason, by_step in loc.reasons.items():
                n = sum(v for i, v in by_step.items() if first <= i <= last)
                if n > 0:
                    reasons[reason] = reasons.get(reason, 0.0) + n
        incidents.append(
            Incident(
                start=_dt(p.step_start(first)),
                end=_dt(p.step_end(last)),
                duration_seconds=(last - first + 1) * step,
                locations=failing,
                failed_runs=round(failed_runs),
                reasons={r: round(n) for r, n in sorted(reasons.items(), key=lambda x: -x[1])},
                no_data_seconds=raw[first : last + 1].count(NO_DATA) * step,
                open_at_start=first == 0,
                ongoing=last == p.n - 1,
            )
        )

    figures = []
    all_buckets: dict[float, float] = {}
    for name, st in zip(names, states, strict=True):
        loc = locs[name]
        ok = bad = 0.0
        failing_steps = silent_steps = 0
        for i in range(p.n):
            if mask[i]:
                continue
            ok += loc.success[i]
            bad += loc.failure[i]
            code = st[i]
            if code == FAILING:
                failing_steps += 1
            elif code == NO_DATA:
                silent_steps += 1
        buckets = durations.get(name)
        if buckets:
            histogram.add_buckets(all_buckets, buckets)
        runs = round(ok + bad)
        figures.append(
            LocationFigures(
                location=name,
                runs=runs,
                failed_runs=round(bad),
                uptime_percent=ok / (ok + bad) * 100 if ok + bad > 0 else None,
                failing_seconds=failing_steps * step,
                no_data_seconds=silent_steps * step,
                latency=_latency(buckets),
            )
        )

    timeline = [
        Span(start=_dt(p.step_start(a)), end=_dt(p.step_end(b)), status=_STATUS_NAME[code])
        for a, b, code in spans(raw)
    ]
    return CheckReport(
        check=check,
        quorum=quorum,
        uptime_percent=(measured - down) / measured * 100 if measured > 0 else None,
        measured_seconds=measured,
        down_seconds=down,
        no_data_seconds=raw.count(NO_DATA) * step,
        maintenance_seconds=raw.count(MAINTENANCE) * step,
        budget=error_budget(config.slo.target(check), measured, down),
        incidents=incidents,
        locations=figures,
        latency=_latency(all_buckets),
        timeline=timeline,
        buckets=_time_buckets(raw, counted, p),
    )


def _vital_figures(name: str, buckets: dict[float, float] | None) -> VitalFigures:
    vital = _BY_NAME[name]
    buckets = buckets or {}
    split = histogram.shares(buckets, vital.good, vital.poor)
    return VitalFigures(
        vital=name,
        samples=histogram.total(buckets),
        good_share=split[0] if split else None,
        needs_improvement_share=split[1] if split else None,
        poor_share=split[2] if split else None,
        p75=histogram.quantile(0.75, buckets),
    )


def _group(name: str, by_vital: dict[str, dict[float, float]]) -> GroupFigures:
    lcp, inp = (
        _vital_figures("LCP", by_vital.get("LCP")),
        _vital_figures("INP", by_vital.get("INP")),
    )
    return GroupFigures(
        name=name,
        samples=lcp.samples,
        lcp_p75=lcp.p75,
        lcp_good_share=lcp.good_share,
        inp_p75=inp.p75,
        inp_good_share=inp.good_share,
    )


def _slowest(groups: Iterable[GroupFigures], top: int) -> list[GroupFigures]:
    ranked = [g for g in groups if g.samples >= MIN_GROUP_SAMPLES and g.lcp_p75 is not None]
    ranked.sort(key=lambda g: (-(g.lcp_p75 or 0.0), g.lcp_good_share or 0.0, g.name))
    return ranked[:top]


def _merge(into: dict[str, dict[float, float]], more: dict[str, dict[float, float]]) -> None:
    for vital, buckets in more.items():
        histogram.add_buckets(into.setdefault(vital, {}), buckets)


def _app_reports(data: _Collected, top: int) -> list[AppReport]:
    apps = sorted({k[0] for k in data.rum} | {k[0] for k in data.page_views})
    out = []
    for app in apps:
        by_route: dict[str, dict[str, dict[float, float]]] = {}
        by_device: dict[str, dict[str, dict[float, float]]] = {}
        whole: dict[str, dict[float, float]] = {}
        for (a, route, device), vitals in data.rum.items():
            if a != app:
                continue
            _merge(by_route.setdefault(route, {}), vitals)
            _merge(by_device.setdefault(device, {}), vitals)
            _merge(whole, vitals)
        views = {r: v for (a, r), v in data.page_views.items() if a == app}
        routes = [
            RouteReport(
                route=route,
                page_views=views.get(route, 0.0),
                vitals=[
                    _vital_figures(v.name, by_route.get(route, {}).get(v.name)) for v in VITALS
                ],
            )
            for route in set(by_route) | set(views)
        ]
        routes.sort(key=lambda r: (-r.page_views, r.route))
        regions = [_group(region, vitals) for (a, region), vitals in data.geo.items() if a == app]
        out.append(
            AppReport(
                app=app,
                page_views=sum(views.values()),
                vitals=[_vital_figures(v.name, whole.get(v.name)) for v in VITALS],
                routes=routes,
                slowest_regions=_slowest(regions, top),
                slowest_devices=_slowest((_group(d, v) for d, v in by_device.items()), top),
            )
        )
    return out


def _title(period: Period) -> str:
    start, end = period.start, period.end
    if (
        start.day == 1
        and start.hour == start.minute == start.second == 0
        and end == (datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=UTC))
    ):
        return f"Service level report — {start:%B %Y}"
    return f"Service level report — {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"


def build_report(
    prom: Prometheus,
    options: Options,
    config: ReportConfig,
    notes: list[str] | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> Report:
    """Query Prometheus and compute every figure of the report."""
    period = options.period
    occs = occurrences(config.maintenance, period)
    planner = _Planner(options, config, occs)
    jobs = deque(planner.jobs())
    progress = progress or Progress(0, None)
    progress.total = len(jobs)
    try:
        while jobs:
            label, job = jobs.popleft()
            more = job(prom) or []
            jobs.extend(more)
            progress.total += len(more)
            progress.advance(label)
    finally:
        progress.close()
    data = planner.data
    notes = list(notes or [])

    by_check: dict[str, dict[str, _Location]] = {}
    for (check, location), loc in data.locations.items():
        by_check.setdefault(check, {})[location] = loc
    durations: dict[str, dict[str, dict[float, float]]] = {}
    for (check, location), buckets in data.durations.items():
        durations.setdefault(check, {})[location] = buckets
    checks = [
        _check_report(
            check,
            by_check[check],
            durations.get(check, {}),
            step_mask(occs, period, check),
            options,
            config,
        )
        for check in sorted(by_check)
    ]
    if options.synthetic and not checks:
        which = f" matching --check {' '.join(options.checks)}" if options.checks else ""
        notes.append(f"No synthetic check{which} has data ({RUNS}) in this period.")
    for c in checks:
        if len(c.locations) < options.quorum:
            notes.append(
                f"{c.check} ran from {len(c.locations)} location(s), fewer than the quorum "
                f"({options.quorum}): it counts as down when all of them fail."
            )
    apps = _app_reports(data, options.top) if options.rum else []
    if options.rum and not apps:
        which = f" matching --app {' '.join(options.apps)}" if options.apps else ""
        notes.append(f"No RUM app{which} has data in this period.")
    notes.extend(f"Prometheus warning: {w}" for w in prom.warnings)

    return Report(
        title=options.title or _title(period),
        period_start=period.start,
        period_end=period.end,
        generated_at=(now or datetime.now(UTC)).replace(microsecond=0),
        settings=Settings(
            prometheus=options.prometheus,
            step_seconds=period.step,
            quorum=options.quorum,
            gaps=options.gaps,
            check_filter=list(options.checks),
            app_filter=list(options.apps),
        ),
        checks=checks,
        apps=apps,
        maintenance=[
            MaintenanceEntry(
                name=o.name,
                start=_dt(o.start),
                end=_dt(o.end),
                duration_seconds=o.end - o.start,
                checks=list(o.checks),
            )
            for o in occs
        ],
        notes=notes,
    )
