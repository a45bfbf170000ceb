"""``twinlens report`` against a real Prometheus holding known data.

The data (see :mod:`tests.integration.report_scenario`) is backfilled with ``promtool tsdb
create-blocks-from openmetrics`` into the data directory a real Prometheus then opens, and
the command runs as users run it. Every expected figure below is worked out by hand from
the scenario, in the comment next to it.

How a gap counts (default ``--gaps exclude``): steps where the silent locations could
have made the quorum are "no data" — left out of the measured time, neither up nor down —
and the runs the exporter counted during the gap are counted in the step after it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.report_scenario import CONFIG_YAML, PERIOD_START, backfill
from tests.support.prometheus import PrometheusServer
from tests.support.tools import require_tool
from twinlens.cli import main

pytestmark = pytest.mark.xdist_group("report_prometheus")

PERIOD = ["--from", "2026-10-05T00:00:00Z", "--to", "2026-10-05T06:00:00Z"]
MIN = 60.0


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    workdir = tmp_path_factory.mktemp("report-prometheus")
    backfill(require_tool("promtool"), workdir)
    # Retention is counted back from the newest block, so a month-old scenario stays.
    with PrometheusServer(
        workdir, scrape_configs=[], extra_args=["--storage.tsdb.retention.time=100y"]
    ) as prom:
        # The blocks are loaded before /-/ready; make sure the data answers all the same.
        deadline = time.monotonic() + 30
        while not prom.query("count(twinlens_check_runs_total)", time_=PERIOD_START.timestamp()):
            assert time.monotonic() < deadline, "backfilled data never became queryable"
            time.sleep(0.2)
        yield prom


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report-config") / "sla.yml"
    path.write_text(CONFIG_YAML)
    return path


def report_json(prom: PrometheusServer, tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "report.json"
    status = main(
        ["report", "--prometheus", prom.url, *PERIOD, "--format", "json", "-o", str(out), *args]
    )
    assert status == 0
    return dict(json.loads(out.read_text()))


def minutes(iso: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(iso) - PERIOD_START).total_seconds() / MIN


def by_name(items: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {i[key]: i for i in items}


def test_uptime_incidents_budget_are_exact(
    prometheus: PrometheusServer, config_file: Path, tmp_path: Path
) -> None:
    doc = report_json(prometheus, tmp_path, "--config.file", str(config_file), "--no-rum")
    checks = by_name(doc["checks"], "check")
    assert list(checks) == ["api", "homepage"]

    home = checks["homepage"]
    # 360 minutes - 60 maintenance - 20 without data = 280 measured; down 10 + 3 minutes.
    assert home["quorum"] == 2
    assert home["measured_seconds"] == 280 * MIN
    assert home["down_seconds"] == 13 * MIN
    assert home["maintenance_seconds"] == 60 * MIN
    assert home["no_data_seconds"] == 20 * MIN
    assert home["uptime_percent"] == pytest.approx(267 / 280 * 100, rel=1e-12)
    # SLO 99.0: 1% of 280 minutes = 168 s allowed; 780 s down -> 612 s over.
    assert home["budget"] == {
        "target_percent": 99.0,
        "allowed_down_seconds": pytest.approx(168.0),
        "down_seconds": 780.0,
        "left_seconds": pytest.approx(-612.0),
        "left_ratio": pytest.approx(-612 / 168),
        "met": False,
    }
    # sgp alone failing at 02:00-02:05 is no quorum: not an incident. The maintenance
    # outage (03:10-03:40) is not one either.
    assert [
        (
            minutes(i["start"]),
            minutes(i["end"]),
            i["duration_seconds"],
            i["locations"],
            i["failed_runs"],
            i["reasons"],
        )
        for i in home["incidents"]
    ] == [
        (60, 70, 600.0, ["ams", "nyc"], 20, {"timeout": 20}),
        (300, 303, 180.0, ["nyc", "sgp"], 6, {"connect": 3, "tls": 3}),
    ]
    # Runs outside maintenance: 300 a location (the 20 in the gap counted after it).
    locs = by_name(home["locations"], "location")
    assert {n: (x["runs"], x["failed_runs"]) for n, x in locs.items()} == {
        "ams": (300, 10),
        "nyc": (300, 13),
        "sgp": (300, 8),
    }
    assert locs["ams"]["uptime_percent"] == pytest.approx(290 / 300 * 100, rel=1e-12)
    assert locs["nyc"]["uptime_percent"] == pytest.approx(287 / 300 * 100, rel=1e-12)
    assert locs["sgp"]["uptime_percent"] == pytest.approx(292 / 300 * 100, rel=1e-12)
    assert [locs[n]["failing_seconds"] for n in ("ams", "nyc", "sgp")] == [600.0, 780.0, 480.0]
    assert {x["no_data_seconds"] for x in locs.values()} == {1200.0}
    assert [(minutes(s["start"]), minutes(s["end"]), s["status"]) for s in home["timeline"]] == [
        (0, 60, "up"),
        (60, 70, "down"),
        (70, 180, "up"),
        (180, 240, "maintenance"),
        (240, 270, "up"),
        (270, 290, "no_data"),
        (290, 300, "up"),
        (300, 303, "down"),
        (303, 360, "up"),
    ]
    hours = home["buckets"]
    assert [b["down_seconds"] for b in hours] == [0, 600, 0, 0, 0, 180]
    assert [b["maintenance_seconds"] for b in hours] == [0, 0, 0, 3600, 0, 0]
    assert [b["no_data_seconds"] for b in hours] == [0, 0, 0, 0, 1200, 0]

    api = checks["api"]
    # No maintenance for api; 340 minutes measured, 1 down. SLO 99.5 allows 102 s.
    assert (api["measured_seconds"], api["down_seconds"]) == (340 * MIN, 60.0)
    assert api["uptime_percent"] == pytest.approx(339 / 340 * 100, rel=1e-12)
    assert api["budget"]["allowed_down_seconds"] == pytest.approx(102.0)
    assert api["budget"]["left_seconds"] == pytest.approx(42.0)
    assert api["budget"]["left_ratio"] == pytest.approx(42 / 102)
    assert api["budget"]["met"] is True
    assert [(minutes(i["start"]), i["reasons"]) for i in api["incidents"]] == [
        (100, {"http_status": 2})
    ]
    # nyc's exporter restarted at 02:30:40, inside a step: still every one of 360 runs.
    api_locs = by_name(api["locations"], "location")
    assert {n: (x["runs"], x["failed_runs"]) for n, x in api_locs.items()} == {
        "ams": (360, 1),
        "nyc": (360, 1),
    }

    assert doc["maintenance"] == [
        {
            "name": "Database upgrade",
            "start": "2026-10-05T03:00:00Z",
            "end": "2026-10-05T04:00:00Z",
            "duration_seconds": 3600.0,
            "checks": ["homepage"],
        }
    ]


def test_latency_percentiles_leave_maintenance_out(
    prometheus: PrometheusServer, config_file: Path, tmp_path: Path
) -> None:
    doc = report_json(prometheus, tmp_path, "--config.file", str(config_file), "--no-rum")
    home = by_name(doc["checks"], "check")["homepage"]
    locs = by_name(home["locations"], "location")
    # Every ams run takes 0.2 s: all in (0.1, 0.25]; 300 runs outside maintenance.
    assert locs["ams"]["latency"] == {
        "p50": pytest.approx(0.1 + 0.15 * 0.50),
        "p95": pytest.approx(0.1 + 0.15 * 0.95),
        "p99": pytest.approx(0.1 + 0.15 * 0.99),
        "observations": 300.0,
    }
    assert locs["nyc"]["latency"]["p50"] == pytest.approx(0.025 + 0.025 * 0.5)  # 0.04 s runs
    assert locs["sgp"]["latency"]["p99"] == pytest.approx(0.5 + 0.5 * 0.99)  # 0.7 s runs
    # All locations: a third each at 0.04, 0.2 and 0.7 s (900 runs).
    assert home["latency"] == {
        "p50": pytest.approx(0.1 + 0.15 * (450 - 300) / 300),
        "p95": pytest.approx(0.5 + 0.5 * (855 - 600) / 300),
        "p99": pytest.approx(0.5 + 0.5 * (891 - 600) / 300),
        "observations": 900.0,
    }
    # Cross-check with PromQL itself on the 3 hours before the maintenance window (the mix
    # of latencies is the same there as over the whole measured time).
    buckets = 'twinlens_check_duration_seconds_bucket{check="homepage"}'
    promql = prometheus.query(
        f"histogram_quantile(0.95, sum by (le) (increase({buckets}[3h])))",
        time_=PERIOD_START.timestamp() + 3 * 3600,
    )
    assert float(promql[0]["value"][1]) == pytest.approx(home["latency"]["p95"])


def test_real_user_figures(prometheus: PrometheusServer, tmp_path: Path) -> None:
    doc = report_json(prometheus, tmp_path, "--no-synthetic")
    apps = by_name(doc["apps"], "app")
    assert list(apps) == ["admin", "shop"]
    assert apps["admin"]["page_views"] == 12.0
    assert all(v["samples"] == 0 and v["p75"] is None for v in apps["admin"]["vitals"])

    shop = apps["shop"]
    assert shop["page_views"] == 600.0  # the 50 after the period are not counted
    vitals = by_name(shop["vitals"], "vital")
    # LCP, 300 loads: good 80+30+50+25, needs improvement 20+50, poor 20+25.
    assert vitals["LCP"]["samples"] == 300.0
    assert vitals["LCP"]["good_share"] == pytest.approx(185 / 300)
    assert vitals["LCP"]["needs_improvement_share"] == pytest.approx(70 / 300)
    assert vitals["LCP"]["poor_share"] == pytest.approx(45 / 300)
    assert vitals["LCP"]["p75"] == pytest.approx(3.4)  # rank 225 in (3, 4]: 3 + 20/50
    assert vitals["INP"]["good_share"] == pytest.approx(240 / 300)
    assert vitals["INP"]["p75"] == pytest.approx(0.1 + 0.1 * 75 / 90)
    assert vitals["CLS"]["poor_share"] == pytest.approx(10 / 300)
    assert vitals["TTFB"]["good_share"] == 1.0

    routes = by_name(shop["routes"], "route")
    assert [r["route"] for r in shop["routes"]] == ["/", "/product/{id}"]  # by page views
    assert routes["/"]["page_views"] == 400.0
    assert routes["/product/{id}"]["page_views"] == 200.0
    product = by_name(routes["/product/{id}"]["vitals"], "vital")
    assert product["LCP"]["good_share"] == pytest.approx(75 / 100)
    assert product["LCP"]["p75"] == pytest.approx(2.0)  # rank 75 in (1.5, 2]: 1.5 + .5*25/25

    # Northern America has 5 samples, too few to be ranked.
    assert [
        (g["name"], g["lcp_p75"], g["inp_p75"], g["samples"]) for g in shop["slowest_regions"]
    ] == [
        ("South-eastern Asia", pytest.approx(6 + 4 * 5 / 20), pytest.approx(0.45), 60.0),
        ("Western Europe", pytest.approx(1 + 0.5 * 75 / 100), pytest.approx(0.0875), 100.0),
    ]
    assert [(g["name"], g["lcp_p75"], g["lcp_good_share"]) for g in shop["slowest_devices"]] == [
        ("mobile", pytest.approx(4 + 2 * 7.5 / 20), pytest.approx(55 / 150)),
        ("desktop", pytest.approx(1 + 0.5 * 62.5 / 80), pytest.approx(130 / 150)),
    ]


def test_gaps_counted_as_downtime(prometheus: PrometheusServer, tmp_path: Path) -> None:
    doc = report_json(
        prometheus, tmp_path, "--gaps", "down", "--check", "home.*", "--no-rum", "--slo", "99"
    )
    [home] = doc["checks"]
    assert doc["settings"]["gaps"] == "down"
    # No config: no maintenance, and its 30 failing minutes (all three locations) are down.
    # Down: 10 + 30 + 20 (gap) + 3 = 63 of 360 minutes.
    assert (home["measured_seconds"], home["down_seconds"]) == (360 * MIN, 63 * MIN)
    assert home["no_data_seconds"] == 20 * MIN
    assert [
        (minutes(i["start"]), minutes(i["end"]), i["locations"], i["no_data_seconds"])
        for i in home["incidents"]
    ] == [
        (60, 70, ["ams", "nyc"], 0.0),
        (190, 220, ["ams", "nyc", "sgp"], 0.0),
        (270, 290, [], 1200.0),
        (300, 303, ["nyc", "sgp"], 0.0),
    ]


def test_markdown_file_filters_and_progress(
    prometheus: PrometheusServer,
    config_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "sla.md"
    args = ["report", "--prometheus", prometheus.url, *PERIOD, "--config.file", str(config_file)]
    args += ["--check", "homepage", "--app", "shop", "--format", "md", "-o", str(out)]
    assert main([*args, "--progress"]) == 0
    md = out.read_text()
    assert (
        "| homepage | 99.000% | 95.357% | missed | 13m | -10m 12s (-364.3%) | 2 | 1h 00m | 20m |"
        in md
    )
    assert "| 1 | 2026-10-05 01:00 | 2026-10-05 01:10 | 10m | ams, nyc | 20 | timeout: 20 |" in md
    assert "| Database upgrade | 2026-10-05 03:00 | 2026-10-05 04:00 | 1h 00m | homepage |" in md
    assert "| LCP | 61.7% | 23.3% | 15.0% | 3.40 s | 300 |" in md
    assert "### api" not in md and "### admin" not in md
    captured = capsys.readouterr()
    assert captured.out == ""
    # 2 queries each for runs and failure reasons (start value, one chunk), 3 for latency
    # (homepage either side of its maintenance window, one for any other check), 8 for
    # RUM; nyc's restart is not in this selection.
    bar = captured.err.rstrip("\n").split("\r")[-1]
    assert bar.startswith("querying Prometheus [##############################] 15/15 ")


def test_prometheus_refusing_a_query_is_a_clear_error(
    prometheus: PrometheusServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "kept.md"
    out.write_text("last month's report")
    # Lookahead is valid Python but not RE2: Prometheus itself refuses it.
    status = main(
        ["report", "--prometheus", prometheus.url, *PERIOD, "--check", "(?=h)ome", "-o", str(out)]
    )
    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith("twinlens report: Prometheus refused the query ")
    assert "invalid or unsupported Perl syntax" in err
    assert out.read_text() == "last month's report"
    assert [p.name for p in tmp_path.iterdir()] == ["kept.md"]  # no temporary file left


def test_unreachable_prometheus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.support.ports import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert main(["report", "--prometheus", url, *PERIOD, "--timeout", "5s"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"twinlens report: cannot reach Prometheus at {url}: ")
    assert "Connection refused" in err


def test_a_silent_server_times_out(capsys: pytest.CaptureFixture[str]) -> None:
    # Accepts the connection, reads the request, never answers.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        assert main(["report", "--prometheus", url, *PERIOD, "--timeout", "500ms"]) == 1
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        server.close()
    err = capsys.readouterr().err
    assert err.startswith(f"twinlens report: no answer from {url} within --timeout 500ms")
