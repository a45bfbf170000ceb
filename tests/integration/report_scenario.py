"""Known data for the report tests, in exactly the shapes the exporter and gateway emit.

A simulated exporter runs two checks once a minute (at :10) and is scraped every 30s; a
simulated RUM gateway is scraped every minute. :func:`write_openmetrics` writes it all as
OpenMetrics for ``promtool tsdb create-blocks-from openmetrics``; :func:`backfill` builds
the TSDB a real Prometheus then opens.

The period is 2026-10-05 00:00 to 06:00 UTC (360 one-minute steps); data starts an hour
before and runs half an hour past it, so off-by-a-window mistakes show. What happens
(minute m covers m:00-m+1:00 after midnight):

- homepage (ams, nyc, sgp; SLO 99.0):
  - m 60-69: ams and nyc fail (timeout) -> quorum -> 10 minutes down;
  - m 120-124: only sgp fails (http_status) -> no quorum, up;
  - m 180-239: maintenance window "Database upgrade" (homepage only); m 190-219 all fail
    (connect) -> excluded;
  - m 300-302: nyc fails (connect) and sgp fails (tls) -> 3 minutes down;
  - latency: every run at ams takes 0.2 s, nyc 0.04 s, sgp 0.7 s.
- api (ams, nyc; SLO 99.5): m 100 both fail (http_status) -> 1 minute down; nyc's exporter
  restarts at 02:30:40 (all its counters back to 0).
- Prometheus holds no sample at all from 04:30:00 (exclusive) to 04:50:00 (inclusive): m
  270-289 have no data; the 20 runs of each location in that gap show up in minute 290.
- RUM app "shop" (routes "/" and "/product/{id}", desktop and mobile; regions) and app
  "admin" (page views only); see :data:`LCP` and friends for the exact observations.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["CONFIG_YAML", "PERIOD_END", "PERIOD_START", "backfill", "write_openmetrics"]

PERIOD_START = datetime(2026, 10, 5, 0, 0, tzinfo=UTC)
PERIOD_END = datetime(2026, 10, 5, 6, 0, tzinfo=UTC)
T0 = PERIOD_START.timestamp()
FIRST_SCRAPE = T0 - 3600
LAST_SCRAPE = T0 + 6.5 * 3600
GAP = (T0 + 270 * 60, T0 + 290 * 60)  # no samples in (GAP[0], GAP[1]]

CONFIG_YAML = """\
slo:
  default: 99.9
  checks:
    homepage: 99.0
    api: 99.5
maintenance:
  - name: Database upgrade
    start: 2026-10-05T03:00:00Z
    end: 2026-10-05T04:00:00Z
    checks: [homepage]
"""

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
RUM_BUCKETS = {
    "rum_lcp_seconds": (0.5, 1, 1.5, 2, 2.5, 3, 4, 6, 10, 20),
    "rum_inp_seconds": (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5),
    "rum_cls": (0.01, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2),
    "rum_fcp_seconds": (0.5, 1, 1.5, 1.8, 2.5, 3, 4, 6, 10),
    "rum_ttfb_seconds": (0.1, 0.2, 0.4, 0.6, 0.8, 1.2, 1.8, 3, 6),
}

# Observations in the period: (route, device) -> [(value, count)].
LCP = {
    ("/", "desktop"): [(1.2, 80), (2.7, 20)],
    ("/", "mobile"): [(2.2, 30), (3.5, 50), (5.0, 20)],
    ("/product/{id}", "desktop"): [(0.7, 50)],
    ("/product/{id}", "mobile"): [(1.7, 25), (8.0, 25)],
}
INP = {
    ("/", "desktop"): [(0.08, 100)],
    ("/", "mobile"): [(0.15, 60), (0.4, 40)],
    ("/product/{id}", "desktop"): [(0.08, 50)],
    ("/product/{id}", "mobile"): [(0.15, 30), (0.4, 20)],
}
CLS = {
    ("/", "desktop"): [(0.02, 100)],
    ("/", "mobile"): [(0.02, 90), (0.3, 10)],
    ("/product/{id}", "desktop"): [(0.02, 50)],
    ("/product/{id}", "mobile"): [(0.02, 50)],
}
FCP = {k: [(0.4, sum(n for _, n in v))] for k, v in LCP.items()}
TTFB = {k: [(0.09, sum(n for _, n in v))] for k, v in LCP.items()}
# (region, country, device) -> [(value, count)]
LCP_GEO = {
    ("Western Europe", "DE", "desktop"): [(1.2, 100)],
    ("South-eastern Asia", "SG", "mobile"): [(3.5, 40), (8.0, 20)],
    ("Northern America", "US", "desktop"): [(15.0, 5)],  # too few to be ranked
}
INP_GEO = {
    ("Western Europe", "DE", "desktop"): [(0.08, 100)],
    ("South-eastern Asia", "SG", "mobile"): [(0.4, 60)],
}
# (app, route, device, nav_type) -> page views in the period (already scaled by 1/sr)
PAGE_VIEWS = {
    ("shop", "/", "desktop", "navigate"): 180,
    ("shop", "/", "desktop", "reload"): 20,
    ("shop", "/", "mobile", "navigate"): 200,
    ("shop", "/product/{id}", "desktop", "navigate"): 100,
    ("shop", "/product/{id}", "mobile", "navigate"): 100,
    ("admin", "/", "desktop", "navigate"): 12,
}

CHECKS = {"homepage": ("ams", "nyc", "sgp"), "api": ("ams", "nyc")}
LATENCY = {("homepage", "ams"): 0.2, ("homepage", "nyc"): 0.04, ("homepage", "sgp"): 0.7}
RESTARTS = {("api", "nyc"): T0 + 150 * 60 + 40}


def failure(check: str, location: str, minute: int) -> str | None:
    """The failure reason of the run in ``minute`` (after midnight), or None."""
    if check == "homepage":
        if 60 <= minute < 70 and location in ("ams", "nyc"):
            return "timeout"
        if 120 <= minute < 125 and location == "sgp":
            return "http_status"
        if 190 <= minute < 220:
            return "connect"
        if 300 <= minute < 303 and location != "ams":
            return "connect" if location == "nyc" else "tls"
    if check == "api" and minute == 100:
        return "http_status"
    return None


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "+Inf"
    return repr(float(value))


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in pairs)


@dataclass
class _Family:
    kind: str
    lines: list[str] = field(default_factory=list)


class _Writer:
    def __init__(self) -> None:
        self.families: dict[str, _Family] = {}

    def add(self, family: str, kind: str, series: str, samples: list[tuple[float, float]]) -> None:
        fam = self.families.setdefault(family, _Family(kind))
        fam.lines += [f"{series} {_fmt(v)} {ts:.3f}" for ts, v in samples]

    def text(self) -> str:
        out = []
        for name, fam in self.families.items():
            out.append(f"# TYPE {name} {fam.kind}")
            out += fam.lines
        out.append("# EOF")
        return "\n".join(out) + "\n"


@dataclass
class _Exporter:
    """One check at one location: the counters the scheduler keeps."""

    latency: float
    runs: dict[str, int] = field(default_factory=lambda: {"success": 0, "failure": 0})
    reasons: dict[str, int] = field(default_factory=dict)
    buckets: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    total: float = 0.0

    def run(self, reason: str | None) -> None:
        self.runs["failure" if reason else "success"] += 1
        if reason:
            self.reasons[reason] = self.reasons.get(reason, 0) + 1
        for i, le in enumerate((*DURATION_BUCKETS, math.inf)):
            if self.latency <= le:
                self.buckets[i] += 1
        self.total += self.latency


def _scrape_times() -> list[float]:
    out = []
    t = FIRST_SCRAPE
    while t <= LAST_SCRAPE:
        if not GAP[0] < t <= GAP[1]:
            out.append(t)
        t += 30
    return out


def _synthetic(w: _Writer) -> None:
    scrapes = _scrape_times()
    for check, locations in CHECKS.items():
        for location in locations:
            # Before the simulation starts the exporter has been up a while.
            exp = _Exporter(LATENCY.get((check, location), 0.3))
            exp.runs = {"success": 5000, "failure": 20}
            exp.buckets = [0] * 9 + [5020] * 5
            exp.total = 0.3 * 5020
            runs = [(T0 + m * 60 + 10, m) for m in range(-60, 391)]
            restart = RESTARTS.get((check, location))
            series: dict[str, list[tuple[float, float]]] = {}
            r = 0
            for ts in scrapes:
                while r < len(runs) and runs[r][0] <= ts:
                    exp.run(failure(check, location, runs[r][1]))
                    r += 1
                if restart is not None and restart <= ts:
                    exp = _Exporter(exp.latency)
                    restart = None
                base = [("check", check), ("location", location)]
                values = {f"runs|{result}": float(n) for result, n in exp.runs.items()} | {
                    f"reason|{reason}": float(n) for reason, n in exp.reasons.items()
                }
                for i, le in enumerate((*DURATION_BUCKETS, math.inf)):
                    values[f"bucket|{_fmt(le)}"] = float(exp.buckets[i])
                values["count|"] = float(exp.buckets[-1])
                values["sum|"] = exp.total
                for key, value in values.items():
                    series.setdefault(key, []).append((ts, value))
            for key, samples in series.items():
                kind, arg = key.split("|")
                base = [("check", check), ("location", location)]
                if kind == "runs":
                    name = f"twinlens_check_runs_total{{{_labels([*base, ('result', arg)])}}}"
                    w.add("twinlens_check_runs", "counter", name, samples)
                elif kind == "reason":
                    name = f"twinlens_check_failures_total{{{_labels([*base, ('reason', arg)])}}}"
                    w.add("twinlens_check_failures", "counter", name, samples)
                elif kind == "bucket":
                    name = (
                        f"twinlens_check_duration_seconds_bucket{{{_labels([*base, ('le', arg)])}}}"
                    )
                    w.add("twinlens_check_duration_seconds", "histogram", name, samples)
                else:
                    name = f"twinlens_check_duration_seconds_{kind}{{{_labels(base)}}}"
                    w.add("twinlens_check_duration_seconds", "histogram", name, samples)


def _minute_samples(total: int, base: int, after: int) -> list[tuple[float, float]]:
    """A counter scraped every minute that grows by ``total`` evenly inside the period."""
    out = []
    t = FIRST_SCRAPE
    while t <= LAST_SCRAPE:
        if not GAP[0] < t <= GAP[1]:
            if t <= T0:
                value = base
            elif t <= PERIOD_END.timestamp():
                value = base + math.floor(total * (t - T0) / 21600)
            else:
                value = base + total + after
            out.append((t, float(value)))
        t += 60
    return out


def _histogram(
    w: _Writer, metric: str, labels: list[tuple[str, str]], observations: list[tuple[float, int]]
) -> None:
    bounds = (*RUM_BUCKETS[metric.replace("_by_geo", "")], math.inf)
    per_bucket = [0] * len(bounds)
    for value, count in observations:
        per_bucket[next(i for i, le in enumerate(bounds) if value <= le)] += count
    cumulative = 0
    for i, le in enumerate(bounds):
        cumulative += per_bucket[i]
        # Every bucket starts from 40 past observations (all in the first bucket) and gets
        # 3 slow ones after the period: both must stay out of the report.
        after = 3 if math.isinf(le) or le >= bounds[-2] else 0
        name = f"{metric}_bucket{{{_labels([*labels, ('le', _fmt(le))])}}}"
        w.add(metric, "histogram", name, _minute_samples(cumulative, 40, after))
    count = sum(per_bucket)
    w.add(
        metric, "histogram", f"{metric}_count{{{_labels(labels)}}}", _minute_samples(count, 40, 3)
    )


def _rum(w: _Writer) -> None:
    for metric, table in (
        ("rum_lcp_seconds", LCP),
        ("rum_inp_seconds", INP),
        ("rum_cls", CLS),
        ("rum_fcp_seconds", FCP),
        ("rum_ttfb_seconds", TTFB),
    ):
        for (route, device), obs in table.items():
            _histogram(w, metric, [("app", "shop"), ("route", route), ("device", device)], obs)
    for metric, geo in (("rum_lcp_by_geo_seconds", LCP_GEO), ("rum_inp_by_geo_seconds", INP_GEO)):
        for (region, country, device), obs in geo.items():
            labels = [("app", "shop"), ("region", region), ("country", country), ("device", device)]
            _histogram(w, metric, labels, obs)
    for (app, route, device, nav), views in PAGE_VIEWS.items():
        labels = [("app", app), ("route", route), ("device", device), ("nav_type", nav)]
        name = f"rum_page_views_total{{{_labels(labels)}}}"
        w.add("rum_page_views", "counter", name, _minute_samples(views, 1000, 50))


def write_openmetrics(path: Path) -> None:
    w = _Writer()
    _synthetic(w)
    _rum(w)
    path.write_text(w.text())


def backfill(promtool: str, workdir: Path) -> Path:
    """Write the scenario and turn it into TSDB blocks in ``workdir/data``."""
    source = workdir / "scenario.om"
    write_openmetrics(source)
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return data
