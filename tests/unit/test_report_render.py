"""Renderers: md, html, csv and json agree with the model and escape what they show."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import msgspec
import pytest

from twinlens.report.model import (
    AppReport,
    Budget,
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
    TimeBucket,
    VitalFigures,
)
from twinlens.report.render import FORMATS, render

T = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = 3600


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T.timestamp() + seconds, UTC)


def vital(name: str, good: float | None, p75: float | None) -> VitalFigures:
    return VitalFigures(
        vital=name,
        samples=0 if good is None else 200,
        good_share=good,
        needs_improvement_share=None if good is None else (1 - good) / 2,
        poor_share=None if good is None else (1 - good) / 2,
        p75=p75,
    )


def report() -> Report:
    evil = "<script>alert('x')</script>|pipe"
    check = CheckReport(
        check=evil,
        quorum=2,
        uptime_percent=95.0,
        measured_seconds=4 * HOUR,
        down_seconds=12 * 60,
        no_data_seconds=600,
        maintenance_seconds=HOUR,
        budget=Budget(
            target_percent=99.0,
            allowed_down_seconds=144.0,
            down_seconds=720.0,
            left_seconds=-576.0,
            left_ratio=-4.0,
            met=False,
        ),
        incidents=[
            Incident(
                start=at(600),
                end=at(1320),
                duration_seconds=720,
                locations=["ams", "nyc"],
                failed_runs=24,
                reasons={"timeout": 20, "connect": 4},
                no_data_seconds=0,
                open_at_start=False,
                ongoing=False,
            )
        ],
        locations=[
            LocationFigures(
                location="ams",
                runs=240,
                failed_runs=12,
                uptime_percent=95.0,
                failing_seconds=720,
                no_data_seconds=600,
                latency=Latency(p50=0.175, p95=0.2425, p99=0.2485, observations=240),
            ),
            LocationFigures(
                location="nyc",
                runs=0,
                failed_runs=0,
                uptime_percent=None,
                failing_seconds=0,
                no_data_seconds=600,
                latency=None,
            ),
        ],
        latency=Latency(p50=0.175, p95=0.2425, p99=0.2485, observations=240),
        timeline=[
            Span(start=at(0), end=at(600), status="up"),
            Span(start=at(600), end=at(1320), status="down"),
            Span(start=at(1320), end=at(5 * HOUR), status="maintenance"),
        ],
        buckets=[
            TimeBucket(
                start=at(h * HOUR),
                end=at((h + 1) * HOUR),
                up_seconds=HOUR - (720 if h == 0 else 0),
                down_seconds=720 if h == 0 else 0,
                no_data_seconds=0,
                maintenance_seconds=0,
                uptime_percent=80.0 if h == 0 else 100.0,
            )
            for h in range(5)
        ],
    )
    vitals = [
        vital("LCP", 0.6, 3.4),
        vital("INP", 0.8, 0.18),
        vital("CLS", 0.9, 0.04),
        vital("FCP", 1.0, 0.4),
        vital("TTFB", None, None),
    ]
    app = AppReport(
        app="shop",
        page_views=600.4,
        vitals=vitals,
        routes=[RouteReport(route="/product/{id}", page_views=600.4, vitals=vitals)],
        slowest_regions=[
            GroupFigures(
                name="South-eastern Asia",
                samples=60,
                lcp_p75=7.0,
                lcp_good_share=0.0,
                inp_p75=0.45,
                inp_good_share=0.0,
            )
        ],
        slowest_devices=[],
    )
    return Report(
        title="Service level report — November 2026",
        period_start=T,
        period_end=at(5 * HOUR),
        generated_at=at(6 * HOUR),
        settings=Settings(
            prometheus="http://prom:9090",
            step_seconds=60,
            quorum=2,
            gaps="exclude",
            check_filter=[],
            app_filter=[],
        ),
        checks=[check],
        apps=[app],
        maintenance=[
            MaintenanceEntry(
                name="Database upgrade",
                start=at(1320),
                end=at(5 * HOUR),
                duration_seconds=5 * HOUR - 1320,
                checks=[],
            )
        ],
        notes=["a note"],
    )


def test_json_is_the_model_and_decodes_back() -> None:
    text = render(report(), "json")
    assert msgspec.json.decode(text, type=Report) == report()
    doc = msgspec.json.decode(text)
    assert doc["schema_version"] == 1
    assert doc["checks"][0]["incidents"][0]["start"] == "2026-11-01T00:10:00Z"
    assert doc["checks"][0]["locations"][1]["uptime_percent"] is None


def test_csv_long_table() -> None:
    rows = list(csv.reader(io.StringIO(render(report(), "csv"))))
    assert rows[0] == ["section", "check", "location", "app", "route", "group", "metric", "value"]
    evil = "<script>alert('x')</script>|pipe"
    index = {(r[0], r[1], r[2], r[3], r[4], r[5], r[6]): r[7] for r in rows[1:]}
    assert index[("check", evil, "", "", "", "", "uptime_percent")] == "95"
    assert index[("check", evil, "", "", "", "", "slo_met")] == "false"
    assert index[("check", evil, "", "", "", "", "budget_left_seconds")] == "-576"
    assert index[("location", evil, "nyc", "", "", "", "uptime_percent")] == ""
    assert index[("incident", evil, "", "", "", "1", "start")] == "2026-11-01T00:10:00Z"
    assert index[("incident", evil, "", "", "", "1", "reason_timeout")] == "20"
    assert index[("route", "", "", "shop", "/product/{id}", "", "lcp_p75")] == "3.4"
    assert index[("route", "", "", "shop", "/product/{id}", "", "ttfb_good_share")] == ""
    assert index[("slowest_region", "", "", "shop", "", "South-eastern Asia", "rank")] == "1"
    assert index[("maintenance", "", "", "", "", "1", "checks")] == "all"
    assert all(len(r) == 8 for r in rows)


def test_markdown_tables_escape_pipes_and_show_no_data_as_a_dash() -> None:
    md = render(report(), "md")
    assert "| <script>alert('x')</script>\\|pipe | 99.000% | 95.000% | missed | 12m |" in md
    assert "| -9m 36s (-400.0%) | 1 | 1h 00m | 10m | 242 ms |" in md
    incident = "| 1 | 2026-11-01 00:10 | 2026-11-01 00:22 | 12m | ams, nyc | 24 | "
    incident += "timeout: 20, connect: 4 |"
    assert incident in md
    assert "| nyc | 0 | 0 | — | 0s | 10m | — | — | — |" in md
    assert "| TTFB | — | — | — | — | 0 |" in md
    assert "| /product/{id} | 600 | 60.0% | 3.40 s | 80.0% | 180 ms | 90.0% | 0.040 |" in md
    # every table row has as many cells as its header
    for block in re.findall(r"((?:^\|.*\|\n)+)", md, flags=re.M):
        widths = {len(re.split(r"(?<!\\)\|", line)) for line in block.splitlines()}
        assert len(widths) == 1, block


def test_html_is_self_contained_and_escapes_labels() -> None:
    html = render(report(), "html")
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html  # the check name is shown, never run
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;|pipe" in html
    # nothing to fetch: no scripts, images, stylesheets or fonts from anywhere
    assert not re.search(r"""(src=|@import|url\(|<link(?![^>]*href="data:))""", html)
    # status strip, downtime bars, 5 vitals, 3 vitals per route, slowest regions
    assert html.count("<svg") == 1 + 1 + 5 + 3 + 1
    assert "@media print" in html and "print-color-adjust: exact" in html


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_an_empty_report(fmt: str) -> None:
    empty = msgspec.structs.replace(report(), checks=[], apps=[], maintenance=[], notes=[])
    text = render(empty, fmt)
    assert "Service level report" in text or fmt == "csv"
    assert "homepage" not in text


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown report format 'pdf'"):
        render(report(), "pdf")
