"""The demo's summary maths and the shop's drift, without servers."""

from __future__ import annotations

import math
import random

import pytest

from twinlens.demo.shop import SLOW_COUNTRIES, drift
from twinlens.demo.summary import Snapshot, check_rows, quantile, render, rum_rows
from twinlens.demo.traffic import make_beacon


def test_quantile_interpolates_like_histogram_quantile() -> None:
    buckets = [(0.5, 0.0), (1.0, 10.0), (2.5, 30.0), (math.inf, 40.0)]
    # rank 30 of 40 lands exactly on the 2.5 boundary
    assert quantile(0.75, buckets) == pytest.approx(2.5)
    # rank 20: halfway through the (1.0, 2.5] bucket
    assert quantile(0.5, buckets) == pytest.approx(1.75)
    # rank 36 is in the +Inf bucket: the highest finite bound
    assert quantile(0.9, buckets) == 2.5
    assert quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None
    assert quantile(0.5, []) is None


EXPORTER = """\
# TYPE probe_success gauge
probe_success{check="home",location="eu"} 1
probe_success{check="api",location="eu"} 0
# TYPE probe_failure_info gauge
probe_failure_info{check="api",location="eu",reason="http_status"} 1
# TYPE probe_duration_seconds gauge
probe_duration_seconds{check="home",location="eu"} 0.012
# TYPE twinlens_check_runs_total counter
twinlens_check_runs_total{check="api",location="eu",result="success"} 3
twinlens_check_runs_total{check="api",location="eu",result="failure"} 2
"""


def test_check_rows() -> None:
    rows = check_rows(EXPORTER)
    assert [(r.check, r.up, r.reason, r.runs) for r in rows] == [
        ("api", False, "http_status", 5),
        ("home", True, None, 0),
    ]
    assert rows[1].duration == pytest.approx(0.012)


GATEWAY = """\
# TYPE rum_lcp_seconds histogram
rum_lcp_seconds_bucket{app="shop",route="/",device="mobile",le="2.5"} 3
rum_lcp_seconds_bucket{app="shop",route="/",device="mobile",le="4.0"} 4
rum_lcp_seconds_bucket{app="shop",route="/",device="mobile",le="+Inf"} 4
rum_lcp_seconds_count{app="shop",route="/",device="mobile"} 4
rum_lcp_seconds_sum{app="shop",route="/",device="mobile"} 9
rum_lcp_seconds_bucket{app="other",route="/",device="desktop",le="+Inf"} 9
# TYPE rum_page_views_total counter
rum_page_views_total{app="shop",route="/",device="mobile",nav_type="navigate"} 4
rum_page_views_total{app="shop",route="/cart",device="desktop",nav_type="soft"} 2
"""


def test_rum_rows_per_route_and_device_for_one_app() -> None:
    rows = rum_rows(GATEWAY)
    assert [(r.route, r.device, r.views) for r in rows] == [
        ("/", "mobile", 4.0),
        ("/cart", "desktop", 2.0),
    ]
    assert rows[0].lcp_p75 == pytest.approx(2.5)
    assert rows[1].lcp_p75 is None
    text = render(Snapshot(time=0, checks=check_rows(EXPORTER), rum=rows, alerts=[], traffic={}))
    assert "DOWN api" in text and "reason=http_status" in text and " 2.50s" in text


def test_drift_is_bounded_and_periodic() -> None:
    for t in range(0, 1200, 7):
        latency, errors = drift(float(t))
        assert 0.5 <= latency <= 2.5
        assert 0.0 <= errors <= 0.08 + 1e-9
    assert drift(10.0) == pytest.approx(drift(610.0))


def test_generated_beacons_follow_the_story() -> None:
    rng = random.Random(7)
    slow = [make_beacon(rng, "mobile", "VN")["views"][0]["vitals"]["LCP"] for _ in range(200)]
    fast = [make_beacon(rng, "desktop", "US")["views"][0]["vitals"]["LCP"] for _ in range(200)]
    assert sorted(slow)[100] > 2 * sorted(fast)[100]  # medians: SE Asia on phones is slow
    beacon = make_beacon(rng, "desktop", "US")
    assert beacon["v"] == 1 and beacon["app"] == "shop"
    assert beacon["views"][0]["nav"] == "navigate" and beacon["views"][1]["nav"] == "soft"
    assert {v["route"] for v in beacon["views"]} >= {"/", "/products", "/products/{id}"}
    assert "VN" in SLOW_COUNTRIES
