"""The gateway over real HTTP (uvicorn on a loopback port): beacons in, exact samples out.

Each test runs its own gateway in a thread with its own config, posts with ``http.client``
and reads ``/metrics`` as Prometheus would.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from rum_gateway.app import Gateway, create_app
from rum_gateway.metrics import sample_value

ORIGIN = "https://shop.example.com"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
BASE_CONFIG = """\
apps:
  shop:
    origins: ["https://shop.example.com", "https://*.shop.example.com"]
    routes: ["/products/{id}"]
  blog:
    origins: ["https://blog.example.com"]
    allow_missing_origin: true
geo:
  country_header: CF-IPCountry
trusted_proxies: ["127.0.0.0/8"]
limits:
  rate_limit: {per_second: 1000, burst: 1000}
"""


class GatewayServer:
    """uvicorn serving a :class:`Gateway` on 127.0.0.1:<free port>, in a thread."""

    def __init__(self, app: Gateway) -> None:
        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            loop="asyncio",
            http="httptools",
            lifespan="on",
            log_config=None,
            access_log=False,
            proxy_headers=False,  # as `twinlens gateway` runs: trusted_proxies decides
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> GatewayServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def post(
        self, beacon: dict[str, Any] | bytes, **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        body = beacon if isinstance(beacon, bytes) else json.dumps(beacon).encode()
        sent = {
            "Content-Type": "text/plain;charset=UTF-8",
            "Origin": ORIGIN,
            "User-Agent": IPHONE,
            "CF-IPCountry": "SG",
        }
        for key, value in headers.items():
            name = key.replace("_", "-")
            if value is None:
                sent.pop(name, None)
            else:
                sent[name] = value
        return self.request("POST", "/v1/beacon", body, {k: v for k, v in sent.items() if v})

    def metrics(self) -> str:
        status, _, body = self.request("GET", "/metrics")
        assert status == 200
        return body.decode()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.yml"
    path.write_text(BASE_CONFIG)
    return path


@pytest.fixture
def gateway(config_file: Path, tmp_path: Path) -> Iterator[GatewayServer]:
    app = create_app(str(config_file), sdk_path=tmp_path / "missing-sdk.js")
    with GatewayServer(app) as server:
        yield server


def beacon(views: list[dict[str, Any]], app: str = "shop", sr: float = 1.0) -> dict[str, Any]:
    return {"v": 1, "app": app, "sr": sr, "views": views}


def view(path: str = "/products/42", **fields: Any) -> dict[str, Any]:
    return {"path": path, "nav": "navigate", "pv": True, **fields}


def value(text: str, name: str, **labels: str) -> float | None:
    result = sample_value(text, name, labels)
    return None if result is None else float(result)


def test_exact_bucket_counts(gateway: GatewayServer) -> None:
    lcps = [900.0, 2500.0, 2500.1, 3999.0, 4000.0, 4000.5, 25000.0]
    for i, lcp in enumerate(lcps):
        status, headers, _ = gateway.post(
            beacon([view(vitals={"LCP": lcp, "CLS": 0.1 if i % 2 else 0.25})], sr=0.5)
        )
        assert status == 204
        assert headers["access-control-allow-origin"] == ORIGIN
    text = gateway.metrics()
    labels = {"app": "shop", "route": "/products/{id}", "device": "mobile"}
    expected = {"0.5": 0, "1.0": 1, "2.0": 1, "2.5": 2, "3.0": 3, "4.0": 5, "6.0": 6, "20.0": 6}
    for le, count in expected.items():
        assert value(text, "rum_lcp_seconds_bucket", le=le, **labels) == count, le
    assert value(text, "rum_lcp_seconds_bucket", le="+Inf", **labels) == 7
    assert value(text, "rum_lcp_seconds_count", **labels) == 7
    assert value(text, "rum_lcp_seconds_sum", **labels) == pytest.approx(sum(lcps) / 1000)
    assert value(text, "rum_cls_bucket", le="0.1", **labels) == 3
    assert value(text, "rum_cls_bucket", le="0.25", **labels) == 7
    geo = {"app": "shop", "region": "South-eastern Asia", "country": "SG", "device": "mobile"}
    assert value(text, "rum_lcp_by_geo_seconds_bucket", le="2.5", **geo) == 2
    assert (
        value(
            text, "rum_lcp_by_browser_seconds_count", app="shop", browser="safari", device="mobile"
        )
        == 7
    )
    # page views are scaled by 1/sr
    pv = {"app": "shop", "route": "/products/{id}", "device": "mobile", "nav_type": "navigate"}
    assert value(text, "rum_page_views_total", **pv) == 14.0
    assert value(text, "rum_beacons_total", app="shop") == 7


def test_api_calls_errors_and_gzip(gateway: GatewayServer) -> None:
    body = beacon(
        [
            view(
                "/cart",
                api=[
                    {"method": "get", "path": "/api/items/7?x=1", "status": 200, "ms": 182.0},
                    {"method": "POST", "path": "/api/items/8", "status": 503, "ms": 30.0},
                    {"method": "GET", "path": "/api/items/9", "status": 0, "ms": 9000.0},
                ],
                errors=[{"kind": "error", "fp": "a1"}, {"kind": "unhandledrejection"}],
            )
        ],
        sr=0.25,
    )
    status, _, _ = gateway.post(gzip.compress(json.dumps(body).encode()), Content_Encoding="gzip")
    assert status == 204
    text = gateway.metrics()
    api = {"app": "shop", "api_route": "/api/items/{id}"}
    assert (
        value(
            text,
            "rum_api_request_duration_seconds_bucket",
            method="GET",
            status_class="2xx",
            le="0.25",
            **api,
        )
        == 1
    )
    assert (
        value(
            text,
            "rum_api_request_duration_seconds_bucket",
            method="GET",
            status_class="2xx",
            le="0.1",
            **api,
        )
        == 0
    )
    assert (
        value(
            text, "rum_api_request_duration_seconds_count", method="POST", status_class="5xx", **api
        )
        == 1
    )
    assert (
        value(
            text,
            "rum_api_request_duration_seconds_bucket",
            method="GET",
            status_class="error",
            le="5.0",
            **api,
        )
        == 0
    )
    assert (
        value(
            text,
            "rum_api_request_duration_seconds_bucket",
            method="GET",
            status_class="error",
            le="10.0",
            **api,
        )
        == 1
    )
    assert value(text, "rum_errors_total", app="shop", route="/cart", kind="error") == 4.0
    assert (
        value(text, "rum_errors_total", app="shop", route="/cart", kind="unhandledrejection") == 4.0
    )


def _post_reason(
    gateway: GatewayServer, payload: dict[str, Any] | bytes, **headers: str
) -> tuple[int, str | None, dict[str, str]]:
    status, resp_headers, body = gateway.post(payload, **headers)
    reason = json.loads(body)["error"] if body else None
    return status, reason, resp_headers


def test_rejections_have_status_reason_and_count(gateway: GatewayServer) -> None:
    good = beacon([view(vitals={"LCP": 1000})])
    cases: list[tuple[dict[str, Any] | bytes, dict[str, str], int, str | None]] = [
        (good, {"Origin": "https://evilshop.example.com"}, 403, "origin"),
        (good, {"Origin": "https://blog.example.com"}, 403, "origin"),  # allowed for blog only
        (good, {"Origin": ""}, 403, "origin"),  # shop needs an Origin
        (beacon([view()], app="nosuch"), {}, 403, "unknown_app"),
        (b"{not json", {}, 400, "bad_json"),
        (beacon([view(vitals={"LCP": "slow"})]), {}, 400, "bad_schema"),
        ({"v": 2, "app": "shop", "views": []}, {}, 400, "bad_schema"),
        (beacon([view(vitals={"LCP": -5})]), {}, 400, "bad_value"),
        (beacon([view(vitals={"LCP": 1})], sr=0), {}, 400, "bad_value"),
        (good, {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media"),
        (good, {"Content-Encoding": "br"}, 415, "unsupported_media"),
        (b"\x1f\x8b\x08\x00garbage", {"Content-Encoding": "gzip"}, 400, "bad_encoding"),
        (
            gzip.compress(json.dumps(good).encode())[:-12],
            {"Content-Encoding": "gzip"},
            400,
            "bad_encoding",
        ),
        (b"x" * 70_000, {}, 413, "too_large"),
        (gzip.compress(b" " * 200_000), {"Content-Encoding": "gzip"}, 413, "too_large"),
        (
            good,
            {
                "User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
            },
            204,
            None,
        ),
        (good, {"User-Agent": IPHONE.replace("Safari/604.1", "HeadlessChrome/124.0")}, 204, None),
        (good, {"User-Agent": IPHONE + " TwinlensSynthetic/0.1"}, 204, None),
        (good, {"X-Twinlens-Synthetic": "1"}, 204, None),
    ]
    for payload, headers, status, reason in cases:
        got = _post_reason(gateway, payload, **{k.replace("-", "_"): v for k, v in headers.items()})
        assert got[:2] == (status, reason), (headers, got)
    text = gateway.metrics()
    expected = {
        "origin": 3, "unknown_app": 1, "bad_json": 1, "bad_schema": 2, "bad_value": 2,
        "unsupported_media": 2, "bad_encoding": 2, "too_large": 2, "bot": 2, "synthetic": 2,
        "rate_limited": 0,
    }  # fmt: skip
    for reason, count in expected.items():
        assert value(text, "rum_beacons_rejected_total", reason=reason) == count, reason
    # nothing leaked into RUM
    assert value(text, "rum_beacons_total", app="shop") == 0
    assert "rum_lcp_seconds_count{" not in text


def test_wildcard_origin_missing_origin_app_and_preflight(gateway: GatewayServer) -> None:
    status, headers, _ = gateway.post(beacon([view()]), Origin="https://eu.shop.example.com")
    assert status == 204 and headers["access-control-allow-origin"] == "https://eu.shop.example.com"
    # blog accepts server-side senders without an Origin
    assert gateway.post(beacon([view("/post/1")], app="blog"), Origin="")[0] == 204
    status, headers, _ = gateway.request(
        "OPTIONS",
        "/v1/beacon",
        headers={
            "Origin": "https://eu.shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == "https://eu.shop.example.com"
    assert headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert "content-type" in headers["access-control-allow-headers"]
    assert headers["vary"] == "origin"
    status, headers, _ = gateway.request(
        "OPTIONS", "/v1/beacon", headers={"Origin": "https://evil.example.net"}
    )
    assert status == 403 and "access-control-allow-origin" not in headers
    assert gateway.request("GET", "/v1/beacon")[0] == 405


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    path = tmp_path / "g.yml"
    path.write_text(
        BASE_CONFIG.replace("per_second: 1000, burst: 1000", "per_second: 0.5, burst: 3")
    )
    with GatewayServer(create_app(str(path))) as gw:
        statuses = [gw.post(beacon([view()]))[0] for _ in range(3)]
        status, headers, body = gw.post(beacon([view()]))
        # a different client behind the trusted proxy has its own bucket
        other = gw.post(beacon([view()]), X_Forwarded_For="203.0.113.9")[0]
        text = gw.metrics()
    assert statuses == [204, 204, 204]
    assert status == 429 and json.loads(body)["error"] == "rate_limited"
    assert headers["retry-after"] == "2"  # one token at 0.5/s
    assert other == 204
    assert value(text, "rum_beacons_rejected_total", reason="rate_limited") == 1
    assert value(text, "rum_beacons_total", app="shop") == 4


def test_country_header_only_from_trusted_proxies(tmp_path: Path) -> None:
    path = tmp_path / "g.yml"
    path.write_text(BASE_CONFIG.replace('trusted_proxies: ["127.0.0.0/8"]', "trusted_proxies: []"))
    with GatewayServer(create_app(str(path))) as gw:
        assert gw.post(beacon([view(vitals={"TTFB": 100})]), CF_IPCountry="DE")[0] == 204
        text = gw.metrics()
    geo = {"app": "shop", "region": "unknown", "country": "unknown", "device": "mobile"}
    assert value(text, "rum_ttfb_by_geo_seconds_count", **geo) == 1


def test_geoip_database_and_forwarded_for(tmp_path: Path) -> None:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    db = tmp_path / "country.mmdb"
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country")
    writer.insert_network(IPSet(["203.0.113.0/24"]), {"country": {"iso_code": "BR"}})
    writer.insert_network(IPSet(["198.51.100.0/24"]), {"registered_country": {"iso_code": "KE"}})
    writer.insert_network(IPSet(["127.0.0.0/8"]), {"country": {"iso_code": "JP"}})
    writer.to_db_file(str(db))
    path = tmp_path / "g.yml"
    path.write_text(BASE_CONFIG.replace("  country_header: CF-IPCountry\n", f"  database: {db}\n"))
    with GatewayServer(create_app(str(path))) as gw:
        for xff in ("203.0.113.7", "198.51.100.1", "192.0.2.1", None):
            headers = {"X_Forwarded_For": xff} if xff else {}
            assert (
                gw.post(beacon([view(vitals={"FCP": 100})]), CF_IPCountry="", **headers)[0] == 204
            )
        text = gw.metrics()
    counts = {}
    for country, region in (
        ("BR", "Latin America and the Caribbean"),
        ("KE", "Sub-Saharan Africa"),
        ("JP", "Eastern Asia"),
        ("unknown", "unknown"),
    ):
        counts[country] = value(
            text,
            "rum_fcp_by_geo_seconds_count",
            app="shop",
            region=region,
            country=country,
            device="mobile",
        )
    assert counts == {"BR": 1, "KE": 1, "JP": 1, "unknown": 1}


def test_sdk_js(tmp_path: Path) -> None:
    sdk = tmp_path / "twinlens-rum.js"
    app = create_app(None, sdk_path=sdk)
    with GatewayServer(app) as gw:
        status, _, body = gw.request("GET", "/sdk.js")
        assert status == 404 and b"make sdk" in body
        sdk.write_text("/* sdk v1 */\n")
        assert gw.request("POST", "/-/reload")[0] == 200  # read once, at start and reload
        status, headers, body = gw.request("GET", "/sdk.js")
        assert status == 200 and body == b"/* sdk v1 */\n"
        assert headers["content-type"].startswith("application/javascript")
        assert headers["cache-control"] == "public, max-age=86400"
        etag = headers["etag"]
        assert gw.request("GET", "/sdk.js", headers={"If-None-Match": etag})[0] == 304
        assert gw.request("GET", "/sdk.js", headers={"If-None-Match": '"other"'})[0] == 200
        pinned = gw.request("GET", f"/sdk.js?v={etag.strip(chr(34))}")[1]
        assert pinned["cache-control"] == "public, max-age=31536000, immutable"
        sdk.write_text("/* sdk v2 */\n")  # not re-read per request
        assert gw.request("GET", "/sdk.js")[2] == b"/* sdk v1 */\n"


def test_reload_swaps_only_a_valid_config(config_file: Path) -> None:
    with GatewayServer(create_app(str(config_file))) as gw:
        assert gw.post(beacon([view()], app="docs"), Origin="https://docs.example.com")[0] == 403
        assert gw.post(beacon([view()]))[0] == 204
        config_file.write_text(BASE_CONFIG + "  bogus: 1\n")
        status, _, body = gw.request("POST", "/-/reload")
        assert status == 500 and b"limits.bogus" in body
        assert "twinlens_gateway_config_last_reload_successful 0.0" in gw.metrics()
        config_file.write_text(
            BASE_CONFIG.replace(
                "apps:\n", "apps:\n  docs:\n    origins: [https://docs.example.com]\n"
            )
        )
        assert gw.request("POST", "/-/reload")[0] == 200
        assert gw.post(beacon([view()], app="docs"), Origin="https://docs.example.com")[0] == 204
        text = gw.metrics()
    assert "twinlens_gateway_config_last_reload_successful 1.0" in text
    # counts survive a reload that keeps the same families
    assert value(text, "rum_beacons_total", app="shop") == 1
    assert value(text, "rum_beacons_total", app="docs") == 1


def test_a_reload_with_new_views_records_into_the_new_families(config_file: Path) -> None:
    """New views make new families: beacons after the reload land in them (the recorder
    follows the metrics it records into)."""
    with GatewayServer(create_app(str(config_file))) as gw:
        assert gw.post(beacon([view(vitals={"LCP": 1200})]))[0] == 204
        config_file.write_text(BASE_CONFIG + "views:\n  default: [route]\n  by_nav: [nav_type]\n")
        assert gw.request("POST", "/-/reload")[0] == 200
        assert gw.post(beacon([view(vitals={"LCP": 2600})]))[0] == 204
        text = gw.metrics()
    # a fresh set of families: the second beacon only, in the new views
    assert value(text, "rum_lcp_seconds_count", app="shop", route="/products/{id}") == 1
    assert value(text, "rum_lcp_seconds_sum", app="shop", route="/products/{id}") == 2.6
    assert value(text, "rum_lcp_by_nav_seconds_count", app="shop", nav_type="navigate") == 1
    assert "rum_lcp_by_geo_seconds" not in text
    assert value(text, "rum_beacons_total", app="shop") == 1


def test_health_ready_and_self_metrics(gateway: GatewayServer) -> None:
    assert gateway.request("GET", "/-/healthy")[:3:2] == (200, b"Healthy\n")
    assert gateway.request("GET", "/-/ready")[:3:2] == (200, b"Ready\n")
    gateway.post(beacon([view(vitals={"LCP": 1})]))
    status, headers, body = gateway.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    text = gzip.decompress(body).decode()
    assert (
        value(
            text,
            "twinlens_build_info",
            version="0.1.0",
            component="gateway",
            python_version=text.split('python_version="')[1].split('"')[0],
        )
        == 1
    )
    series = value(text, "twinlens_gateway_series")
    samples = [ln for ln in text.splitlines() if ln.startswith("rum_")]
    assert series == len(samples)
    assert value(text, "twinlens_gateway_series_limit") == 50_000


def test_cli_config_check(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "bad.yml"
    bad.write_text("apps:\n  shop:\n    origins: [shop.example.com]\n")
    run = subprocess.run(
        [sys.executable, "-m", "twinlens", "gateway", "--config.check", "--config.file", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert "apps.shop.origins[0]: an origin looks like" in run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "twinlens", "gateway", "--config.check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (run.returncode, run.stdout) == (0, "SUCCESS: <embedded> is a valid gateway config\n")


def test_the_real_command_trusts_its_config_and_reloads_on_sighup(
    tmp_path: Path, config_file: Path
) -> None:
    import signal

    from tests.support.procs import TwinlensProcess

    with TwinlensProcess(tmp_path, "gateway", "--config.file", str(config_file)) as gw:
        # X-Forwarded-For from loopback (a trusted proxy in the config): the country header
        # is believed. (uvicorn's own proxy-header rewrite would make the client
        # 203.0.113.7, untrusted, and the country `unknown`.)
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
        conn.request(
            "POST",
            "/v1/beacon",
            body=json.dumps(beacon([view(vitals={"LCP": 900})])).encode(),
            headers={
                "Origin": ORIGIN,
                "User-Agent": IPHONE,
                "CF-IPCountry": "SG",
                "X-Forwarded-For": "203.0.113.7",
                "Content-Type": "text/plain",
            },
        )
        assert conn.getresponse().status == 204
        conn.close()
        config_file.write_text(BASE_CONFIG.replace("  blog:", "  docs:"))
        gw.signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        text = ""
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
            conn.close()
            if value(text, "twinlens_gateway_config_reloads_total", result="success") == 1:
                break
            time.sleep(0.1)
        assert value(text, "twinlens_gateway_config_reloads_total", result="success") == 1
        assert value(text, "rum_beacons_total", app="docs") == 0  # the new app is live
        geo = {"app": "shop", "region": "South-eastern Asia", "country": "SG", "device": "mobile"}
        assert value(text, "rum_lcp_by_geo_seconds_count", **geo) == 1
        assert gw.stop() == 0


def test_a_file_that_is_not_a_geoip_database_is_refused(tmp_path: Path) -> None:
    from twinlens.runtime.config import ConfigError

    fake = tmp_path / "fake.mmdb"
    fake.write_bytes(b"not a database")
    path = tmp_path / "g.yml"
    path.write_text(
        BASE_CONFIG.replace("  country_header: CF-IPCountry\n", f"  database: {fake}\n")
    )
    with pytest.raises(ConfigError) as exc:
        create_app(str(path))
    assert exc.value.source == str(path)
    assert exc.value.errors[0].startswith("geo.database: cannot be opened: ")
