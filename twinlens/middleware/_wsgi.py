"""WSGI adapter: Flask, Django, or any WSGI app that says which route matched.

A WSGI app's router runs inside the app, so the route travels back in the environ: a
framework hook sets ``environ["twinlens.route"]`` (:data:`ROUTE_KEY`) and
:class:`WSGIMetricsMiddleware` reads it when the response is done (a request without it
is :data:`UNMATCHED_ROUTE`). The hooks:

- Flask: :func:`instrument_flask` adds a first URL value preprocessor (called right after
  routing, directly, for every request) storing ``request.url_rule.rule``
  (``/items/<int:item_id>``), and wraps ``app.wsgi_app``;
- Django: :class:`DjangoRouteMiddleware` in ``MIDDLEWARE`` stores
  ``"/" + request.resolver_match.route`` (``/items/<int:pk>``); under WSGI Django's
  ``request.META`` *is* the environ.

The request is timed until the server closes the response iterable (PEP 3333 servers
always call ``close()``), so a streamed body is included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, cast

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app

from twinlens.middleware._metrics import (
    ROUTE_KEY,
    UNMATCHED_ROUTE,
    HttpServerMetrics,
    http_server_metrics,
    normalize_method,
)

if TYPE_CHECKING:
    from flask import Flask
    from prometheus_client import Gauge

__all__ = [
    "DjangoRouteMiddleware",
    "WSGIMetricsMiddleware",
    "instrument_flask",
    "instrument_wsgi",
]

Environ = dict[str, Any]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class WSGIMetricsMiddleware:
    """Record every request of a WSGI app by route template, method and status.

    ``metrics_path`` (default ``/metrics``; ``None`` to disable) is answered here with the
    registry's exposition and not counted. Example (Django's ``wsgi.py``)::

        application = WSGIMetricsMiddleware(get_wsgi_application())
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        registry: CollectorRegistry | None = None,
        metrics_path: str | None = "/metrics",
    ) -> None:
        self.app = app
        self._metrics = http_server_metrics(registry)
        self._metrics_path = metrics_path
        self._metrics_app: WSGIApp = make_wsgi_app(REGISTRY if registry is None else registry)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == self._metrics_path:
            return self._metrics_app(environ, start_response)
        exchange = _Exchange(self._metrics, environ, start_response)
        try:
            body = self.app(environ, exchange.start_response)
        except BaseException:
            exchange.finish()
            raise
        if isinstance(body, list | tuple):
            # Already rendered (the common case): no need to wrap the iterable.
            exchange.finish()
            return body
        exchange.body = body
        return exchange


class _Exchange:
    """One request in flight: its status, and the response iterable the server drains.

    Recorded once: when the server closes the body, or when the app raised.
    """

    __slots__ = ("active", "body", "environ", "method", "metrics", "start", "status", "upstream")

    def __init__(
        self, metrics: HttpServerMetrics, environ: Environ, upstream: StartResponse
    ) -> None:
        self.metrics = metrics
        self.environ = environ
        self.upstream = upstream
        self.method = normalize_method(environ.get("REQUEST_METHOD", ""))
        self.active: Gauge | None = metrics.active_for(self.method)
        self.status = 0
        self.body: Iterable[bytes] = ()
        self.active.inc()
        self.start = perf_counter()

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], object]:
        try:
            self.status = int(status[:3])
        except ValueError:
            self.status = 0  # malformed: recorded as 500 below, what a server would send
        if exc_info is None:
            return self.upstream(status, headers)
        return self.upstream(status, headers, exc_info)

    def finish(self) -> None:
        active = self.active
        if active is None:
            return  # already recorded
        self.active = None
        elapsed = perf_counter() - self.start
        active.dec()
        route = self.environ.get(ROUTE_KEY)
        if not isinstance(route, str):
            route = UNMATCHED_ROUTE
        self.metrics.observe(route, self.method, self.status or 500, elapsed)

    def __iter__(self) -> Iterator[bytes]:
        # No wrapping generator: chunks pass untouched; close() ends the timing.
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.finish()


def instrument_wsgi(
    app: WSGIApp,
    *,
    registry: CollectorRegistry | None = None,
    metrics_path: str | None = "/metrics",
) -> WSGIMetricsMiddleware:
    """Wrap any WSGI app; for Django also add :class:`DjangoRouteMiddleware`.

    ::

        application = instrument_wsgi(get_wsgi_application())
    """
    return WSGIMetricsMiddleware(app, registry=registry, metrics_path=metrics_path)


def instrument_flask(
    app: Flask,
    *,
    registry: CollectorRegistry | None = None,
    metrics_path: str | None = "/metrics",
) -> Flask:
    """Record a Flask app's requests by ``url_rule`` and serve ``metrics_path``.

    Wraps ``app.wsgi_app`` (so Flask's own error handling sits inside). The one line a
    Flask service adds::

        app = instrument_flask(Flask(__name__))
    """
    from flask import request

    def note_route(endpoint: str | None, values: dict[str, Any] | None) -> None:
        if endpoint is None:
            return  # no rule matched (404, 405)
        # One proxy lookup, not one per attribute: this runs on every request.
        current = cast(Any, request)._get_current_object()  # typed as Request, is a proxy
        rule = current.url_rule
        if rule is not None:
            current.environ[ROUTE_KEY] = rule.rule

    # A URL value preprocessor rather than before_request: Flask calls these directly
    # (no ensure_sync), first, and for every request of every blueprint.
    app.url_value_preprocessors.setdefault(None, []).insert(0, note_route)
    app.wsgi_app = WSGIMetricsMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, registry=registry, metrics_path=metrics_path
    )
    return app


class _DjangoRequest(Protocol):
    META: dict[str, Any]
    resolver_match: Any


class DjangoRouteMiddleware:
    """Django middleware storing the matched URL pattern for the twinlens middleware.

    Django resolves the URL before ``process_view``; ``resolver_match.route`` is the
    joined pattern of all ``include()`` levels (``api/items/<int:pk>``). Add it to
    ``MIDDLEWARE`` and wrap the WSGI application::

        MIDDLEWARE = ["twinlens.middleware.DjangoRouteMiddleware", ...]
        application = instrument_wsgi(get_wsgi_application())
    """

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        return self.get_response(request)

    def process_view(
        self,
        request: _DjangoRequest,
        view_func: object,
        view_args: object,
        view_kwargs: object,
    ) -> None:
        route = getattr(request.resolver_match, "route", None)
        if not isinstance(route, str):
            return
        # "" is the root pattern path(""): a route, "/", not unmatched.
        label = route if route.startswith("/") else "/" + route.removeprefix("^")
        request.META[ROUTE_KEY] = label
