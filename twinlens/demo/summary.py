"""The demo's live terminal summary, computed from the components' own ``/metrics``.

Check results come from the exporter, RUM p75 per route and device from the gateway's
histograms (interpolated inside the bucket, as ``histogram_quantile`` does), firing alerts
from Prometheus when it runs. Pure functions turn exposition text into a :class:`Snapshot`;
:func:`render` turns a snapshot into lines.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable

import msgspec
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["CheckRow", "RumRow", "Snapshot", "check_rows", "quantile", "render", "rum_rows"]


class CheckRow(msgspec.Struct):
    check: str
    location: str
    up: bool
    reason: str | None
    duration: float | None
    runs: int


class RumRow(msgspec.Struct):
    route: str
    device: str
    lcp_p75: float | None
    inp_p75: float | None
    views: float


class Snapshot(msgspec.Struct):
    time: float
    checks: list[CheckRow]
    rum: list[RumRow]
    alerts: list[dict[str, str]]
    traffic: dict[str, object]


def quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """``histogram_quantile`` over cumulative ``(le, count)`` pairs; None without data.

    >>> quantile(0.5, [(1.0, 2), (2.0, 4), (math.inf, 4)])
    1.0
    """
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] == 0:
        return None
    total = ordered[-1][1]
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in ordered:
        if count >= rank:
            if math.isinf(le):
                return prev_le
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return ordered[-1][0]


def _samples(text: str) -> Iterable[tuple[str, dict[str, str], float]]:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield sample.name, sample.labels, sample.value


def check_rows(exporter_metrics: str) -> list[CheckRow]:
    """One row per scheduled check from the exporter's ``/metrics`` text."""
    up: dict[tuple[str, str], float] = {}
    reason: dict[tuple[str, str], str] = {}
    duration: dict[tuple[str, str], float] = {}
    runs: dict[tuple[str, str], float] = defaultdict(float)
    for name, labels, value in _samples(exporter_metrics):
        if "check" not in labels:
            continue
        key = (labels["check"], labels.get("location", ""))
        if name == "probe_success":
            up[key] = value
        elif name == "probe_failure_info" and value == 1:
            reason[key] = labels.get("reason", "")
        elif name == "probe_duration_seconds":
            duration[key] = value
        elif name == "twinlens_check_runs_total":
            runs[key] += value
    return [
        CheckRow(
            check=k[0],
            location=k[1],
            up=v == 1,
            reason=None if v == 1 else reason.get(k),
            duration=duration.get(k),
            runs=int(runs.get(k, 0)),
        )
        for k, v in sorted(up.items())
    ]


def rum_rows(gateway_metrics: str, app: str = "shop") -> list[RumRow]:
    """p75 LCP and INP and page views per (route, device) from the gateway's ``/metrics``."""
    buckets: dict[tuple[str, str, str], list[tuple[float, float]]] = defaultdict(list)
    views: dict[tuple[str, str], float] = defaultdict(float)
    for name, labels, value in _samples(gateway_metrics):
        if labels.get("app") != app:
            continue
        if name in ("rum_lcp_seconds_bucket", "rum_inp_seconds_bucket"):
            key = (name[4:7], labels["route"], labels["device"])
            buckets[key].append((float(labels["le"]), value))
        elif name == "rum_page_views_total":
            views[(labels["route"], labels["device"])] += value
    keys = {(r, d) for _, r, d in buckets} | set(views)
    rows = []
    for route, device in sorted(keys):
        rows.append(
            RumRow(
                route=route,
                device=device,
                lcp_p75=quantile(0.75, buckets.get(("lcp", route, device), [])),
                inp_p75=quantile(0.75, buckets.get(("inp", route, device), [])),
                views=views.get((route, device), 0.0),
            )
        )
    return rows


def _secs(value: float | None) -> str:
    return "    -  " if value is None else f"{value:5.2f}s"


def render(snap: Snapshot) -> str:
    """The summary as plain text lines (no colours: it must read in any log too)."""
    lines = [f"── twinlens demo · {time.strftime('%H:%M:%S', time.localtime(snap.time))} ──"]
    lines.append("Synthetic checks")
    if not snap.checks:
        lines.append("  (waiting for the first runs)")
    for c in snap.checks:
        state = "UP  " if c.up else "DOWN"
        why = f"  reason={c.reason}" if c.reason else ""
        took = f"{c.duration:.3f}s" if c.duration is not None else "-"
        lines.append(f"  {state} {c.check:<22} {c.location:<10} {took:>8}  runs={c.runs}{why}")
    lines.append("Real users (p75)          route            device    LCP     INP    views")
    if not snap.rum:
        lines.append("  (waiting for the first beacons)")
    for r in snap.rum:
        lines.append(
            f"  {'':<24}{r.route:<17}{r.device:<9}{_secs(r.lcp_p75)}  {_secs(r.inp_p75)}"
            f"  {r.views:6.0f}"
        )
    lines.append("Firing alerts")
    if not snap.alerts:
        lines.append("  none")
    for a in snap.alerts:
        lines.append(
            f"  {a.get('severity', ''):<9}{a.get('alertname', '')}  {a.get('summary', '')}"
        )
    traffic = " ".join(f"{k}={v}" for k, v in snap.traffic.items())
    lines.append(f"Traffic: {traffic}")
    return "\n".join(lines) + "\n"
