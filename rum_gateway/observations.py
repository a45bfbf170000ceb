"""``beacon → observations``: the pure core of the gateway.

Given a decoded, value-checked beacon and the app's route resolvers, say what is to be
recorded: per view its route, navigation type, page-view weight (1/sr), vitals and
errors; per API call its route, method and status class. No I/O, no metrics, no clock,
so it is table-tested on its own::

    >>> from rum_gateway.dimensions import RouteResolver, RouteTemplates
    >>> from rum_gateway.schema import decode_beacon
    >>> b = decode_beacon(b'{"v":1,"app":"shop","sr":0.5,"views":[{"path":"/p/42",'
    ...                   b'"pv":true,"vitals":{"LCP":2480.5}}]}')
    >>> none = RouteTemplates([])
    >>> obs = to_observations(b, RouteResolver(none), ApiCallLabels(none))
    >>> view = obs.views[0]
    >>> view.route, view.nav_type, view.page_views, view.vitals, view.errors
    ('/p/{id}', 'navigate', 2.0, (2480.5, None, None, None, None), [])

Label values that come straight from the beacon (``nav``, ``kind``, ``method``,
``conn``) are mapped onto fixed sets here; routes are capped per app later, in
:class:`rum_gateway.metrics.RumMetrics`.
"""

from __future__ import annotations

from msgspec.structs import astuple

from rum_gateway.dimensions import BoundedCache, RouteResolver, RouteTemplates, status_class
from rum_gateway.metrics import ApiObs, Observations, ViewObs
from rum_gateway.schema import Beacon

__all__ = [
    "CONNECTIONS",
    "ERROR_KINDS",
    "METHODS",
    "NAV_TYPES",
    "ApiCallLabels",
    "connection_of",
    "to_observations",
]

#: ``nav_type`` values: the Navigation Timing types web-vitals reports, ``soft`` for SPA
#: route changes, and ``other`` for anything a future SDK may send.
NAV_TYPES = frozenset(
    {"navigate", "reload", "back_forward", "back_forward_cache", "prerender", "restore", "soft"}
)
#: ``kind`` values of ``rum_errors_total`` (anything else is ``other``).
ERROR_KINDS = frozenset({"error", "unhandledrejection", "resource", "csp"})
# each nav_type value as one shared object: label tuples built from it hash and compare
# without reading the string (a decoded beacon's strings are new objects every time)
_NAV_LABELS = {nav: nav for nav in NAV_TYPES}
#: ``method`` values of ``rum_api_request_duration_seconds`` (anything else is ``other``).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: ``connection`` values (Network Information API ``effectiveType``), else ``unknown``.
CONNECTIONS = frozenset({"slow-2g", "2g", "3g", "4g"})


_CONNECTION_LABELS = {c: c for c in CONNECTIONS}


def connection_of(conn: str | None) -> str:
    """The ``connection`` label (the shared string: label tuples compare by identity)."""
    return _CONNECTION_LABELS.get(conn, "unknown") if conn else "unknown"


class ApiCallLabels:
    """An API call's ``(path, method, status)`` → its ``(api_route, method, status_class)``
    labels, for one app's ``api_routes`` templates.

    Pages repeat the same few calls, so routes are cached by path; a flood of new paths
    costs one resolution each and never more than ``cache_size`` entries.

    >>> ApiCallLabels(RouteTemplates([]))("https://api.example.com/v1/u/9?q=1", "post", 503)
    ('/v1/u/{id}', 'POST', '5xx')
    """

    __slots__ = ("_cache", "_routes")

    def __init__(self, templates: RouteTemplates, cache_size: int = 16_384) -> None:
        self._routes = RouteResolver(templates, cache_size=1)  # its .resolve only
        self._cache: BoundedCache[str, str] = BoundedCache(cache_size)  # path → api_route

    def __call__(self, path: str, method: str, status: int) -> tuple[str, str, str]:
        route = self._cache.get(path)
        if route is None:
            route = self._cache[path] = self._routes.resolve(path, None)
        label = _METHOD_LABELS.get(method) or _METHOD_LABELS.get(method.upper(), "other")
        return (route, label, status_class(status))


#: ``method`` values as sent (upper case) → the shared label string
_METHOD_LABELS = {m: m for m in METHODS}


def to_observations(
    beacon: Beacon, routes: RouteResolver, api_calls: ApiCallLabels, app: str | None = None
) -> Observations:
    """What ``beacon`` records; its values must already have passed ``check_values``.
    ``app`` is the configured name equal to ``beacon.app``, to be used in its stead (one
    shared string, where each decoded beacon has a new one)."""
    weight = 1.0 / beacon.sr
    views = []
    api = []
    for view in beacon.views:
        nav = _NAV_LABELS.get(view.nav, "other")
        # msgspec has already made every number a float, and the fields are in VITALS order
        vitals = astuple(view.vitals) if view.vitals is not None else ()
        errors = (
            [(e.kind if e.kind in ERROR_KINDS else "other", weight) for e in view.errors]
            if view.errors
            else []
        )
        views.append(
            ViewObs(routes(view.path, view.route), nav, weight if view.pv else 0.0, vitals, errors)
        )
        for call in view.api:
            api_route, method, status = api_calls(call.path, call.method, call.status)
            api.append(ApiObs(api_route, method, status, call.ms))
    return Observations(app or beacon.app, views, api)
