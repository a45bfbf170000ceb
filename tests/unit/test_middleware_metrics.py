"""The shared families: names, buckets, label normalisation, one set per registry."""

from __future__ import annotations

import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, Histogram
from starlette.routing import Host, Mount, Route, Router

from twinlens.middleware import (
    DURATION_BUCKETS,
    OTHER_METHOD,
    UNMATCHED_ROUTE,
    http_server_metrics,
    normalize_method,
)
from twinlens.middleware._asgi import route_template
from twinlens.middleware._metrics import status_label


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("GET", "GET"),
        ("HEAD", "HEAD"),
        ("POST", "POST"),
        ("PUT", "PUT"),
        ("PATCH", "PATCH"),
        ("DELETE", "DELETE"),
        ("OPTIONS", "OPTIONS"),
        ("TRACE", "TRACE"),
        ("CONNECT", "CONNECT"),
        ("get", OTHER_METHOD),  # methods are case-sensitive (RFC 9110)
        ("PROPFIND", OTHER_METHOD),
        ("", OTHER_METHOD),
        ("X" * 10_000, OTHER_METHOD),
    ],
)
def test_method_is_known_or_other(raw: str, label: str) -> None:
    assert normalize_method(raw) == label


@pytest.mark.parametrize(
    ("status", "label"),
    [(100, "100"), (200, "200"), (404, "404"), (599, "599"), (99, "_OTHER"), (600, "_OTHER")],
)
def test_status_is_a_code_or_other(status: int, label: str) -> None:
    assert status_label(status) == label


def test_families_follow_the_otel_convention() -> None:
    registry = CollectorRegistry()
    metrics = http_server_metrics(registry)
    metrics.observe("/items/{id}", "GET", 200, 0.07)
    metrics.observe("/items/{id}", "GET", 200, 12.0)
    metrics.active_for("POST").inc()
    labels = {
        "http_route": "/items/{id}",
        "http_request_method": "GET",
        "http_response_status_code": "200",
    }
    sample = registry.get_sample_value
    assert DURATION_BUCKETS == (
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
    )  # fmt: skip
    assert sample("http_server_request_duration_seconds_bucket", {**labels, "le": "0.05"}) == 0
    assert sample("http_server_request_duration_seconds_bucket", {**labels, "le": "0.075"}) == 1
    assert sample("http_server_request_duration_seconds_bucket", {**labels, "le": "10.0"}) == 1
    assert sample("http_server_request_duration_seconds_bucket", {**labels, "le": "+Inf"}) == 2
    assert sample("http_server_request_duration_seconds_count", labels) == 2
    assert sample("http_server_request_duration_seconds_sum", labels) == pytest.approx(12.07)
    assert sample("http_server_active_requests", {"http_request_method": "POST"}) == 1


def test_one_set_of_families_per_registry() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    assert http_server_metrics(first) is http_server_metrics(first)
    assert http_server_metrics(first) is not http_server_metrics(second)


def test_a_foreign_family_of_the_same_name_is_a_clear_error() -> None:
    registry = CollectorRegistry()
    Histogram("http_server_request_duration_seconds", "someone else's", registry=registry)
    with pytest.raises(ValueError, match="already registered them on this registry"):
        http_server_metrics(registry)


async def _endpoint(request: object) -> None:
    return None


def test_route_template_includes_mount_prefixes_and_drops_convertors() -> None:
    item = Route("/items/{id:int}", _endpoint)
    order = Route("/orders/{code}", _endpoint)
    deep = Route("/{tenant}/report", _endpoint)
    static = Mount("/static", app=Router([]))
    shop = Mount("/shop", routes=[Mount("/v1", routes=[order]), Host("api.local", Router([deep]))])
    router = Router([item, shop, static])
    assert route_template(router, item) == "/items/{id}"
    assert route_template(router, order) == "/shop/v1/orders/{code}"
    assert route_template(router, deep) == "/shop/{tenant}/report"
    # A mount whose inner router matched nothing stays the route: unmatched, not a template.
    assert route_template(router, shop) == UNMATCHED_ROUTE
    # A mount of a plain app (static files) is itself the matched route.
    assert route_template(router, static) == "/static/{path}"
    # A route the tree does not hold (added elsewhere) still gives its own template.
    assert route_template(router, Route("/other/{x}", _endpoint)) == "/other/{x}"


def test_importing_the_package_imports_no_web_framework() -> None:
    code = (
        "import sys, twinlens.middleware; "
        "print(sorted(m for m in ('aiohttp', 'starlette', 'flask', 'werkzeug', 'django') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
