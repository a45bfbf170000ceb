"""The two OpenTelemetry HTTP server families every adapter records into.

twinlens reads the OTel HTTP semantic convention rather than inventing its own, so a
Python service instrumented here lands in the same series (and the same dashboards) as a
Go or Java service instrumented with an OTel SDK and exported to Prometheus:

- ``http_server_request_duration_seconds{http_route,http_request_method,
  http_response_status_code}``: histogram, OTel's recommended buckets, seconds;
- ``http_server_active_requests{http_request_method}``: gauge of requests in flight.

Every label is bounded: the route comes from the application's route table (never the raw
path; an unmatched request is :data:`UNMATCHED_ROUTE`), the method is one of
:data:`KNOWN_METHODS` or :data:`OTHER_METHOD`, and the status is a code 100-599 (anything
else is :data:`OTHER_STATUS`).

The hot path is one dict lookup for a cached label child plus ``observe()``; label
children are created once per (route, method, status).
"""

from __future__ import annotations

import threading
import weakref
from typing import Final

from prometheus_client import REGISTRY, CollectorRegistry, Gauge, Histogram

__all__ = [
    "DURATION_BUCKETS",
    "KNOWN_METHODS",
    "OTHER_METHOD",
    "OTHER_STATUS",
    "ROUTE_KEY",
    "UNMATCHED_ROUTE",
    "HttpServerMetrics",
    "http_server_metrics",
    "normalize_method",
    "status_label",
]

#: OTel semantic-convention buckets for ``http.server.request.duration``, in seconds.
DURATION_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)

#: The methods OTel names (RFC 9110 plus PATCH); matched case-sensitively, as HTTP does.
KNOWN_METHODS: Final = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)

#: ``http_request_method`` of any other method (OTel's value), so junk cannot add series.
OTHER_METHOD: Final = "_OTHER"

#: ``http_response_status_code`` of a status outside 100-599 (never sent by a sane server).
OTHER_STATUS: Final = "_OTHER"

#: ``http_route`` of a request no route matched (404s, scanners). Real templates start
#: with ``/``, so this can never collide with one.
UNMATCHED_ROUTE: Final = "unmatched"

#: WSGI environ / ASGI scope key an application (or our Flask and Django hooks) sets to
#: the matched route template; the WSGI and ASGI middlewares read it after the response.
ROUTE_KEY: Final = "twinlens.route"

_DURATION_NAME: Final = "http_server_request_duration_seconds"
_ACTIVE_NAME: Final = "http_server_active_requests"


def normalize_method(method: str) -> str:
    """The ``http_request_method`` label: the method if known, else ``_OTHER``.

    >>> normalize_method("GET"), normalize_method("get"), normalize_method("PROPFIND")
    ('GET', '_OTHER', '_OTHER')
    """
    return method if method in KNOWN_METHODS else OTHER_METHOD


def status_label(status: int) -> str:
    """The ``http_response_status_code`` label: the code as a number string.

    >>> status_label(404), status_label(1000)
    ('404', '_OTHER')
    """
    return str(status) if 100 <= status <= 599 else OTHER_STATUS


class HttpServerMetrics:
    """Both families on one registry, with their label children cached.

    Get one with :func:`http_server_metrics` (one per registry), not by calling the class:
    registering the same names twice on a registry is an error.

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> http_server_metrics(registry).observe("/items/{id}", "GET", 200, 0.012)
    >>> registry.get_sample_value(
    ...     "http_server_request_duration_seconds_count",
    ...     {"http_route": "/items/{id}", "http_request_method": "GET",
    ...      "http_response_status_code": "200"},
    ... )
    1.0
    """

    __slots__ = ("_active_children", "_children", "active", "duration")

    def __init__(self, registry: CollectorRegistry) -> None:
        try:
            self.duration = Histogram(
                _DURATION_NAME,
                "Duration of HTTP server requests, by matched route template, method and "
                "response status (OpenTelemetry http.server.request.duration).",
                ("http_route", "http_request_method", "http_response_status_code"),
                buckets=DURATION_BUCKETS,
                registry=registry,
            )
            self.active = Gauge(
                _ACTIVE_NAME,
                "HTTP server requests in flight, by method "
                "(OpenTelemetry http.server.active_requests).",
                ("http_request_method",),
                registry=registry,
                # Under prometheus_client's multiprocess mode (gunicorn workers) the
                # in-flight count is the sum over live workers; no effect otherwise.
                multiprocess_mode="livesum",
            )
        except ValueError as exc:
            raise ValueError(
                f"cannot register {_DURATION_NAME} / {_ACTIVE_NAME}: something other than "
                f"twinlens.middleware already registered them on this registry ({exc})"
            ) from exc
        # (route, method label, status int) -> histogram child; method label -> gauge child
        self._children: dict[tuple[str, str, int], Histogram] = {}
        self._active_children: dict[str, Gauge] = {}

    def active_for(self, method: str) -> Gauge:
        """The in-flight gauge child of a *normalized* method (see :func:`normalize_method`)."""
        child = self._active_children.get(method)
        if child is None:
            child = self._active_children[method] = self.active.labels(method)
        return child

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Record one finished request; ``method`` already normalized, ``route`` bounded."""
        key = (route, method, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.duration.labels(route, method, status_label(status))
        child.observe(seconds)


_lock = threading.Lock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, HttpServerMetrics] = (
    weakref.WeakKeyDictionary()
)


def http_server_metrics(registry: CollectorRegistry | None = None) -> HttpServerMetrics:
    """The :class:`HttpServerMetrics` of ``registry`` (default: prometheus_client's REGISTRY).

    Several middlewares in one process (an ASGI app and a WSGI app, or two aiohttp
    sub-apps) share one set of families per registry instead of failing on duplicates.
    """
    target = REGISTRY if registry is None else registry
    with _lock:
        metrics = _by_registry.get(target)
        if metrics is None:
            metrics = _by_registry[target] = HttpServerMetrics(target)
        return metrics
