# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The beacon path's two hot steps compiled (see :mod:`rum_gateway.ingest`):
:class:`RequestReader` (headers → facts, client place) and :class:`Recorder`
(``to_observations`` then ``RumMetrics.record`` in one pass, no intermediate records).

Each does exactly what the Python code it replaces does, in the same order and with the
same float arithmetic, so both give the same answers and the same exposition to the last
bit (the unit tests drive both with the same input and compare). Only the common case is
here: cached header facts and client places, a cached route, a label value already let
through its cap, an existing label combination. Anything else (a new header combination
or client, a new route, an overflow, a new combination, an error, a refused series)
calls the Python code that owns it.
"""

from cpython.array cimport array
from cpython.dict cimport PyDict_GetItem
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_Check
from cpython.object cimport PyObject

from msgspec.structs import astuple

from rum_gateway import dimensions, observations, schema

cdef dict NAV_LABELS = observations._NAV_LABELS
cdef dict METHOD_LABELS = observations._METHOD_LABELS
cdef dict STATUS_CLASSES = dimensions._STATUS_CLASSES
cdef frozenset ERROR_KINDS = observations.ERROR_KINDS
cdef dict CONNECTION_LABELS = observations._CONNECTION_LABELS
cdef object DECODE = schema._decoder.decode

cdef enum:
    MAX_BOUNDS = 16  # buckets per histogram the recorder holds
    # RequestReader's header slots: the seven of the facts key, then these
    N_FACTS = 7
    F_XFF = 7
    F_LENGTH = 8
    F_COUNTRY = 9

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
    cdef object slow  # the Python accept, for anything accept() does not handle
    cdef object combos  # RumMetrics._combos: label combination -> _Combo
    cdef dict route_caps, api_route_caps, beacons, api_children
    cdef object country_cap, api, errors, budget
    cdef set country_seen
    cdef Py_ssize_t n_vitals, size, n_api
    cdef Py_ssize_t offsets[8]
    cdef Py_ssize_t n_bounds[8]
    cdef double bounds[8][MAX_BOUNDS]
    cdef double api_bounds[MAX_BOUNDS]

    def __init__(self, metrics, slow):
        layout = metrics._layout
        if len(layout.offsets) > 8 or any(len(b) > MAX_BOUNDS for b in layout.bounds):
            raise ValueError("more vitals or buckets than the compiled recorder holds")
        if len(metrics._api_bounds) > MAX_BOUNDS:
            raise ValueError("more API buckets than the compiled recorder holds")
        self.metrics = metrics
        self.slow = slow
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

    def accept(self, pipeline, bytes body, facts, str country, str region):
        """``Gateway.accept`` compiled: the body of a request whose headers passed,
        decoded, checked against its app and recorded; None when recorded, else what the
        Python ``accept`` (``slow``) answers, which is asked whenever anything is off
        (a refusal, an origin not seen yet), so every reason and message is its own."""
        origin = facts.origin
        if origin is not None and not facts.origin_allowed:
            return self.slow(pipeline, body, facts, country, region)
        try:
            beacon = DECODE(body)
        except Exception:  # the Python path says which reason
            return self.slow(pipeline, body, facts, country, region)
        app = _get(pipeline.apps, beacon.app)
        if app is None:
            return self.slow(pipeline, body, facts, country, region)
        if origin is None:
            if not app.allow_missing_origin:
                return self.slow(pipeline, body, facts, country, region)
        elif _get(app.origins._cache, origin) is not True:
            return self.slow(pipeline, body, facts, country, region)
        cdef Py_ssize_t events = len(beacon.views)
        for view in beacon.views:
            events += len(view.api) + len(view.errors)
        if events > <Py_ssize_t>pipeline.max_events:
            return self.slow(pipeline, body, facts, country, region)
        conn = beacon.conn
        connection = _get(CONNECTION_LABELS, conn) if conn else None
        if connection is None:
            connection = "unknown"
        self.record(beacon, app, facts.device, facts.browser, country, region, connection)
        return None

    cpdef record(self, beacon, app, str device, str browser, str country, str region,
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


cdef class RequestReader:
    """``Pipeline.read_request`` compiled: one pass over the request headers picks the
    ten it reads, then the same two caches (header facts, client place) are asked, and
    filled through the Python methods that own them on a miss; then the client's token
    bucket (a new client's through ``RateLimiter.take``)."""

    cdef object pipeline, facts_cache, clients, classify, place
    cdef bint has_country
    cdef list names  # the headers read, by slot (see the F_* constants)
    cdef Py_ssize_t max_key

    def __init__(self, pipeline, bytes synthetic_header, Py_ssize_t max_key):
        self.pipeline = pipeline
        self.facts_cache = pipeline._facts
        self.clients = pipeline._clients
        self.classify = pipeline._classify
        self.place = pipeline._place
        self.has_country = bool(pipeline.country_header)
        self.max_key = max_key
        self.names = [
            b"user-agent", b"origin", b"content-type", b"content-encoding",
            b"sec-ch-ua-mobile", b"sec-ch-ua", synthetic_header,  # the facts key, in order
            b"x-forwarded-for", b"content-length", pipeline.country_header,
        ]

    def __call__(self, scope, double now):
        cdef list found = [None] * 10
        cdef list names = self.names
        cdef Py_ssize_t i
        for pair in scope["headers"]:
            name = pair[0]
            for i in range(10):  # no break: a header may fill two slots (last one wins)
                if name == <bytes>names[i]:
                    found[i] = pair[1]
        values = [b"" if v is None else v for v in found[:N_FACTS]]
        key = b"\n".join(values)
        cacheable = len(key) <= self.max_key and key.count(b"\n") == N_FACTS - 1
        facts = _get(self.facts_cache, key) if cacheable else None
        if facts is None:
            facts = self.classify(*values)
            if cacheable:
                self.facts_cache[key] = facts
        if facts.early is not None:
            return facts, None, 0.0, found[F_LENGTH]
        client = scope.get("client")
        peer = client[0] if client else ""
        xff = found[F_XFF]
        header = found[F_COUNTRY] if self.has_country else None
        digest = hash((peer, xff, header))
        where = _get(self.clients, digest)
        if where is None:
            where = self.place(digest, peer, xff, header)
        return facts, where, _take(self.pipeline.limiter, where[0], now), found[F_LENGTH]


cdef double _take(limiter, key, double now) except? -1.0:
    """``RateLimiter.take`` on a client it knows (a new one goes through Python)."""
    buckets = limiter._buckets
    found = _get(buckets, key)
    if found is None:
        return limiter.take(key, now)
    cdef double* bucket = (<array>found).data.as_doubles  # tokens, last take, last moved
    cdef double per_second = limiter.per_second
    cdef double burst = limiter.burst
    cdef double tokens
    if now - bucket[2] >= 1.0:
        buckets.move_to_end(key)
        bucket[2] = now
    tokens = bucket[0] + (now - bucket[1]) * per_second
    if burst <= tokens:  # min(burst, tokens), as Python's min picks between equals
        tokens = burst
    bucket[1] = now
    if tokens >= 1.0:
        bucket[0] = tokens - 1.0
        return 0.0
    bucket[0] = tokens
    return (1.0 - tokens) / per_second
