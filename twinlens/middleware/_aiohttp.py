"""aiohttp adapter: a ``web.middleware`` reading the resource aiohttp already matched.

aiohttp resolves the route before middlewares run, so the template is
``request.match_info.route.resource.canonical`` (``/items/{id}``, sub-app prefixes
included); a request that matched nothing (404, and 405 where aiohttp reports no
resource) is :data:`UNMATCHED_ROUTE`.

The duration runs from the middleware to the handler's return; sending a plain
``web.Response`` body happens after it (a streaming handler writes inside it).
"""

from __future__ import annotations

import asyncio
from time import perf_counter
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry

from twinlens.middleware._metrics import UNMATCHED_ROUTE, http_server_metrics, normalize_method

if TYPE_CHECKING:
    from aiohttp import web
    from aiohttp.typedefs import Handler, Middleware

__all__ = ["aiohttp_middleware", "instrument_aiohttp"]

_CLIENT_CLOSED = 499  # as in the ASGI adapter: cancelled before answering


def aiohttp_middleware(
    registry: CollectorRegistry | None = None, *, skip_route: str | None = None
) -> Middleware:
    """A middleware recording every request by route template, method and status.

    ``skip_route`` names a route template not to count (the ``/metrics`` route that
    :func:`instrument_aiohttp` adds). Example::

        app = web.Application(middlewares=[aiohttp_middleware()])
    """
    from aiohttp import web

    metrics = http_server_metrics(registry)

    @web.middleware
    async def twinlens_http_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = UNMATCHED_ROUTE if resource is None else resource.canonical
        if route == skip_route:
            return await handler(request)
        method = normalize_method(request.method)
        active = metrics.active_for(method)
        status = 500  # an exception that is not an HTTPException becomes a 500
        active.inc()
        start = perf_counter()
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = _CLIENT_CLOSED
            raise
        finally:
            elapsed = perf_counter() - start
            active.dec()
            metrics.observe(route, method, status, elapsed)

    return twinlens_http_metrics


def instrument_aiohttp(
    app: web.Application,
    *,
    registry: CollectorRegistry | None = None,
    metrics_path: str | None = "/metrics",
) -> web.Application:
    """Add :func:`aiohttp_middleware` and a ``GET metrics_path`` route to ``app``.

    The one line a service adds before it starts (the metrics route is not counted)::

        app = instrument_aiohttp(web.Application())
    """
    from prometheus_client.aiohttp import make_aiohttp_handler

    app.middlewares.append(aiohttp_middleware(registry, skip_route=metrics_path))
    if metrics_path is not None:
        handler = make_aiohttp_handler(REGISTRY if registry is None else registry)
        app.router.add_get(metrics_path, handler)
    return app
