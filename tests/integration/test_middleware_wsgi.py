"""Real Flask and Django apps behind werkzeug's server on loopback, instrumented."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import include, path
from flask import Blueprint, Flask, abort
from prometheus_client import CollectorRegistry
from werkzeug.serving import make_server

from tests.support.middleware import counts
from twinlens.middleware import instrument_flask, instrument_wsgi


@contextmanager
def serve(app: Any) -> Iterator[Callable[..., tuple[int, bytes]]]:
    """Serve a WSGI app on a free loopback port; yield ``call(method, path)``."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"

    def call(method: str, path: str) -> tuple[int, bytes]:
        req = urllib.request.Request(base + path, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    try:
        yield call
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def wait_for_gauge(registry: CollectorRegistry, method: str, value: float) -> None:
    deadline = time.monotonic() + 10
    labels = {"http_request_method": method}
    while registry.get_sample_value("http_server_active_requests", labels) != value:
        assert time.monotonic() < deadline, f"active gauge never reached {value}"
        time.sleep(0.01)


# --- Flask -----------------------------------------------------------------------------


def make_flask(release: threading.Event) -> Flask:
    app = Flask(__name__)
    api = Blueprint("api", __name__, url_prefix="/api")

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> dict[str, int]:
        if item_id == 404:
            abort(404)
        return {"id": item_id}

    @app.post("/items")
    def create() -> tuple[dict[str, bool], int]:
        return {"created": True}, 201

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom (expected by the test)")

    @app.get("/slow")
    def slow() -> str:
        release.wait(10)
        return "done"

    @app.get("/stream")
    def stream() -> Any:
        return app.response_class((f"{i}\n" for i in range(3)), mimetype="text/plain")

    @api.get("/orders/<order_id>")
    def order(order_id: str) -> str:
        return order_id

    app.register_blueprint(api)
    return app


def test_flask_counts_per_url_rule_method_and_status() -> None:
    registry = CollectorRegistry()
    release = threading.Event()
    app = instrument_flask(make_flask(release), registry=registry)
    with serve(app) as call:
        assert [call("GET", f"/items/{i}")[0] for i in (1, 22, 333)] == [200, 200, 200]
        assert call("POST", "/items")[0] == 201
        assert call("GET", "/items/404")[0] == 404
        assert call("GET", "/api/orders/A-1")[0] == 200
        assert call("GET", "/api/orders/B-2")[0] == 200
        assert call("GET", "/boom")[0] == 500
        assert call("GET", "/stream") == (200, b"0\n1\n2\n")
        assert call("PROPFIND", "/items/1")[0] == 405
        for p in ("/nope/1", "/nope/2", "/api/nope/3", "/items/not-an-int"):
            assert call("GET", p)[0] == 404

        result: list[tuple[int, bytes]] = []
        pending = threading.Thread(target=lambda: result.append(call("GET", "/slow")))
        pending.start()
        wait_for_gauge(registry, "GET", 1)
        release.set()
        pending.join(10)
        assert result == [(200, b"done")]
        wait_for_gauge(registry, "GET", 0)

        status, exposition = call("GET", "/metrics")
        assert status == 200

    assert counts(registry) == {
        ("/items/<int:item_id>", "GET", "200"): 3,
        ("/items", "POST", "201"): 1,
        ("/items/<int:item_id>", "GET", "404"): 1,
        ("/api/orders/<order_id>", "GET", "200"): 2,
        ("/boom", "GET", "500"): 1,
        ("/stream", "GET", "200"): 1,
        # Flask routes a 405 to no rule, so it is unmatched, like a 404 path.
        ("unmatched", "_OTHER", "405"): 1,
        ("unmatched", "GET", "404"): 4,
        ("/slow", "GET", "200"): 1,
    }
    assert (
        b'http_server_request_duration_seconds_count{http_request_method="POST",'
        b'http_response_status_code="201",http_route="/items"} 1.0'
    ) in exposition


# --- Django ----------------------------------------------------------------------------


def _item(request: HttpRequest, pk: int) -> HttpResponse:
    return JsonResponse({"id": pk})


def _order(request: HttpRequest, code: str) -> HttpResponse:
    return HttpResponse(code)


def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom (expected by the test)")


def _stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(f"{i}\n" for i in range(3))


# This module is the Django URLconf (settings.ROOT_URLCONF = __name__).
urlpatterns = [
    path("", _order, {"code": "home"}),
    path("items/<int:pk>", _item),
    path("api/", include([path("orders/<slug:code>", _order)])),
    path("boom", _boom),
    path("stream", _stream),
]


@pytest.fixture(scope="module")
def django_wsgi() -> Any:
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="test-only",
            ALLOWED_HOSTS=["127.0.0.1"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=["twinlens.middleware.DjangoRouteMiddleware"],
            INSTALLED_APPS=[],
            LOGGING_CONFIG=None,  # the expected 500 need not print a traceback
        )
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def test_django_counts_per_url_pattern_method_and_status(django_wsgi: Any) -> None:
    registry = CollectorRegistry()
    app = instrument_wsgi(django_wsgi, registry=registry)
    with serve(app) as call:
        assert [call("GET", f"/items/{i}")[0] for i in (1, 22)] == [200, 200]
        assert call("GET", "/api/orders/a-1")[0] == 200
        assert call("GET", "/") == (200, b"home")
        assert call("DELETE", "/api/orders/b-2")[0] == 200
        assert call("GET", "/boom")[0] == 500
        assert call("GET", "/stream") == (200, b"0\n1\n2\n")
        for p in ("/nope/1", "/items/x"):
            assert call("GET", p)[0] == 404
        status, exposition = call("GET", "/metrics")
        assert status == 200

    assert counts(registry) == {
        ("/items/<int:pk>", "GET", "200"): 2,
        ("/", "GET", "200"): 1,
        ("/api/orders/<slug:code>", "GET", "200"): 1,
        ("/api/orders/<slug:code>", "DELETE", "200"): 1,
        ("/boom", "GET", "500"): 1,
        ("/stream", "GET", "200"): 1,
        ("unmatched", "GET", "404"): 2,
    }
    assert b'http_route="/items/<int:pk>"} 2.0' in exposition
