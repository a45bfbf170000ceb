"""A real Prometheus scrapes an instrumented aiohttp app; the API dashboard's queries answer.

The queries are read from the checked-in ``dashboards/twinlens-api.json`` (request rate,
5xx and 4xx ratios, p50/p95/p99 per route, SLO burn from the checked-in recording rules,
in-flight requests), so a renamed label on either side fails here.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from tests.support.prometheus import PrometheusServer
from twinlens.middleware import instrument_aiohttp

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
API_DASHBOARD = ROOT / "dashboards" / "twinlens-api.json"
RULES = ROOT / "alerts" / "twinlens-rules.yml"
JOB = "shop-api"
DURATION = "http_server_request_duration_seconds"


def make_app(registry: CollectorRegistry) -> web.Application:
    async def item(request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["id"]})

    async def boom(request: web.Request) -> web.Response:
        raise web.HTTPServiceUnavailable(text="down (expected by the test)")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.3)  # normally in the (0.25, 0.5] bucket
        return web.Response(text="done")

    app = web.Application()
    app.router.add_get("/items/{id}", item)
    app.router.add_get("/boom", boom)
    app.router.add_get("/slow", slow)
    return instrument_aiohttp(app, registry=registry)


def _slowest_bucket_bound(registry: CollectorRegistry, route: str) -> float:
    """The ``le`` of the lowest bucket holding every request of ``route``, as the app's own
    registry counted them."""
    buckets = sorted(
        (float(s.labels["le"]), s.value)
        for metric in registry.collect()
        for s in metric.samples
        if s.name == f"{DURATION}_bucket" and s.labels.get("http_route") == route
    )
    total = buckets[-1][1]
    return next(le for le, count in buckets if count == total)


@contextmanager
def serve_in_thread(app: web.Application) -> Iterator[str]:
    """Run ``app`` on its own event loop in a thread (the test polls Prometheus blocking)."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)

    async def start() -> str:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return f"{host}:{port}"

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def get(address: str, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


def api_panel_queries(job: str) -> list[tuple[str, str]]:
    """(panel title, PromQL) of the API dashboard's server-side queries, variables filled.

    Queries over the browser's ``rum_*`` series need the gateway and are left out.
    """
    dashboard = json.loads(API_DASHBOARD.read_text())
    queries = []
    stack = list(dashboard["panels"])
    while stack:
        panel = stack.pop(0)
        stack.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            expr = target.get("expr", "")
            if "http_server_" not in expr or "rum_" in expr:
                continue
            expr = expr.replace("$__rate_interval", "1m").replace("$job", job)
            queries.append((panel["title"], expr.replace("$route", ".*")))
    return queries


def by_route(result: list[dict[str, Any]]) -> dict[str, float]:
    return {r["metric"]["http_route"]: float(r["value"][1]) for r in result}


def test_prometheus_scrapes_per_route_series_and_the_api_queries_answer(
    tmp_path: Path,
) -> None:
    registry = CollectorRegistry()
    with serve_in_thread(make_app(registry)) as address:
        scrape = [{"job_name": JOB, "static_configs": [{"targets": [address]}]}]
        rules = [str(RULES)]
        with PrometheusServer(tmp_path, scrape_configs=scrape, rule_files=rules) as prom:
            # Phase 1 creates every series; once scraped, phase 2 shows up as an increase.
            assert [get(address, p) for p in ("/items/1", "/boom", "/nope/1", "/slow")] == [
                200,
                503,
                404,
                200,
            ]
            prom.wait_for(f'count({DURATION}_count{{job="{JOB}"}}) == 4')
            phase2 = ["/items/2", "/items/3", "/items/4", "/boom", "/nope/2", "/slow", "/slow"]
            assert [get(address, p) for p in phase2] == [200, 200, 200, 503, 404, 200, 200]
            prom.wait_for(f'sum({DURATION}_count{{job="{JOB}"}}) == 11')

            raw = prom.query(f'{DURATION}_count{{job="{JOB}"}}')
            series = {
                (
                    r["metric"]["http_route"],
                    r["metric"]["http_request_method"],
                    r["metric"]["http_response_status_code"],
                ): float(r["value"][1])
                for r in raw
            }
            assert series == {
                ("/items/{id}", "GET", "200"): 4,
                ("/boom", "GET", "503"): 2,
                ("unmatched", "GET", "404"): 2,
                ("/slow", "GET", "200"): 3,
            }
            active = prom.query(f'http_server_active_requests{{job="{JOB}"}}')
            assert [(r["metric"]["http_request_method"], r["value"][1]) for r in active] == [
                ("GET", "0")
            ]

            # Every server-side query of the API dashboard answers, with the checked-in
            # recording rules loaded (the SLO-burn panels read them).
            prom.wait_for(
                f'twinlens:http_server_errors:ratio_rate1h{{job="{JOB}",http_route="/boom"}} > 0'
            )
            answers = {(title, expr): prom.query(expr) for title, expr in api_panel_queries(JOB)}
            empty = [key for key, result in answers.items() if not result]
            assert not empty, f"API panels without data: {empty}"
            assert len(answers) >= 8, list(answers)

            def panel(title: str, index: int = 0) -> list[dict[str, Any]]:
                return [r for (t, _), r in answers.items() if t == title][index]

            routes = {"/items/{id}", "/boom", "unmatched", "/slow"}
            assert set(by_route(panel("Request rate by route"))) == routes
            assert all(v > 0 for v in by_route(panel("Request rate by route")).values())
            by_code = {
                r["metric"]["http_response_status_code"]
                for r in panel("Request rate by status code")
            }
            assert by_code == {"200", "404", "503"}
            assert by_route(panel("5xx ratio by route")) == {
                "/items/{id}": 0,
                "/boom": 1,
                "unmatched": 0,
                "/slow": 0,
            }
            assert by_route(panel("4xx ratio by route")) == {
                "/items/{id}": 0,
                "/boom": 0,
                "unmatched": 1,
                "/slow": 0,
            }
            # p50 of /slow (0.3 s each) is above the 0.25 s bound, and at most the bound
            # of the bucket its slowest request landed in: (0.25, 0.5] on a quiet box, a
            # bucket higher when a loaded one stalled the app's loop (seen in a full run).
            p50 = by_route(panel("Latency p50 / p95 / p99 by route", 0))
            assert set(p50) == routes
            assert 0.25 < p50["/slow"] <= _slowest_bucket_bound(registry, "/slow"), p50
            assert all(p50[r] < 0.25 for r in routes - {"/slow"}), p50
            burn = by_route(panel("SLO burn by route (1h)", 0))
            assert burn["/boom"] > 0
            assert burn["/items/{id}"] == 0
            in_flight = panel("In-flight requests")
            assert [(r["metric"]["http_request_method"], r["value"][1]) for r in in_flight] == [
                ("GET", "0")
            ]
