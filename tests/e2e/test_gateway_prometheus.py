"""A real Prometheus scrapes a real ``twinlens gateway`` fed over HTTP with a known sample.

The good share (``bucket{le="2.5"} / count``) must be exact, and ``histogram_quantile``
must land in the bucket that holds the exact quantile of the sample: linear interpolation
inside one bucket is off by at most that bucket's width, which is the bound asserted.
"""

from __future__ import annotations

import http.client
import json
import random
from pathlib import Path

import pytest

from tests.support.procs import TwinlensProcess
from tests.support.prometheus import PrometheusServer

pytestmark = pytest.mark.e2e

LCP_BOUNDS_MS = [500, 1000, 1500, 2000, 2500, 3000, 4000, 6000, 10000, 20000]
CONFIG = """\
apps:
  shop:
    origins: ["https://shop.example.com"]
    routes: ["/products/{id}"]
geo:
  country_header: CF-IPCountry
trusted_proxies: ["127.0.0.0/8"]
limits:
  rate_limit: {per_second: 10000, burst: 10000}
"""
UAS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
]


def _exact_quantile(values: list[float], q: float) -> float:
    """The q-quantile as Prometheus's rank definition sees it (rank = q * count)."""
    ordered = sorted(values)
    rank = q * len(ordered)
    return ordered[max(0, int(rank + 0.999999) - 1)]


def _bucket_of(value_ms: float) -> tuple[float, float]:
    lower = 0.0
    for bound in LCP_BOUNDS_MS:
        if value_ms <= bound:
            return lower / 1000, bound / 1000
        lower = bound
    raise AssertionError("sample above the last finite bucket")


def test_prometheus_sees_exact_shares_and_bounded_quantiles(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yml"
    config.write_text(CONFIG)
    rng = random.Random(20261128)
    # a log-normal LCP sample around 2.4 s, with exact threshold values mixed in
    lcps = [round(min(19_000.0, rng.lognormvariate(7.8, 0.5)), 1) for _ in range(597)]
    lcps += [2500.0, 2500.1, 4000.0]
    with TwinlensProcess(tmp_path, "gateway", "--config.file", str(config)) as gw:
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        for i, lcp in enumerate(lcps):
            body = {
                "v": 1,
                "app": "shop",
                "views": [
                    {
                        "path": f"/products/{i}",
                        "pv": True,
                        "vitals": {"LCP": lcp, "CLS": 0.1 if i % 3 else 0.3},
                    }
                ],
            }
            conn.request(
                "POST",
                "/v1/beacon",
                body=json.dumps(body).encode(),
                headers={
                    "Content-Type": "text/plain;charset=UTF-8",
                    "Origin": "https://shop.example.com",
                    "User-Agent": UAS[i % 2],
                    "CF-IPCountry": "SG" if i % 2 else "DE",
                },
            )
            response = conn.getresponse()
            response.read()
            assert response.status == 204
        conn.close()
        scrape = [
            {"job_name": "gateway", "static_configs": [{"targets": [f"127.0.0.1:{gw.port}"]}]}
        ]
        with PrometheusServer(tmp_path / "prom", scrape_configs=scrape) as prom:
            n = len(lcps)
            prom.wait_for(
                "sum(rum_lcp_seconds_count)",
                lambda r: bool(r) and float(r[0]["value"][1]) == n,
            )
            good = prom.query('sum(rum_lcp_seconds_bucket{le="2.5"}) / sum(rum_lcp_seconds_count)')
            assert float(good[0]["value"][1]) == sum(v <= 2500 for v in lcps) / n
            poor = prom.query(
                '1 - sum(rum_lcp_seconds_bucket{le="4.0"}) / sum(rum_lcp_seconds_count)'
            )
            assert float(poor[0]["value"][1]) == pytest.approx(
                sum(v > 4000 for v in lcps) / n, abs=1e-12
            )
            for q in (0.5, 0.75, 0.95):
                result = prom.query(
                    f"histogram_quantile({q}, sum by (le) (rum_lcp_seconds_bucket))"
                )
                estimate = float(result[0]["value"][1])
                exact = _exact_quantile(lcps, q) / 1000
                lower, upper = _bucket_of(exact * 1000)
                assert lower <= estimate <= upper, (q, estimate, exact)
                assert abs(estimate - exact) <= upper - lower
            # the by-geo view adds up to the same total, split by region
            regions = prom.query("sum by (region) (rum_lcp_by_geo_seconds_count)")
            by_region = {r["metric"]["region"]: float(r["value"][1]) for r in regions}
            assert by_region == {"South-eastern Asia": n // 2, "Western Europe": n - n // 2}
            # the route template collapsed 600 product pages into one series
            routes = prom.query("count by (route) (rum_lcp_seconds_count)")
            assert [r["metric"]["route"] for r in routes] == ["/products/{id}"]
            up = prom.query('up{job="gateway"}')
            assert up[0]["value"][1] == "1"
