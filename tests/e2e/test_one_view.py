"""One view, end to end: the real exporter (two locations), gateway, an instrumented API,
Prometheus with the generated rules (short windows through the generator's ``time_scale``)
and Alertmanager with the generated routing, delivering to a webhook inside the test.

The story, in order:

(b) slow mobile users in South-eastern Asia while every probe is green: the RUM region
    alert fires, no probe alert does, and the per-route view (where fast mobile users
    elsewhere dilute them) stays silent: the blind spot the region alert exists for;
(c) the API goes down "at 3am" with no RUM traffic: probe-down fires and Alertmanager's
    critical route delivers it to the pager webhook; the RUM traffic alert stays silent;
(a) every query of every panel of every dashboard, with its variables set to real values
    found in Prometheus, returns data over the test's time range.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry

from tests.support.procs import TwinlensProcess
from tests.support.prometheus import AlertmanagerServer, PrometheusServer
from tests.support.tools import require_tool
from twinlens.middleware import instrument_aiohttp
from twinlens.observability import DASHBOARDS, Spec, generate_files

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("one_view")]

SCALE = 1 / 60  # 1h windows become 1m, `for: 15m` becomes 15s
ORIGIN = "https://shop.example.com"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
GATEWAY_CONFIG = """\
apps:
  shop:
    origins: ["https://shop.example.com"]
    routes: ["/products/{id}"]
    api_routes: ["/api/items/{id}"]
geo:
  country_header: CF-IPCountry
trusted_proxies: ["127.0.0.0/8"]
limits:
  rate_limit: {per_second: 10000, burst: 10000}
"""
PROBE_ALERTS = (
    "TwinlensCheckErrorBudgetBurn",
    "TwinlensCheckDown",
    "TwinlensCheckDownSingleLocation",
    "TwinlensCertificateExpiringSoon",
    "TwinlensCertificateExpired",
    "TwinlensCheckStale",
)
#: The real values each dashboard variable is set to (checked to exist in Prometheus).
PICK = {
    "check": ["shop-api", "shop-journey"],
    "location": ["eu-west"],
    "app": ["shop"],
    "route": {"twinlens-api": ["/api/items/{id}"], "twinlens-rum": ["/products/{id}"]},
    "device": ["mobile"],
    "region": ["South-eastern Asia"],
    "job": ["shop-api"],
}


# --- the parts the test runs itself --------------------------------------------------------


class ShopAPI:
    """The backend: an aiohttp app with the twinlens middleware, on HTTP and HTTPS."""

    def __init__(self, cert: trustme.LeafCert) -> None:
        self.down = False
        self.registry = CollectorRegistry()
        app = web.Application()
        app.router.add_get("/", self.home)
        app.router.add_get("/api/health", self.health)
        app.router.add_get("/api/items/{id}", self.item)
        self.app = instrument_aiohttp(app, registry=self.registry)
        self.ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self.ssl)

    async def home(self, request: web.Request) -> web.Response:
        return web.Response(text="<html><h1>shop</h1></html>", content_type="text/html")

    async def health(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503, text="database unreachable (the test's outage)")
        return web.Response(text="ok")

    async def item(self, request: web.Request) -> web.Response:
        if request.match_info["id"] == "0":
            return web.json_response({"error": "no such item"}, status=404)
        return web.json_response({"id": request.match_info["id"]})


@contextmanager
def serve(api: ShopAPI) -> Iterator[tuple[int, int]]:
    """Run the app on its own loop in a thread; yield (http port, https port)."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(api.app, access_log=None)

    async def start() -> tuple[int, int]:
        await runner.setup()
        plain = web.TCPSite(runner, "127.0.0.1", 0)
        tls = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=api.ssl)
        await plain.start()
        await tls.start()
        ports = [a[1] for a in runner.addresses]
        return ports[0], ports[1]

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


class Webhook(BaseHTTPRequestHandler):
    """Alertmanager's receivers post here; every notification is kept with its path."""

    received: list[tuple[str, dict[str, Any]]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with Webhook.lock:
            Webhook.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def webhook() -> Iterator[str]:
    Webhook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


class Users(threading.Thread):
    """Real-user traffic until stopped: beacons to the gateway, calls to the API.

    Per tick: South-eastern Asia mobile users, 60% of them on 4.2 s page loads; many fast
    mobile users in Western Europe (so the per-route view averages SE Asia away); desktop
    users; the API calls pages make; now and then a JS error and a failed API call.
    """

    def __init__(self, gateway: str, api: str) -> None:
        super().__init__(daemon=True)
        self.gateway, self.api = gateway, api
        self.stop_event = threading.Event()
        self.sent = 0
        self.errors: list[str] = []

    def beacon(self, i: int, ua: str, country: str, lcp: float, route_i: int) -> None:
        path, route = ("/products/42", "/products/{id}") if route_i % 3 else ("/", "/")
        status = 503 if i % 7 == 0 else 200
        view: dict[str, Any] = {
            "path": path,
            "route": route,
            "nav": "navigate" if i % 4 else "reload",
            "pv": True,
            "vitals": {"LCP": lcp, "FCP": lcp * 0.6, "TTFB": 150.0, "CLS": 0.02, "INP": 80.0},
            "api": [{"method": "GET", "path": "/api/items/7", "status": status, "ms": 180.0}],
        }
        if route == "/products/{id}" and i % 5 == 0:
            view["errors"] = [{"kind": "error", "fp": "a1b2c3d4"}]
        body = json.dumps({"v": 1, "app": "shop", "views": [view]}).encode()
        headers = {
            "Content-Type": "text/plain;charset=UTF-8",
            "Origin": ORIGIN,
            "User-Agent": ua,
            "CF-IPCountry": country,
        }
        code = _post(f"{self.gateway}/v1/beacon", body, headers)
        if code != 204:
            self.errors.append(f"beacon answered {code}")
        self.sent += 1

    def run(self) -> None:
        i = 0
        while not self.stop_event.is_set():
            i += 1
            sea_ua = IPHONE if i % 2 else ANDROID
            sea_country = "ID" if i % 2 else "TH"
            self.beacon(i, sea_ua, sea_country, 4200.0 if i % 5 < 3 else 1400.0, i)
            for j in range(3):
                self.beacon(i + j, ANDROID if j % 2 else IPHONE, "DE", 1200.0, i + j + 1)
            self.beacon(i, DESKTOP, "FR", 900.0, i)
            for item in ("7", "8", "0"):
                _get(f"{self.api}/api/items/{item}")
            self.stop_event.wait(0.25)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(10)


def _wait_for_success(url: str, check: str, timeout: float) -> None:
    """Poll an exporter's /metrics until ``check`` has at least one successful run."""
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        runs = [
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("twinlens_check_runs_total{")
            and f'check="{check}"' in line
            and 'result="success"' in line
        ]
        if runs and runs[0] >= 1:
            return
        assert time.monotonic() < deadline, f"no successful {check} run within {timeout}s"
        time.sleep(0.5)


# --- Prometheus helpers ----------------------------------------------------------------------


def _alerts(prom: PrometheusServer, state: str | None = None) -> list[dict[str, str]]:
    selector = f'{{alertstate="{state}"}}' if state else ""
    return [r["metric"] for r in prom.query(f"ALERTS{selector}")]


def _regex_escape(value: str) -> str:
    """What Grafana does to a variable's value inside ``=~"..."``: escape regex syntax
    (RE2 refuses escaped letters and spaces, so only metacharacters), then double the
    backslashes for the PromQL string."""
    escaped = re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", value)
    return escaped.replace("\\", "\\\\")


def _substitute(expr: str, values: dict[str, list[str]], builtins: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in builtins:
            return builtins[name]
        chosen = values[name]
        if len(chosen) == 1:
            return _regex_escape(chosen[0])
        return "(" + "|".join(_regex_escape(v) for v in chosen) + ")"

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


def _label_values(prom: PrometheusServer, query: str, start: float) -> list[str]:
    match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
    assert match, query
    selector, label = match.groups()
    series = prom.api("series", **{"match[]": selector, "start": f"{start:.3f}"})
    return sorted({s[label] for s in series if label in s})


def _has_data(result: list[dict[str, Any]]) -> bool:
    for series in result:
        samples = series.get("values") or [series["value"]]
        if any(math.isfinite(float(v)) for _, v in samples):
            return True
    return False


def _check_every_panel(prom: PrometheusServer, dashboards: dict[str, Any], start: float) -> int:
    """Run every panel query from ``start`` to now; each must return data. A query still
    empty is asked again with a later end for up to 30 s (a loaded box can miss scrapes
    of a busy exporter for a while: its /metrics must answer within the 1 s interval), and
    the failure says what Prometheus saw of each target."""
    span = int(time.time() - start)
    builtins = {
        "__rate_interval": "4s",  # Grafana: max(4 x scrape interval, interval + scrape)
        "__range": f"{span}s",
        "__range_s": str(span),
        "__interval": "2s",
        "datasource": "",
    }
    queries: list[tuple[str, str, bool]] = []  # (where, expr, instant)
    for uid, dash in dashboards.items():
        values: dict[str, list[str]] = {}
        for var in dash["templating"]["list"]:
            if var["type"] != "query":
                continue
            query = _substitute(var["query"], values, builtins)
            found = _label_values(prom, query, start)
            picked = PICK.get(var["name"])
            if isinstance(picked, dict):
                picked = picked[uid]
            if picked is None:  # no preference: the first real value
                assert found, f"{uid}: variable {var['name']} has no values ({query})"
                picked = found[:1]
            missing = [p for p in picked if p not in found]
            assert not missing, f"{uid}: {var['name']} values {missing} not in {found}"
            values[var["name"]] = picked
        for panel in dash["panels"]:
            for target in panel.get("targets", []):
                where = f"{uid} / {panel['title']} / {target['refId']}"
                expr = _substitute(target["expr"], values, builtins)
                queries.append((where, expr, bool(target.get("instant"))))

    def without_data(todo: list[tuple[str, str, bool]]) -> list[tuple[str, str, bool]]:
        end = time.time()
        empty = []
        for where, expr, instant in todo:
            if instant:
                result = prom.query(expr, time_=end)
            else:
                result = prom.api(
                    "query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step="2"
                )["result"]
            if not _has_data(result):
                empty.append((where, expr, instant))
        return empty

    empty = without_data(queries)
    deadline = time.monotonic() + 30
    while empty and time.monotonic() < deadline:
        time.sleep(2)
        empty = without_data(empty)
    targets = [
        (t["labels"].get("job"), t.get("health"), t.get("lastError"), t.get("lastScrapeDuration"))
        for t in prom.api("targets")["activeTargets"]
    ]
    assert empty == [], (
        "panels without data:\n"
        + "\n".join(f"{where}: {expr}" for where, expr, _ in empty)
        + f"\ntargets (job, health, last error, last scrape s): {targets}"
    )
    return len(queries)


# --- the test ----------------------------------------------------------------------------------


def test_one_view(tmp_path: Path) -> None:
    require_tool("prometheus")
    require_tool("alertmanager")
    require_tool("chromium")
    spec = Spec(time_scale=SCALE)
    files = generate_files(spec)
    rules = tmp_path / "rules.yml"
    rules.write_text(files["alerts/twinlens-rules.yml"])
    dashboards = {uid: json.loads(files[f"dashboards/{uid}.json"]) for uid in DASHBOARDS}

    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    api = ShopAPI(ca.issue_cert("127.0.0.1"))

    with ExitStack() as stack:
        http_port, https_port = stack.enter_context(serve(api))
        hook = stack.enter_context(webhook())

        exporters = []
        for location in ("eu-west", "ap-southeast"):
            checks: list[dict[str, Any]] = [
                {
                    "name": "shop-api",
                    "module": "https_2xx",
                    "target": f"https://127.0.0.1:{https_port}/api/health",
                    "interval": "1s",
                    "retries": {"count": 1, "backoff": "100ms", "reasons": ["timeout"]},
                    "labels": {"team": "shop"},
                }
            ]
            if location == "eu-west":  # one browser is enough on a shared 2-core box
                checks.append(
                    {
                        "name": "shop-journey",
                        "module": "browser_home",
                        "target": f"http://127.0.0.1:{http_port}/",
                        "interval": "10s",
                        "labels": {"team": "shop"},
                    }
                )
            config = {
                "modules": {
                    "https_2xx": {
                        "prober": "http",
                        "timeout": "900ms",
                        "http": {"tls_config": {"ca_file": str(ca_file)}},
                    },
                    "browser_home": {
                        "prober": "browser",
                        "timeout": "10s",
                        "browser": {"steps": [{"goto": "/"}], "vitals": False},
                    },
                },
                "checks": checks,
            }
            path = tmp_path / f"exporter-{location}.yml"
            path.write_text(yaml.safe_dump(config, sort_keys=False))
            exporters.append(
                stack.enter_context(
                    TwinlensProcess(
                        tmp_path, "exporter", "--config.file", str(path), "--location", location
                    )
                )
            )
        # Chromium's first launch can take longer than a run's timeout on a loaded box.
        # Failures before Prometheus's first scrape are invisible to increase()-based SLIs,
        # so wait for the journey's first success before Prometheus starts: a cold start
        # must not read as a burnt error budget in (b).
        _wait_for_success(exporters[0].url, "shop-journey", 120)
        gateway_config = tmp_path / "gateway.yml"
        gateway_config.write_text(GATEWAY_CONFIG)
        gateway = stack.enter_context(
            TwinlensProcess(tmp_path, "gateway", "--config.file", str(gateway_config))
        )

        am_config = yaml.safe_load(files["alerts/alertmanager.yml"])
        am_config["route"].update(group_wait="1s", group_interval="1s")
        for route in am_config["route"]["routes"]:
            route["group_wait"] = "1s"
        for receiver in am_config["receivers"]:
            for hook_config in receiver.get("webhook_configs", []):
                hook_config["url"] = f"{hook}/{receiver['name']}"
        alertmanager = stack.enter_context(AlertmanagerServer(tmp_path / "am", am_config))
        scrape = [
            {
                "job_name": "twinlens",
                "static_configs": [{"targets": [e.url.split("//")[1] for e in exporters]}],
            },
            {
                "job_name": "rum-gateway",
                "static_configs": [{"targets": [gateway.url.split("//")[1]]}],
            },
            {"job_name": "shop-api", "static_configs": [{"targets": [f"127.0.0.1:{http_port}"]}]},
        ]
        prom = stack.enter_context(
            PrometheusServer(
                tmp_path / "prom",
                scrape_configs=scrape,
                rule_files=[str(rules)],
                alertmanager_url=alertmanager.url,
            )
        )
        start = time.time()
        users = Users(gateway.url, f"http://127.0.0.1:{http_port}")
        users.start()
        stack.callback(users.stop)
        # One beacon the gateway must refuse (unknown origin): the rejected-beacons panel.
        refused = _post(
            f"{gateway.url}/v1/beacon",
            b'{"v":1,"app":"shop","views":[]}',
            {
                "Content-Type": "text/plain",
                "Origin": "https://evil.example.net",
                "User-Agent": DESKTOP,
            },
        )
        assert 400 <= refused < 500

        # (b) slow mobile users in South-eastern Asia, every probe green.
        region_alert = prom.wait_for(
            'ALERTS{alertname="TwinlensRUMRegionGoodShareLow", alertstate="firing"}',
            timeout=120,
        )
        assert {
            (a["metric"]["app"], a["metric"]["region"], a["metric"]["device"], a["metric"]["vital"])
            for a in region_alert
        } == {("shop", "South-eastern Asia", "mobile", "lcp")}
        assert users.errors == []
        assert [a for a in _alerts(prom) if a["alertname"] in PROBE_ALERTS] == []
        route_view = prom.query('twinlens:rum_good:ratio_rate1h{vital="lcp", device="mobile"}')
        assert route_view and all(float(r["value"][1]) >= 0.75 for r in route_view)
        assert not [a for a in _alerts(prom) if a["alertname"] == "TwinlensRUMGoodShareLow"]
        up = prom.query('probe_success{check="shop-api"}')
        assert sorted((r["metric"]["location"], r["value"][1]) for r in up) == [
            ("ap-southeast", "1"),
            ("eu-west", "1"),
        ]

        # (c) 3am: no users, and the API goes down.
        users.stop()
        api.down = True
        deadline = time.monotonic() + 60
        paged: list[dict[str, Any]] = []
        while not paged:
            assert time.monotonic() < deadline, f"no page; webhook got {Webhook.received}"
            time.sleep(0.5)
            with Webhook.lock:
                paged = [
                    alert
                    for path, body in Webhook.received
                    if path == "/pager"
                    for alert in body["alerts"]
                    if alert["labels"]["alertname"] == "TwinlensCheckDown"
                ]
        down = paged[0]
        assert down["status"] == "firing"
        assert down["labels"] == {
            "alertname": "TwinlensCheckDown",
            "check": "shop-api",
            "job": "twinlens",
            "team": "shop",
            "severity": "critical",
        }
        assert down["annotations"]["summary"] == "Check shop-api is down from 2 locations"
        assert down["annotations"]["runbook_url"].endswith("docs/runbook.md#twinlenscheckdown")
        assert down["annotations"]["dashboard_url"] == (
            "http://localhost:3000/d/twinlens-synthetic/twinlens-synthetic?var-check=shop-api"
        )
        # Quiet a "week" ago too (no data at all): no traffic alert at 3am.
        assert not [a for a in _alerts(prom) if a["alertname"] == "TwinlensRUMTrafficDrop"]

        # (a) every panel query returns data from this Prometheus.
        # A reason's counter is born at its first failure; increase() needs it to have moved
        # inside one $__rate_interval, so wait until it has samples that differ, from the
        # location the panels are checked for (each exporter fails on its own schedule).
        prom.wait_for(
            "changes(twinlens_check_failures_total"
            '{check="shop-api", location="eu-west", reason="http_status"}[4s]) > 0',
            timeout=30,
        )
        prom.wait_for('twinlens_journey_step_success{check="shop-journey"}', timeout=60)
        checked = _check_every_panel(prom, dashboards, start)
        total = sum(len(p.get("targets", [])) for d in dashboards.values() for p in d["panels"])
        assert checked == total and total > 60
