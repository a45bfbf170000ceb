"""Scale-out as the README documents it, on real processes and a real Prometheus:
gateway replicas add up with ``sum``; checks are split across shards with no overlap."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.support.procs import TwinlensProcess
from tests.support.prometheus import PrometheusServer

GATEWAY = """\
apps:
  shop:
    origins: ["https://shop.example.com"]
geo:
  country_header: CF-IPCountry
trusted_proxies: [127.0.0.0/8]
"""

UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


def _beacon(lcp_ms: float) -> bytes:
    view = {"path": "/", "route": "/", "nav": "navigate", "pv": True, "vitals": {"LCP": lcp_ms}}
    return json.dumps({"v": 1, "app": "shop", "sr": 1, "views": [view]}).encode()


def _post(url: str, body: bytes, client: str) -> int:
    req = urllib.request.Request(
        url + "/v1/beacon",
        data=body,
        method="POST",
        headers={
            "Content-Type": "text/plain",
            "Origin": "https://shop.example.com",
            "User-Agent": UA,
            "CF-IPCountry": "DE",
            "X-Forwarded-For": client,
        },
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status


def _value(result: list[dict[str, object]]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])  # type: ignore[index]


@pytest.mark.xdist_group("scale_out")
def test_gateway_replicas_add_up_with_the_documented_promql(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.yml"
    cfg.write_text(GATEWAY)
    with (
        TwinlensProcess(tmp_path, "gateway", "--config.file", str(cfg)) as a,
        TwinlensProcess(tmp_path, "gateway", "--config.file", str(cfg)) as b,
    ):
        sent = {a.url: [1200.0] * 7 + [3100.0] * 3, b.url: [900.0] * 4 + [5000.0] * 6}
        for i, (url, values) in enumerate(sent.items()):
            for j, lcp in enumerate(values):
                assert _post(url, _beacon(lcp), f"198.51.100.{i * 50 + j + 1}") == 204
        targets = [u.split("//", 1)[1] for u in sent]
        scrape = [{"job_name": "twinlens-gateway", "static_configs": [{"targets": targets}]}]
        with PrometheusServer(tmp_path / "prom", scrape) as prom:
            # The README's aggregation: sum over replicas, by the labels you keep.
            beacons = 'sum by (app) (rum_beacons_total{app="shop"})'
            prom.wait_for(beacons, lambda r: bool(r) and float(r[0]["value"][1]) == 20)
            assert _value(prom.query(beacons)) == 20
            views = 'sum by (app, route) (rum_page_views_total{app="shop"})'
            assert _value(prom.query(views)) == 20
            good = (
                'sum by (app) (rum_lcp_seconds_bucket{app="shop",le="2.5"})'
                ' / sum by (app) (rum_lcp_seconds_count{app="shop"})'
            )
            assert _value(prom.query(good)) == pytest.approx(11 / 20)
            # Each replica alone holds only its part.
            per_replica = prom.query('rum_beacons_total{app="shop"}')
            assert sorted(float(r["value"][1]) for r in per_replica) == [10.0, 10.0]


EXPORTER = """\
modules:
  tcp_connect: {prober: tcp, timeout: 2s}
checks:
""" + "".join(
    f"  - {{name: check-{i:02d}, module: tcp_connect, "
    f"target: '127.0.0.1:{{port}}', interval: 2s}}\n"
    for i in range(12)
)


@pytest.mark.xdist_group("scale_out")
def test_shards_split_checks_without_overlap(tmp_path: Path) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        cfg = tmp_path / "exporter.yml"
        cfg.write_text(EXPORTER.replace("{port}", str(listener.getsockname()[1])))
        with (
            TwinlensProcess(
                tmp_path,
                "exporter",
                "--config.file",
                str(cfg),
                "--location",
                "eu",
                "--shard",
                "0/2",
            ) as s0,
            TwinlensProcess(
                tmp_path,
                "exporter",
                "--config.file",
                str(cfg),
                "--location",
                "eu",
                "--shard",
                "1/2",
            ) as s1,
        ):
            scrape = [
                {
                    "job_name": "twinlens-exporter",
                    "static_configs": [
                        {"targets": [s0.url.split("//", 1)[1], s1.url.split("//", 1)[1]]}
                    ],
                }
            ]
            with PrometheusServer(tmp_path / "prom", scrape) as prom:
                per_check = "count by (check) (twinlens_check_info)"
                result = prom.wait_for(per_check, lambda r: len(r) == 12, timeout=30)
                assert {r["metric"]["check"] for r in result} == {
                    f"check-{i:02d}" for i in range(12)
                }
                assert all(float(r["value"][1]) == 1 for r in result)  # each check in one shard
                shards = prom.query("count by (instance) (twinlens_check_info)")
                assert len(shards) == 2 and all(float(r["value"][1]) > 0 for r in shards)
    finally:
        listener.close()
