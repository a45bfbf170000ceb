"""A real aiohttp app (with a sub-app) served on loopback, instrumented in one line."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from tests.support.middleware import assert_in_flight_counted, counts
from twinlens.middleware import instrument_aiohttp


def make_app(release: asyncio.Event) -> web.Application:
    async def item(request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["id"]})

    async def create(request: web.Request) -> web.Response:
        return web.json_response({"created": True}, status=201)

    async def missing_item(request: web.Request) -> web.Response:
        raise web.HTTPNotFound(text="no such item")

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("boom (expected by the test)")

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="done")

    async def order(request: web.Request) -> web.Response:
        return web.Response(text=request.match_info["order_id"])

    api = web.Application()
    api.router.add_get("/orders/{order_id}", order)
    app = web.Application()
    app.router.add_get(r"/items/{id:\d+}", item)
    app.router.add_post("/items", create)
    app.router.add_get("/gone/{id}", missing_item)
    app.router.add_get("/boom", boom)
    app.router.add_get("/slow", slow)
    app.add_subapp("/api", api)
    return app


async def test_counts_per_route_template_method_and_status() -> None:
    registry = CollectorRegistry()
    release = asyncio.Event()
    app = instrument_aiohttp(make_app(release), registry=registry)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    base = f"http://{host}:{port}"
    try:
        async with aiohttp.ClientSession() as http:

            async def call(method: str, path: str) -> int:
                async with http.request(method, base + path, allow_redirects=False) as resp:
                    await resp.read()
                    return resp.status

            assert [await call("GET", f"/items/{i}") for i in (1, 22, 333)] == [200, 200, 200]
            assert await call("POST", "/items") == 201
            assert await call("GET", "/api/orders/A-1") == 200
            assert await call("GET", "/api/orders/B-2") == 200
            assert await call("GET", "/gone/5") == 404
            assert await call("GET", "/boom") == 500
            assert await call("PROPFIND", "/items/1") == 405
            for path in ("/nope/1", "/nope/2", "/api/nope/3", "/items/not-a-number"):
                assert await call("GET", path) == 404

            await assert_in_flight_counted(registry, call, release)

            async with http.get(base + "/metrics") as resp:
                assert resp.status == 200
                exposition = await resp.text()
    finally:
        await runner.cleanup()

    assert counts(registry) == {
        ("/items/{id}", "GET", "200"): 3,
        ("/items", "POST", "201"): 1,
        ("/api/orders/{order_id}", "GET", "200"): 2,
        # A matched route answering 404 keeps its template; only unmatched paths collapse.
        ("/gone/{id}", "GET", "404"): 1,
        ("/boom", "GET", "500"): 1,
        # aiohttp reports no resource for a 405, so it is unmatched.
        ("unmatched", "_OTHER", "405"): 1,
        ("unmatched", "GET", "404"): 4,
        ("/slow", "GET", "200"): 1,
    }
    assert (
        'http_server_request_duration_seconds_count{http_request_method="GET",'
        'http_response_status_code="200",http_route="/api/orders/{order_id}"} 2.0'
    ) in exposition
