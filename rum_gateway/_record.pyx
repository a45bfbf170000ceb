# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The beacon → metrics step compiled: ``to_observations`` then ``RumMetrics.record``
in one pass, with no intermediate records (see :mod:`rum_gateway.ingest`).

It does exactly what the two Python functions do, in the same order and with the same
float arithmetic, so both give the same exposition to the last bit (the unit tests drive
both with the same beacons and compare). Only the common case is here: a cached route,
a label value already let through its cap, an existing label combination. Anything
else (a new route, an overflow, a new combination, an error, a refused series) calls the
Python code that owns it.
"""

from cpython.array cimport array
from cpython.dict cimport PyDict_GetItem
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_Check
from cpython.object cimport PyObject

from msgspec.structs import astuple

from rum_gateway import dimensions, observations

cdef dict NAV_LABELS = observations._NAV_LABELS
cdef dict METHOD_LABELS = observations._METHOD_LABELS
cdef dict STATUS_CLASSES = dimensions._STATUS_CLASSES
cdef frozenset ERROR_KINDS = observations.ERROR_KINDS

DEF MAX_BOUNDS = 16

cdef inline Py_ssize_t _bucket(const double* bounds, Py_ssize_t n, double value):
    """``bisect_left(bounds, value)``: how many bounds are below ``value``."""
    cdef Py_ssize_t i = 0
    while i < n and bounds[i] < value:
        i += 1
    return i


cdef inline object _get(object mapping, object key):
    """``mapping.get(key)`` for a dict or a subclass (OrderedDict) that does not
    override lookups."""
    cdef PyObject* found = PyDict_GetItem(mapping, key)
    return None if found is NULL else <object>found


cdef inline double _as_double(object value):
    return PyFloat_AS_DOUBLE(value) if PyFloat_Check(value) else <double>value


cdef class Recorder:
    """Records accepted beacons into one :class:`~rum_gateway.metrics.RumMetrics`."""

    cdef object metrics
    cdef object combos  # RumMetrics._combos: label combination -> _Combo
    cdef dict route_caps, api_route_caps, beacons, api_children
    cdef object country_cap, api, errors, budget
    cdef set country_seen
    cdef Py_ssize_t n_vitals, size, n_api
    cdef Py_ssize_t offsets[8]
    cdef Py_ssize_t n_bounds[8]
    cdef double bounds[8][MAX_BOUNDS]
    cdef double api_bounds[MAX_BOUNDS]

    def __init__(self, metrics):
        layout = metrics._layout
        if len(layout.offsets) > 8 or any(len(b) > MAX_BOUNDS for b in layout.bounds):
            raise ValueError("more vitals or buckets than the compiled recorder holds")
        if len(metrics._api_bounds) > MAX_BOUNDS:
            raise ValueError("more API buckets than the compiled recorder holds")
        self.metrics = metrics
        self.combos = metrics._combos
        self.route_caps = metrics.route_caps
        self.api_route_caps = metrics.api_route_caps
        self.beacons = metrics.beacons.children
        self.country_cap = metrics.country_cap
        self.country_seen = metrics.country_cap.seen
        self.api = metrics.api
        self.api_children = metrics.api.children
        self.errors = metrics.errors
        self.budget = metrics.budget
        self.size = layout.size
        self.n_vitals = len(layout.offsets)
        for i, (offset, bounds) in enumerate(layout.record):
            self.offsets[i] = offset
            self.n_bounds[i] = len(bounds)
            for j, bound in enumerate(bounds):
                self.bounds[i][j] = bound
        self.n_api = len(metrics._api_bounds)
        for j, bound in enumerate(metrics._api_bounds):
            self.api_bounds[j] = bound

    def record(self, beacon, app, str device, str browser, str country, str region,
               str connection):
        """Record one value-checked ``beacon`` of ``app`` (its ``_AppRuntime``) from a
        client with these dimensions."""
        cdef object metrics = self.metrics
        cdef str name = app.name
        cdef list child
        cdef array acc
        cdef double* slots
        cdef double weight = 1.0 / _as_double(beacon.sr)
        cdef double value
        cdef Py_ssize_t i, offset
        child = self.beacons[(name,)]
        child[0] += 1.0
        routes = self.route_caps[name]
        cdef set route_seen = routes.seen
        if country not in self.country_seen:
            country = self.country_cap(country)
        resolver = app.routes
        route_cache = resolver._cache
        api_calls = app.api_calls
        api_cache = api_calls._cache
        api_routes = None
        cdef set api_seen = None
        combos = self.combos
        for view in beacon.views:
            nav = _get(NAV_LABELS, view.nav)
            if nav is None:
                nav = "other"
            sdk_route = view.route
            route = _get(route_cache, view.path) if sdk_route is None else None
            if route is None:
                route = resolver(view.path, sdk_route)
            if route not in route_seen:
                route = routes(route)
            labels = (name, route, nav, device, browser, country, region, connection)
            combo = _get(combos, labels)
            if combo is None:
                combo = metrics._new_combo(labels)
            if not combo.dirty:
                combo.dirty = True
                metrics._mark_dirty(combo)
            acc = combo.acc
            slots = acc.data.as_doubles
            if view.pv:
                slots[self.size - 2] += weight
                slots[self.size - 1] += 1.0
            vitals = view.vitals
            if vitals is not None:
                values = astuple(vitals)  # in VITALS order, as the layout is
                for i in range(self.n_vitals):
                    item = values[i]
                    if item is not None:
                        value = _as_double(item)
                        offset = self.offsets[i]
                        slots[offset] += value
                        slots[offset + _bucket(self.bounds[i], self.n_bounds[i], value) + 1] += 1.0
            if view.errors:
                for error in view.errors:
                    kind = error.kind if error.kind in ERROR_KINDS else "other"
                    self.errors.inc((name, route, kind), weight)
        # API calls after every view, as record() has them (a flush of an evicted
        # combination above may take series from the budget first)
        for view in beacon.views:
            if view.api:
                if api_seen is None:
                    api_routes = self.api_route_caps[name]
                    api_seen = api_routes.seen
                self._record_api(view.api, name, api_calls, api_cache, api_routes, api_seen)
        if self.budget.dropped:
            metrics._count_dropped()

    cdef _record_api(self, list calls, str name, api_calls, api_cache, api_routes,
                     set api_seen):
        cdef list counts
        cdef double ms
        for call in calls:
            api_route = _get(api_cache, call.path)
            if api_route is None:
                api_route = api_calls(call.path, call.method, call.status)[0]
            method = _get(METHOD_LABELS, call.method)
            if method is None:
                method = METHOD_LABELS.get(call.method.upper(), "other")
            status = _get(STATUS_CLASSES, call.status)
            if status is None:
                status = "error"
            if api_route not in api_seen:
                api_route = api_routes(api_route)
            key = (name, api_route, method, status)
            ms = _as_double(call.ms)
            counts = _get(self.api_children, key)
            if counts is None:
                self.api.observe(key, ms)  # creates the child, or counts the drop
            else:
                counts[0] += ms / 1000.0
                counts[_bucket(self.api_bounds, self.n_api, ms) + 1] += 1.0
