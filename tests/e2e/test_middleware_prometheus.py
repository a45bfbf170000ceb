"""A real Prometheus scrapes an instrumented aiohttp app; the API-view queries return data.

The queries are the shapes the API dashboard and SLI rules use: request rate per route,
5xx and 4xx ratios per route, and p50 from the OTel buckets.
"""

from __future__ import annotations

import asyncio
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

JOB = "shop-api"
DURATION = "http_server_request_duration_seconds"


def make_app(registry: CollectorRegistry) -> web.Application:
    async def item(request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["id"]})

    async def boom(request: web.Request) -> web.Response:
        raise web.HTTPServiceUnavailable(text="down (expected by the test)")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.3)  # lands in the (0.25, 0.5] bucket
        return web.Response(text="done")

    app = web.Application()
    app.router.add_get("/items/{id}", item)
    app.router.add_get("/boom", boom)
    app.router.add_get("/slow", slow)
    return instrument_aiohttp(app, registry=registry)


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


def by_route(result: list[dict[str, Any]]) -> dict[str, float]:
    return {r["metric"]["http_route"]: float(r["value"][1]) for r in result}


def test_prometheus_scrapes_per_route_series_and_the_api_queries_answer(
    tmp_path: Path,
) -> None:
    registry = CollectorRegistry()
    with serve_in_thread(make_app(registry)) as address:
        scrape = [{"job_name": JOB, "static_configs": [{"targets": [address]}]}]
        with PrometheusServer(tmp_path, scrape_configs=scrape) as prom:
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

            # Request rate per route (the "requests/s" panel).
            rate = by_route(
                prom.query(f'sum by (http_route) (rate({DURATION}_count{{job="{JOB}"}}[1m]))')
            )
            assert set(rate) == {"/items/{id}", "/boom", "unmatched", "/slow"}
            assert all(v > 0 for v in rate.values()), rate

            # 5xx and 4xx ratios per route, as the SLI rules write them.
            def ratio(codes: str) -> dict[str, float]:
                total = f'sum by (job, http_route) (increase({DURATION}_count{{job="{JOB}"}}[1m]))'
                bad = (
                    f"sum by (job, http_route) (increase({DURATION}_count"
                    f'{{job="{JOB}",http_response_status_code=~"{codes}"}}[1m]))'
                )
                return by_route(prom.query(f"({bad} or 0 * {total}) / {total}"))

            assert ratio("5..") == {"/items/{id}": 0, "/boom": 1, "unmatched": 0, "/slow": 0}
            assert ratio("4..") == {"/items/{id}": 0, "/boom": 0, "unmatched": 1, "/slow": 0}

            # p50 of /slow from the OTel buckets falls in its (0.25, 0.5] bucket.
            p50 = by_route(
                prom.query(
                    "histogram_quantile(0.5, sum by (le, http_route) "
                    f'(rate({DURATION}_bucket{{job="{JOB}",http_route="/slow"}}[1m])))'
                )
            )
            assert set(p50) == {"/slow"}
            assert 0.25 < p50["/slow"] <= 0.5, p50
