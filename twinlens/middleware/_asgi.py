"""ASGI adapter: Starlette, FastAPI, or any ASGI app that says which route matched.

A pure ASGI middleware (not Starlette's ``BaseHTTPMiddleware``, which costs a task and
a queue per request): it wraps ``send`` to see the status, and after the response reads
the matched route from the scope, where the framework's router left it:

- ``scope["twinlens.route"]`` (:data:`ROUTE_KEY`) if the app set it (a string);
- else ``scope["route"]``, the route object Starlette's (and so FastAPI's) router stores,
  turned into its full template, mount prefixes included (``/api/items/{id}``), once per
  route object;
- else :data:`UNMATCHED_ROUTE`.

Nothing here imports Starlette: the route objects are read by duck typing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import REGISTRY, CollectorRegistry, make_asgi_app

from twinlens.middleware._metrics import (
    ROUTE_KEY,
    UNMATCHED_ROUTE,
    http_server_metrics,
    normalize_method,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["ASGIMetricsMiddleware", "MetricsASGIApp", "instrument_starlette"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Status recorded when the client went away (the request task was cancelled) before any
#: response started: nginx's "client closed request", so it is not counted as a 5xx.
CLIENT_CLOSED: Final = 499

# Mounts nest rarely more than two or three deep; the bound only guards against cycles.
_MAX_MOUNT_DEPTH: Final = 16


class MetricsASGIApp:
    """An ASGI app serving ``registry`` in the Prometheus text format.

    A class instance rather than a function so Starlette's ``Route`` treats it as an ASGI
    app, not as a request handler:
    ``Starlette(routes=[Route("/metrics", MetricsASGIApp(registry))])``.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._app = make_asgi_app(REGISTRY if registry is None else registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


class ASGIMetricsMiddleware:
    """Record every HTTP request of an ASGI app by route template, method and status.

    ``metrics_path`` (default ``/metrics``; ``None`` to disable) is answered here with the
    registry's exposition and not counted, so adding the middleware also mounts
    ``/metrics``. Example, for any Starlette or FastAPI app::

        app.add_middleware(ASGIMetricsMiddleware)            # default REGISTRY
        app = ASGIMetricsMiddleware(app, registry=registry)  # or wrap, own registry
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        registry: CollectorRegistry | None = None,
        metrics_path: str | None = "/metrics",
    ) -> None:
        self.app = app
        self._metrics = http_server_metrics(registry)
        self._metrics_path = metrics_path
        self._metrics_app = MetricsASGIApp(registry)
        # id(route object) -> (route object, label); the object is kept so an id is
        # never reused for another route while cached.
        self._labels: dict[int, tuple[object, str]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == self._metrics_path:
            await self._metrics_app(scope, receive, send)
            return
        metrics = self._metrics
        method = normalize_method(scope["method"])
        active = metrics.active_for(method)
        status = 0

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        active.inc()
        start = perf_counter()
        try:
            await self.app(scope, receive, send_and_note_status)
        except asyncio.CancelledError:
            status = status or CLIENT_CLOSED
            raise
        finally:
            elapsed = perf_counter() - start
            active.dec()
            # No response started (an exception, or an app that never answered): the
            # server sends 500, so that is what the client saw.
            metrics.observe(self._route_label(scope), method, status or 500, elapsed)

    def _route_label(self, scope: Scope) -> str:
        explicit = scope.get(ROUTE_KEY)
        if isinstance(explicit, str):
            return explicit
        route = scope.get("route")
        if route is None:
            return UNMATCHED_ROUTE
        cached = self._labels.get(id(route))
        if cached is not None and cached[0] is route:
            return cached[1]
        label = route_template(scope.get("router"), route)
        self._labels[id(route)] = (route, label)
        return label


def route_template(router: object, route: object) -> str:
    """The full template of a Starlette route object, mount prefixes included.

    ``router`` is the outermost router (``scope["router"]``); its tree is walked to find
    the mounts above ``route``. A Mount left as the final route means the router inside it
    matched nothing: that request is unmatched, not ``/prefix/{path}``.

    >>> from starlette.routing import Mount, Route, Router
    >>> inner = Route("/items/{id:int}", lambda r: None)
    >>> route_template(Router([Mount("/api", routes=[inner])]), inner)
    '/api/items/{id}'
    """
    if getattr(route, "routes", None):
        return UNMATCHED_ROUTE
    found = _find(getattr(router, "routes", None) or (), route, "", 0)
    if found is not None:
        return found
    own = _own_template(route)
    return own if own is not None else UNMATCHED_ROUTE


def _find(routes: Iterable[object], target: object, prefix: str, depth: int) -> str | None:
    if depth > _MAX_MOUNT_DEPTH:
        return None
    for candidate in routes:
        if candidate is target:
            own = _own_template(candidate)
            return None if own is None else prefix + own
        children = getattr(candidate, "routes", None)
        if children:
            # A Mount's path_format is "/prefix/{path}"; a Host has none (adds no prefix).
            mount_format = getattr(candidate, "path_format", "")
            sub_prefix = prefix + mount_format.removesuffix("/{path}")
            found = _find(children, target, sub_prefix, depth + 1)
            if found is not None:
                return found
    return None


def _own_template(route: object) -> str | None:
    # path_format drops convertors ("/items/{id:int}" -> "/items/{id}").
    template = getattr(route, "path_format", None)
    if not isinstance(template, str):
        template = getattr(route, "path", None)
    return template if isinstance(template, str) else None


def instrument_starlette(
    app: Starlette,
    *,
    registry: CollectorRegistry | None = None,
    metrics_path: str | None = "/metrics",
) -> Starlette:
    """Add :class:`ASGIMetricsMiddleware` (and ``metrics_path``) to a Starlette/FastAPI app.

    The one line a service adds before it starts::

        app = instrument_starlette(Starlette(routes=[...]))
    """
    app.add_middleware(ASGIMetricsMiddleware, registry=registry, metrics_path=metrics_path)
    return app
