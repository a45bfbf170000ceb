"""The ASGI and WSGI middlewares against raw apps: status rules, timing end, passthrough."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.support.middleware import counts
from twinlens.middleware import ROUTE_KEY, ASGIMetricsMiddleware, WSGIMetricsMiddleware


def active(registry: CollectorRegistry, method: str = "GET") -> float | None:
    return registry.get_sample_value("http_server_active_requests", {"http_request_method": method})


# --- ASGI ------------------------------------------------------------------------------


async def drive_asgi(
    app: Any, path: str = "/x", method: str = "GET", type_: str = "http"
) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": type_, "path": path, "method": method, "headers": [], "query_string": b""}
    await app(scope, receive, send)
    return sent


async def start(send: Any, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})


async def test_asgi_route_from_scope_key_and_status_from_response_start() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope[ROUTE_KEY] = "/things/{id}"
        await start(send, 204)
        await send({"type": "http.response.body", "body": b""})

    registry = CollectorRegistry()
    mw = ASGIMetricsMiddleware(app, registry=registry)
    sent = await drive_asgi(mw, "/things/1")
    await drive_asgi(mw, "/things/2", method="get")
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert counts(registry) == {
        ("/things/{id}", "GET", "204"): 1,
        ("/things/{id}", "_OTHER", "204"): 1,
    }
    assert active(registry) == 0


async def test_asgi_exception_before_response_is_a_500_after_it_the_sent_status() -> None:
    async def fails_early(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("early")

    async def fails_late(scope: Any, receive: Any, send: Any) -> None:
        await start(send, 200)
        raise RuntimeError("late")

    async def never_answers(scope: Any, receive: Any, send: Any) -> None:
        return None

    registry = CollectorRegistry()
    for app in (fails_early, fails_late):
        with pytest.raises(RuntimeError):
            await drive_asgi(ASGIMetricsMiddleware(app, registry=registry))
    await drive_asgi(ASGIMetricsMiddleware(never_answers, registry=registry))
    assert counts(registry) == {("unmatched", "GET", "500"): 2, ("unmatched", "GET", "200"): 1}
    assert active(registry) == 0


async def test_asgi_cancelled_before_answering_is_499_not_a_5xx() -> None:
    entered = asyncio.Event()

    async def hangs(scope: Any, receive: Any, send: Any) -> None:
        entered.set()
        await asyncio.Event().wait()

    registry = CollectorRegistry()
    task = asyncio.create_task(drive_asgi(ASGIMetricsMiddleware(hangs, registry=registry)))
    await entered.wait()
    assert active(registry) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert counts(registry) == {("unmatched", "GET", "499"): 1}
    assert active(registry) == 0


async def test_asgi_other_scopes_pass_through_and_metrics_path_is_served() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    registry = CollectorRegistry()
    mw = ASGIMetricsMiddleware(app, registry=registry)
    await drive_asgi(mw, type_="lifespan")
    await drive_asgi(mw, type_="websocket")
    sent = await drive_asgi(mw, "/metrics")
    assert seen == ["lifespan", "websocket"]
    assert sent[0]["status"] == 200
    assert b"# TYPE http_server_request_duration_seconds histogram" in sent[1]["body"]
    assert counts(registry) == {}

    off = ASGIMetricsMiddleware(app, registry=CollectorRegistry(), metrics_path=None)
    await drive_asgi(off, "/metrics")
    assert seen[-1] == "http"


# --- WSGI ------------------------------------------------------------------------------


def environ(path: str = "/x", method: str = "GET") -> dict[str, Any]:
    return {"PATH_INFO": path, "REQUEST_METHOD": method, "QUERY_STRING": ""}


def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return lambda data: None


def test_wsgi_streamed_body_is_recorded_when_closed_not_before() -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"a"
            yield b"b"

        def close(self) -> None:
            closed.append(True)

    def app(env: dict[str, Any], sr: Any) -> Body:
        env[ROUTE_KEY] = "/stream/{id}"
        sr("206 Partial Content", [])
        return Body()

    registry = CollectorRegistry()
    body = WSGIMetricsMiddleware(app, registry=registry)(environ(), start_response)
    assert counts(registry) == {}
    assert active(registry) == 1
    assert b"".join(body) == b"ab"
    body.close()  # type: ignore[attr-defined]
    assert closed == [True]
    assert counts(registry) == {("/stream/{id}", "GET", "206"): 1}
    assert active(registry) == 0


def test_wsgi_close_without_iterating_records_once() -> None:
    def app(env: dict[str, Any], sr: Any) -> Iterator[bytes]:
        sr("200 OK", [])
        return iter([b"never read"])

    registry = CollectorRegistry()
    body = WSGIMetricsMiddleware(app, registry=registry)(environ(), start_response)
    body.close()  # type: ignore[attr-defined]
    body.close()  # type: ignore[attr-defined]
    assert counts(registry) == {("unmatched", "GET", "200"): 1}


def test_wsgi_exceptions_and_malformed_status() -> None:
    def raises(env: dict[str, Any], sr: Any) -> list[bytes]:
        raise RuntimeError("boom")

    def malformed(env: dict[str, Any], sr: Any) -> list[bytes]:
        sr("OK", [])
        return [b""]

    def breaks_mid_body(env: dict[str, Any], sr: Any) -> Iterator[bytes]:
        sr("200 OK", [])
        yield b"half"
        raise RuntimeError("mid-body")

    registry = CollectorRegistry()
    with pytest.raises(RuntimeError):
        WSGIMetricsMiddleware(raises, registry=registry)(environ(), start_response)
    WSGIMetricsMiddleware(malformed, registry=registry)(environ(), start_response)
    body = WSGIMetricsMiddleware(breaks_mid_body, registry=registry)(environ(), start_response)
    with pytest.raises(RuntimeError):
        list(body)
    body.close()  # type: ignore[attr-defined]  # as every WSGI server does
    # Before a status: 500, what the server sends. Mid-body: the status already sent.
    assert counts(registry) == {("unmatched", "GET", "500"): 2, ("unmatched", "GET", "200"): 1}
    assert active(registry) == 0


def test_wsgi_metrics_path_is_served_and_not_counted() -> None:
    statuses: list[str] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    def app(env: dict[str, Any], sr: Any) -> list[bytes]:
        sr("200 OK", [])
        return [b"app"]

    registry = CollectorRegistry()
    mw = WSGIMetricsMiddleware(app, registry=registry, metrics_path="/internal/metrics")
    assert mw(environ("/metrics"), capture) == [b"app"]
    body = b"".join(mw(environ("/internal/metrics"), capture))
    assert statuses == ["200 OK", "200 OK"]
    assert b'http_route="unmatched"} 1.0' in body
    assert counts(registry) == {("unmatched", "GET", "200"): 1}
