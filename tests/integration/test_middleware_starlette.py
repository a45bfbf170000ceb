"""A real Starlette app served by uvicorn on loopback, instrumented in one line."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from tests.support.middleware import DURATION, assert_in_flight_counted, counts
from twinlens.middleware import instrument_starlette


@asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", log_level="critical", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    while not server.started:
        assert not task.done(), task.exception()
        assert time.monotonic() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


def make_app(release: asyncio.Event) -> Starlette:
    async def item(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["id"]})

    async def create(request: Request) -> JSONResponse:
        return JSONResponse({"created": True}, status_code=201)

    async def order(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["order_id"])

    async def boom(request: Request) -> PlainTextResponse:
        raise RuntimeError("boom (expected by the test)")

    async def slow(request: Request) -> PlainTextResponse:
        await release.wait()
        return PlainTextResponse("done")

    return Starlette(
        routes=[
            Route("/items/{id:int}", item),
            Route("/items", create, methods=["POST"]),
            Route("/boom", boom),
            Route("/slow", slow),
            Mount("/api", routes=[Route("/orders/{order_id}", order)]),
        ]
    )


async def test_counts_per_route_template_method_and_status() -> None:
    registry = CollectorRegistry()
    release = asyncio.Event()
    app = instrument_starlette(make_app(release), registry=registry)
    async with serve(app) as base, aiohttp.ClientSession() as http:

        async def call(method: str, path: str) -> int:
            async with http.request(method, base + path, allow_redirects=False) as resp:
                await resp.read()
                return resp.status

        assert [await call("GET", f"/items/{i}") for i in (1, 22, 333)] == [200, 200, 200]
        assert await call("POST", "/items") == 201
        assert await call("GET", "/api/orders/A-1") == 200
        assert await call("GET", "/api/orders/B-2") == 200
        assert await call("DELETE", "/items/1") == 405
        assert await call("PROPFIND", "/items/1") == 405
        assert await call("GET", "/boom") == 500
        for path in ("/nope/1", "/nope/2", "/api/nope/3", "/items/not-an-int"):
            assert await call("GET", path) == 404

        # In flight: the gauge counts the request until it is answered.
        await assert_in_flight_counted(registry, call, release)

        async with http.get(base + "/metrics") as resp:
            exposition = await resp.text()

    assert counts(registry) == {
        ("/items/{id}", "GET", "200"): 3,
        ("/items", "POST", "201"): 1,
        ("/api/orders/{order_id}", "GET", "200"): 2,
        ("/items/{id}", "DELETE", "405"): 1,
        ("/items/{id}", "_OTHER", "405"): 1,
        ("/boom", "GET", "500"): 1,
        ("unmatched", "GET", "404"): 4,
        ("/slow", "GET", "200"): 1,
    }
    # The mount serves the same registry; the scrape itself is not counted.
    assert (
        'http_server_request_duration_seconds_count{http_request_method="POST",'
        'http_response_status_code="201",http_route="/items"} 1.0'
    ) in exposition
    assert "/metrics" not in {route for route, _, _ in counts(registry)}
    slow_within_10s = registry.get_sample_value(
        f"{DURATION}_bucket",
        {
            "http_route": "/slow",
            "http_request_method": "GET",
            "http_response_status_code": "200",
            "le": "10.0",
        },
    )
    assert slow_within_10s == 1


async def test_fastapi_included_router_prefix_and_validation_errors() -> None:
    from fastapi import APIRouter, FastAPI

    registry = CollectorRegistry()
    v1 = APIRouter(prefix="/v1")

    @v1.get("/users/{user_id}")
    async def user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    @v1.get("/users/{user_id}/orders/{order_id}")
    async def user_order(user_id: int, order_id: str) -> dict[str, str]:
        return {"order": order_id}

    app = FastAPI(openapi_url=None)
    app.include_router(v1)
    instrument_starlette(app, registry=registry)
    async with serve(app) as base, aiohttp.ClientSession() as http:
        statuses = []
        for path in ("/v1/users/1", "/v1/users/2", "/v1/users/x", "/v1/users/1/orders/A", "/v2"):
            async with http.get(base + path) as resp:
                statuses.append(resp.status)
    assert statuses == [200, 200, 422, 200, 404]
    assert counts(registry) == {
        ("/v1/users/{user_id}", "GET", "200"): 2,
        # A request the route matched but rejected keeps the route's template.
        ("/v1/users/{user_id}", "GET", "422"): 1,
        ("/v1/users/{user_id}/orders/{order_id}", "GET", "200"): 1,
        ("unmatched", "GET", "404"): 1,
    }
