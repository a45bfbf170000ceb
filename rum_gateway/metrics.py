"""The rum_* metric families: threshold-exact buckets, cached children, a label budget.

prometheus_client's ``Histogram`` takes a lock per bucket and looks labels up through
``labels()``; this ingest path records ~20 values per beacon, so the families here are
plain dicts of label tuple → list, touched by the event loop only. Each child is created
once, charged to a :class:`SeriesBudget`, and ``observe`` is a bisect and two additions::

    >>> budget = SeriesBudget(1000)
    >>> lcp = HistogramFamily("rum_lcp_seconds", "LCP.", ("app",), VITAL_BUCKETS["LCP"],
    ...                       1000.0, budget)
    >>> lcp.observe(("shop",), 2500.0); lcp.observe(("shop",), 2500.1)
    >>> lcp.children[("shop",)]   # [sum in seconds, then one count per bucket, +Inf last]
    [5.0001, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]

Values are compared with the bucket bounds in the unit the browser reported
(milliseconds), so 2500 ms is "good" (``le="2.5"``) and 2500.1 ms is not, with no float
rounding in between.

A beacon's vitals feed three view families each (route and device, geo, browser). Rather
than write 15 children per beacon, :meth:`RumMetrics.record` adds them to one flat
array per label combination, and :meth:`RumMetrics.flush` adds those arrays to the
children at each scrape, a few dozen combinations per step. Rendering
(:meth:`RumMetrics.render_chunks`) flushes, then yields a few hundred children at a time,
so the caller can let beacons in between.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from operator import itemgetter
from typing import Any

import msgspec
from prometheus_client.utils import floatToGoString

from rum_gateway.config import Config
from rum_gateway.dimensions import UNKNOWN, BoundedCache
from rum_gateway.protect import REASONS
from rum_gateway.schema import VITALS

__all__ = [
    "API_BUCKETS_MS",
    "OVERFLOW_LABELS",
    "THRESHOLDS",
    "VITAL_BUCKETS",
    "Client",
    "CounterFamily",
    "HistogramFamily",
    "LabelCap",
    "RumMetrics",
    "SeriesBudget",
    "vital_family_name",
]

#: Bucket bounds per vital in the browser's unit (ms; CLS unitless). Each Web Vitals
#: threshold is a bound, so good / needs-improvement / poor shares are exact.
VITAL_BUCKETS: dict[str, tuple[float, ...]] = {
    "LCP": (500, 1000, 1500, 2000, 2500, 3000, 4000, 6000, 10000, 20000),
    "FCP": (500, 1000, 1500, 1800, 2500, 3000, 4000, 6000, 10000),
    "TTFB": (100, 200, 400, 600, 800, 1200, 1800, 3000, 6000),
    "INP": (50, 100, 200, 300, 500, 750, 1000, 2000, 5000),
    "CLS": (0.01, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2),
}
#: (good ≤, poor >) per vital, in the same units, from web.dev.
THRESHOLDS: dict[str, tuple[float, float]] = {
    "LCP": (2500, 4000),
    "FCP": (1800, 3000),
    "TTFB": (800, 1800),
    "INP": (200, 500),
    "CLS": (0.1, 0.25),
}
#: Buckets of ``rum_api_request_duration_seconds``, in ms.
API_BUCKETS_MS: tuple[float, ...] = (25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)

#: ``label`` values of ``rum_label_overflow_total``: a value folded into ``other`` /
#: ``unknown`` by its cap, or (``series``) an observation dropped by the series budget.
OVERFLOW_LABELS = ("route", "api_route", "country", "series")

_VITAL_HELP = {
    "LCP": "Largest Contentful Paint of real page views",
    "FCP": "First Contentful Paint of real page views",
    "TTFB": "Time to First Byte of real page views",
    "INP": "Interaction to Next Paint of real page views",
    "CLS": "Cumulative Layout Shift (unitless) of real page views",
}


def vital_family_name(vital: str, view: str) -> str:
    """``("LCP", "by_geo")`` → ``rum_lcp_by_geo_seconds``; CLS has no unit suffix."""
    infix = "" if view == "default" else f"_{view}"
    unit = "" if vital == "CLS" else "_seconds"
    return f"rum_{vital.lower()}{infix}{unit}"


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    return ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))


class SeriesBudget:
    """How many series the rum_* families may still create (``limits.max_series``)."""

    __slots__ = ("dropped", "limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.dropped = 0

    def take(self, series: int) -> bool:
        """Reserve ``series`` if they fit (a refusal is final: ``used`` never shrinks)."""
        if self.used + series > self.limit:
            return False
        self.used += series
        return True


class HistogramFamily:
    """One histogram family; ``children[labels] = [sum, count per bucket..., +Inf count]``.

    ``divisor`` turns the observed unit into the exposed one (1000: ms → seconds).
    Counts are stored per bucket and made cumulative when rendered, so a scrape between
    two observations can never show ``_count`` disagreeing with ``le="+Inf"``.
    """

    kind = "histogram"
    __slots__ = ("_les", "bounds", "budget", "children", "divisor", "help", "labelnames", "name")

    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str],
        bounds: Sequence[float],
        divisor: float,
        budget: SeriesBudget,
    ) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        self.bounds = tuple(float(b) for b in bounds)
        self.divisor = divisor
        self.budget = budget
        self.children: dict[tuple[str, ...], list[float]] = {}
        self._les = [floatToGoString(b / divisor) for b in self.bounds] + ["+Inf"]

    def child(self, key: tuple[str, ...]) -> list[float] | None:
        """The child of ``key``, created if the budget allows (else None, not counted)."""
        child = self.children.get(key)
        if child is None and self.budget.take(len(self.bounds) + 3):  # buckets, +Inf, sum, count
            # floats throughout: adding 1 to a float reuses a freed float (a freelist) where
            # an int past 256 is a fresh allocation; counts stay exact up to 2**53
            child = self.children[key] = [0.0] * (len(self.bounds) + 2)
        return child

    def observe(self, key: tuple[str, ...], value: float) -> None:
        child = self.children.get(key) or self.child(key)
        if child is None:
            self.budget.dropped += 1
            return
        child[0] += value / self.divisor
        child[bisect_left(self.bounds, value) + 1] += 1.0

    def render(self, items: Sequence[tuple[tuple[str, ...], list[float]]]) -> str:
        name, names, les = self.name, self.labelnames, self._les
        out = []
        for key, child in items:
            labels = _labels(names, key)
            prefix = f'{name}_bucket{{{labels}{"," if labels else ""}le="'
            total = 0
            for i, le in enumerate(les, 1):
                total += int(child[i])
                out.append(f'{prefix}{le}"}} {total}\n')
            braces = f"{{{labels}}}" if labels else ""
            out.append(f"{name}_sum{braces} {child[0]!r}\n{name}_count{braces} {total}\n")
        return "".join(out)


class CounterFamily:
    """One counter family; ``children[labels] = [value]`` (floats: page views are scaled)."""

    kind = "counter"
    __slots__ = ("budget", "children", "help", "labelnames", "name")

    def __init__(
        self, name: str, help_text: str, labelnames: Sequence[str], budget: SeriesBudget
    ) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        self.budget = budget
        self.children: dict[tuple[str, ...], list[float]] = {}

    def child(self, key: tuple[str, ...]) -> list[float] | None:
        """The child of ``key``, created if the budget allows (else None, not counted)."""
        child = self.children.get(key)
        if child is None and self.budget.take(1):
            child = self.children[key] = [0.0]
        return child

    def inc(self, key: tuple[str, ...], amount: float = 1.0) -> None:
        child = self.children.get(key) or self.child(key)
        if child is None:
            self.budget.dropped += 1
            return
        child[0] += amount

    def value(self, key: tuple[str, ...]) -> float:
        child = self.children.get(key)
        return child[0] if child else 0.0

    def render(self, items: Sequence[tuple[tuple[str, ...], list[float]]]) -> str:
        name, names = self.name, self.labelnames
        return "".join(f"{name}{{{_labels(names, key)}}} {child[0]!r}\n" for key, child in items)


class LabelCap:
    """The first ``limit`` distinct values of a label pass; later new ones become
    ``fallback`` and each such observation is counted in ``rum_label_overflow_total``.

    >>> cap = LabelCap(1, "other", lambda: None); cap("/a"), cap("/b"), cap("/a")
    ('/a', 'other', '/a')
    """

    __slots__ = ("_on_overflow", "fallback", "limit", "seen")

    def __init__(self, limit: int, fallback: str, on_overflow: Callable[[], None]) -> None:
        self.limit = limit
        self.fallback = fallback
        self.seen: set[str] = set()
        self._on_overflow = on_overflow

    def __call__(self, value: str) -> str:
        if value in self.seen:
            return value
        if len(self.seen) < self.limit:
            self.seen.add(value)
            return value
        self._on_overflow()
        return self.fallback


# The records below are msgspec Structs rather than NamedTuples: created several times per
# beacon, and a Struct is ~4x cheaper to build. None holds a reference cycle (gc=False).


class Client(msgspec.Struct, gc=False):
    """The request-level dimensions shared by every observation of one beacon."""

    device: str
    browser: str
    country: str
    region: str
    connection: str


class ViewObs(msgspec.Struct, gc=False):
    """What one view contributes (see :mod:`rum_gateway.observations`)."""

    route: str
    nav_type: str
    page_views: float  # 0, or 1/sr when the beacon counts this view
    #: one value per vital in VITALS order (ms; CLS unitless), None where absent; () if none
    vitals: tuple[float | None, ...]
    errors: list[tuple[str, float]]  # (kind, 1/sr)


class ApiObs(msgspec.Struct, gc=False):
    """One API call the page made."""

    api_route: str
    method: str
    status_class: str
    ms: float


class Observations(msgspec.Struct, gc=False):
    """Everything one accepted beacon records, before the per-app label caps."""

    app: str
    views: list[ViewObs]
    api: list[ApiObs]


def _getter(names: Sequence[str]) -> Callable[[dict[str, str]], tuple[str, ...]]:
    if len(names) == 1:
        only = names[0]
        return lambda dims: (dims[only],)
    return itemgetter(*names)


Family = HistogramFamily | CounterFamily

#: The labels a vitals view can use, in the order of a combination's key.
_COMBO_LABELS = ("app", "route", "nav_type", "device", "browser", "country", "region", "connection")


class _Combo:
    """One label combination: what it has recorded since the last flush, in one flat
    array of floats (``acc``, laid out by :class:`_Layout`), and where a flush adds it —
    per vital its child in every view family (None until that vital's first flush) — and
    the page-view counter's child."""

    __slots__ = ("acc", "dims", "dirty", "missing", "page_views", "vitals")

    def __init__(self, dims: dict[str, str], size: int) -> None:
        self.dims = dims
        self.acc = array("d", bytes(8 * size))
        self.dirty = False  # in RumMetrics._dirty, with something to flush
        self.vitals: list[tuple[list[float], ...] | None] = [None] * len(VITALS)
        self.missing: list[int] | None = None  # per vital, once the budget refuses a child
        self.page_views: list[float] | None = None


class _Layout:
    """Where each vital sits in a combination's ``acc``: at ``offsets[i]`` the sum of
    the values as the browser reported them, then one count per bucket (``+Inf`` last);
    the page-view weight and the number of views that carried it close the array."""

    def __init__(self) -> None:
        self.bounds = [tuple(float(b) for b in VITAL_BUCKETS[v]) for v in VITALS]
        self.divisors = [1.0 if v == "CLS" else 1000.0 for v in VITALS]
        self.offsets = []
        size = 0
        for bounds in self.bounds:
            self.offsets.append(size)
            size += len(bounds) + 2
        self.size = size + 2  # acc[-2]: page-view weight, acc[-1]: views that had one
        #: per vital (offset, bounds), the order record() walks a view's vitals in
        self.record = list(zip(self.offsets, self.bounds, strict=True))
        self.zeros = array("d", bytes(8 * self.size))


class RumMetrics:
    """Every rum_* family for one config, the label caps and the series budget.

    Built at start and again on reload when the views or the budget change; otherwise
    :meth:`update_apps` carries the counts over so a reload does not reset them.
    """

    def __init__(self, config: Config) -> None:
        self.views = {k: tuple(v) for k, v in config.views.items()}
        budget = self.budget = SeriesBudget(config.limits.max_series)
        self.beacons = CounterFamily(
            "rum_beacons_total", "Beacons accepted, by app.", ("app",), budget
        )
        self.rejected = CounterFamily(
            "rum_beacons_rejected_total",
            "Beacons refused or left out of RUM, by reason (a bounded set, see the README).",
            ("reason",),
            budget,
        )
        self.overflow = CounterFamily(
            "rum_label_overflow_total",
            "Observations whose label value was folded into other/unknown by its cap, or "
            "(label=series) dropped by the series budget.",
            ("label",),
            budget,
        )
        for reason in REASONS:
            self.rejected.inc((reason,), 0)
        for label in OVERFLOW_LABELS:
            self.overflow.inc((label,), 0)
        self.vital_views: list[list[tuple[HistogramFamily, Callable[..., tuple[str, ...]]]]] = []
        self._families: list[Family] = [self.beacons, self.rejected, self.overflow]
        for vital in VITALS:
            per_view = []
            for view, labels in self.views.items():
                names = ("app", *labels)
                family = HistogramFamily(
                    vital_family_name(vital, view),
                    f"{_VITAL_HELP[vital]}, by {', '.join(names)}.",
                    names,
                    VITAL_BUCKETS[vital],
                    1.0 if vital == "CLS" else 1000.0,
                    budget,
                )
                per_view.append((family, _getter(names)))
                self._families.append(family)
            self.vital_views.append(per_view)
        self.page_views = CounterFamily(
            "rum_page_views_total",
            "Page views (page loads and SPA route changes), scaled by 1/sample rate.",
            ("app", "route", "device", "nav_type"),
            budget,
        )
        self.errors = CounterFamily(
            "rum_errors_total",
            "JavaScript errors seen by real users, scaled by 1/sample rate.",
            ("app", "route", "kind"),
            budget,
        )
        self.api = HistogramFamily(
            "rum_api_request_duration_seconds",
            "Duration of fetch/XHR calls as the browser saw them.",
            ("app", "api_route", "method", "status_class"),
            API_BUCKETS_MS,
            1000.0,
            budget,
        )
        self._families += [self.page_views, self.errors, self.api]
        # every label combination seen lately -> what it holds and where that goes (bounded);
        # those with something to flush, in the order they were first touched
        self._combos: BoundedCache[tuple[str, ...], _Combo] = BoundedCache(16_384)
        self._dirty: list[_Combo] = []
        self._layout = _Layout()
        self._api_bounds = tuple(float(b) for b in API_BUCKETS_MS)
        self._series_dropped = self.overflow.children[("series",)]
        self._overflow_route = self._counter_bump(("route",))
        self._overflow_api = self._counter_bump(("api_route",))
        self.route_caps: dict[str, LabelCap] = {}
        self.api_route_caps: dict[str, LabelCap] = {}
        self.country_cap = LabelCap(
            config.limits.max_countries, UNKNOWN, self._counter_bump(("country",))
        )
        self.update_apps(config)

    def _counter_bump(self, key: tuple[str, ...]) -> Callable[[], None]:
        child = self.overflow.children[key]

        def bump() -> None:
            child[0] += 1.0

        return bump

    def compatible(self, config: Config) -> bool:
        """Whether ``config`` can reuse these families (same views and series budget)."""
        return {
            k: tuple(v) for k, v in config.views.items()
        } == self.views and config.limits.max_series == self.budget.limit

    def update_apps(self, config: Config) -> None:
        """Apply a (re)loaded config's apps and caps; existing counts are kept."""
        for name, app in config.apps.items():
            self.beacons.inc((name,), 0)
            if name in self.route_caps:
                self.route_caps[name].limit = app.max_routes
                self.api_route_caps[name].limit = app.max_api_routes
            else:
                self.route_caps[name] = LabelCap(app.max_routes, "other", self._overflow_route)
                self.api_route_caps[name] = LabelCap(
                    app.max_api_routes, "other", self._overflow_api
                )
        self.country_cap.limit = config.limits.max_countries

    def reject(self, reason: str) -> None:
        self.rejected.children[(reason,)][0] += 1.0

    def record(self, obs: Observations, client: Client) -> None:
        """Apply one beacon's observations: caps, then the label combination's array.

        A view's vitals and page views go to its label combination (app, route, nav_type
        and the client's dimensions): one bisect and two additions per vital, into one
        flat array. :meth:`flush` adds that array to the children of every view family
        (three histograms per vital by default) at each scrape, so a beacon's cost does
        not grow with the number of views, and its writes stay in a few cache lines.
        Errors and API calls go straight to their families.
        """
        app = obs.app
        self.beacons.children[(app,)][0] += 1.0
        routes = self.route_caps[app]
        device, browser, region, connection = (
            client.device,
            client.browser,
            client.region,
            client.connection,
        )
        # A label cap is asked only about a value it has not let through yet (most are).
        country = client.country
        if country not in self.country_cap.seen:
            country = self.country_cap(country)
        combos = self._combos
        layout = self._layout.record
        for view in obs.views:
            route = view.route
            if route not in routes.seen:
                route = routes(route)
            labels = (app, route, view.nav_type, device, browser, country, region, connection)
            combo = combos.get(labels) or self._new_combo(labels)
            if not combo.dirty:
                combo.dirty = True
                self._mark_dirty(combo)
            acc = combo.acc
            if view.page_views:
                acc[-2] += view.page_views
                acc[-1] += 1.0
            # vitals is () when the view had none
            for value, (offset, bounds) in zip(view.vitals, layout, strict=False):
                if value is not None:
                    acc[offset] += value
                    acc[offset + bisect_left(bounds, value) + 1] += 1.0
            for kind, weight in view.errors:
                self.errors.inc((app, route, kind), weight)
        if obs.api:
            api_routes = self.api_route_caps[app]
            api, api_bounds = self.api, self._api_bounds
            for call in obs.api:
                api_route = call.api_route
                if api_route not in api_routes.seen:
                    api_route = api_routes(api_route)
                key = (app, api_route, call.method, call.status_class)
                ms = call.ms
                counts = api.children.get(key)
                if counts is None:
                    api.observe(key, ms)  # creates the child, or counts the drop
                else:
                    counts[0] += ms / 1000.0
                    counts[bisect_left(api_bounds, ms) + 1] += 1.0
        if self.budget.dropped:
            self._count_dropped()

    def _count_dropped(self) -> None:
        if self.budget.dropped:
            self._series_dropped[0] += self.budget.dropped
            self.budget.dropped = 0

    def _mark_dirty(self, combo: _Combo) -> None:
        dirty = self._dirty
        dirty.append(combo)
        if len(dirty) > 2 * self._combos.size:  # no scrape for a while, and many forgotten
            self._dirty = [c for c in dirty if c.dirty]

    def _new_combo(self, labels: tuple[str, ...]) -> _Combo:
        combos = self._combos
        if len(combos) >= combos.size:  # forget the oldest, once what it holds is out
            oldest = combos.popitem(last=False)[1]
            if oldest.dirty:
                self._flush_combo(oldest)
        combo = combos[labels] = _Combo(
            dict(zip(_COMBO_LABELS, labels, strict=True)), self._layout.size
        )
        return combo

    def flush(self, chunk: int = 64) -> Iterator[None]:
        """Add what every label combination recorded since the last flush to the view
        families, ``chunk`` combinations per step (a generator: the caller may let beacons
        in between steps; a combination touched meanwhile is flushed in this pass or the
        next, never twice). Children are created here, so the series budget is charged,
        and observations it refuses are counted, at flush time."""
        dirty, self._dirty = self._dirty, []
        for start in range(0, len(dirty), chunk):
            for combo in dirty[start : start + chunk]:
                if combo.dirty:  # else flushed when it was forgotten
                    self._flush_combo(combo)
            self._count_dropped()
            yield

    def _flush_combo(self, combo: _Combo) -> None:
        combo.dirty = False
        acc = combo.acc
        layout = self._layout
        views = acc[-1]
        if views:
            child = combo.page_views or self._page_views_child(combo)
            if child is None:
                self.budget.dropped += int(views)
            else:
                child[0] += acc[-2]
        for index, offset in enumerate(layout.offsets):
            counts = acc[offset + 1 : offset + len(layout.bounds[index]) + 2]
            observed = sum(counts)
            if not observed:
                continue
            children = combo.vitals[index]
            if children is None:
                children = self._vital_children(combo, index)
            total = acc[offset] / layout.divisors[index]
            for child in children:
                child[0] += total
                for slot, count in enumerate(counts, 1):
                    if count:
                        child[slot] += count
            if combo.missing is not None:  # views the budget refused: each value is dropped
                self.budget.dropped += int(observed) * combo.missing[index]
        acc[:] = layout.zeros

    def _page_views_child(self, combo: _Combo) -> list[float] | None:
        dims = combo.dims
        key = (dims["app"], dims["route"], dims["device"], dims["nav_type"])
        combo.page_views = child = self.page_views.child(key)
        return child

    def _vital_children(self, combo: _Combo, index: int) -> tuple[list[float], ...]:
        """On a combination's first flush of one vital: its child in every view family.

        A child the series budget refuses stays refused (the budget never shrinks), so the
        number of such views is kept and each later observation counts them as dropped.
        """
        children = []
        missing = 0
        for family, key_of in self.vital_views[index]:
            child = family.child(key_of(combo.dims))
            if child is None:
                missing += 1
            else:
                children.append(child)
        combo.vitals[index] = fan = tuple(children)
        if missing:
            if combo.missing is None:
                combo.missing = [0] * len(VITALS)
            combo.missing[index] = missing
        return fan

    @property
    def series(self) -> int:
        """Series the rum_* families hold (as of the last :meth:`flush`: every scrape)."""
        return self.budget.used

    def families(self) -> list[Family]:
        return list(self._families)

    def render_chunks(self, chunk: int = 128) -> Iterator[str]:
        """Text exposition of every rum_* family, ``chunk`` children per piece, after a
        :meth:`flush` (whose steps yield empty pieces).

        Each family's children are copied (as a list) when it is reached, so beacons
        recorded between pieces are either wholly in or wholly out of a child's lines.
        """
        for _ in self.flush():
            yield ""
        for family in self._families:
            yield f"# HELP {family.name} {family.help}\n# TYPE {family.name} {family.kind}\n"
            items = list(family.children.items())
            for start in range(0, len(items), chunk):
                yield family.render(items[start : start + chunk])

    def render(self) -> str:
        """The whole exposition at once (tests, small registries)."""
        return "".join(self.render_chunks())


def sample_value(text: str, name: str, labels: dict[str, str] | None = None) -> Any:
    """The value of one sample in exposition ``text`` (None if absent) — for tests and
    benchmarks that read ``/metrics``; parses with prometheus_client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and (labels is None or sample.labels == labels):
                return sample.value
    return None
