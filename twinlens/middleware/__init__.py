"""Per-route backend API metrics for Python web apps, in the OpenTelemetry convention.

One line per framework records ``http_server_request_duration_seconds`` (histogram) and
``http_server_active_requests`` (gauge) with ``http_route`` from the framework's matched
route template, and serves them on ``/metrics``::

    from twinlens.middleware import instrument_aiohttp, instrument_flask, instrument_starlette

    app = instrument_starlette(Starlette(routes=routes))  # Starlette / FastAPI (ASGI)
    app = instrument_aiohttp(web.Application())          # aiohttp
    app = instrument_flask(Flask(__name__))              # Flask (WSGI)

Django: ``"twinlens.middleware.DjangoRouteMiddleware"`` in ``MIDDLEWARE`` and
``application = instrument_wsgi(get_wsgi_application())``. Every helper takes
``registry=`` (default: prometheus_client's ``REGISTRY``) and ``metrics_path=`` (default
``/metrics``; ``None`` to serve nothing).

Importing this package imports no web framework; each adapter imports its own when used.
"""

from twinlens.middleware._aiohttp import aiohttp_middleware, instrument_aiohttp
from twinlens.middleware._asgi import ASGIMetricsMiddleware, MetricsASGIApp, instrument_starlette
from twinlens.middleware._metrics import (
    DURATION_BUCKETS,
    KNOWN_METHODS,
    OTHER_METHOD,
    OTHER_STATUS,
    ROUTE_KEY,
    UNMATCHED_ROUTE,
    HttpServerMetrics,
    http_server_metrics,
    normalize_method,
)
from twinlens.middleware._wsgi import (
    DjangoRouteMiddleware,
    WSGIMetricsMiddleware,
    instrument_flask,
    instrument_wsgi,
)

__all__ = [
    "DURATION_BUCKETS",
    "KNOWN_METHODS",
    "OTHER_METHOD",
    "OTHER_STATUS",
    "ROUTE_KEY",
    "UNMATCHED_ROUTE",
    "ASGIMetricsMiddleware",
    "DjangoRouteMiddleware",
    "HttpServerMetrics",
    "MetricsASGIApp",
    "WSGIMetricsMiddleware",
    "aiohttp_middleware",
    "http_server_metrics",
    "instrument_aiohttp",
    "instrument_flask",
    "instrument_starlette",
    "instrument_wsgi",
    "normalize_method",
]
