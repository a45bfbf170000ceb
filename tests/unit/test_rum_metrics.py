"""Buckets exact at the Web Vitals thresholds, exposition text, label caps, series budget."""

from __future__ import annotations

import random

import msgspec
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from rum_gateway.config import load_config
from rum_gateway.metrics import (
    THRESHOLDS,
    VITAL_BUCKETS,
    ApiObs,
    Client,
    HistogramFamily,
    LabelCap,
    Observations,
    RumMetrics,
    SeriesBudget,
    ViewObs,
    sample_value,
    vital_family_name,
)
from rum_gateway.schema import VITALS

SECONDS = {"LCP": 1000.0, "FCP": 1000.0, "TTFB": 1000.0, "INP": 1000.0, "CLS": 1.0}


def _le(vital: str, bound: float) -> str:
    text = repr(bound / SECONDS[vital])
    return text


def _bucket_of(vital: str, value: float) -> str:
    """The smallest `le` whose cumulative count includes ``value``, read from the text."""
    family = HistogramFamily(
        "x", "x", ("app",), VITAL_BUCKETS[vital], SECONDS[vital], SeriesBudget(100)
    )
    family.observe(("a",), value)
    for line in family.render(list(family.children.items())).splitlines():
        if line.startswith("x_bucket") and line.endswith(" 1"):
            return line.split('le="')[1].split('"')[0]
    raise AssertionError("no bucket counted the value")


@pytest.mark.parametrize(
    ("vital", "value", "le"),
    [
        ("LCP", 2500.0, "2.5"),  # exactly good
        ("LCP", 2500.1, "3.0"),  # not good
        ("LCP", 2500.0000001, "3.0"),
        ("LCP", 4000.0, "4.0"),  # needs improvement, not poor
        ("LCP", 4000.1, "6.0"),  # poor
        ("FCP", 1800.0, "1.8"),
        ("FCP", 1800.1, "2.5"),
        ("FCP", 3000.0, "3.0"),
        ("FCP", 3000.1, "4.0"),
        ("TTFB", 800.0, "0.8"),
        ("TTFB", 800.1, "1.2"),
        ("TTFB", 1800.0, "1.8"),
        ("TTFB", 1800.1, "3.0"),
        ("INP", 200.0, "0.2"),
        ("INP", 200.1, "0.3"),
        ("INP", 500.0, "0.5"),
        ("INP", 500.1, "0.75"),
        ("CLS", 0.1, "0.1"),
        ("CLS", 0.1000001, "0.15"),
        ("CLS", 0.25, "0.25"),
        ("CLS", 0.2500001, "0.5"),
        ("LCP", 0.0, "0.5"),
        ("LCP", 20000.1, "+Inf"),
    ],
)
def test_rating_is_exact_at_the_thresholds(vital: str, value: float, le: str) -> None:
    assert _bucket_of(vital, value) == le


def test_every_threshold_is_a_bucket_bound() -> None:
    for vital, (good, poor) in THRESHOLDS.items():
        assert good in VITAL_BUCKETS[vital] and poor in VITAL_BUCKETS[vital]


def test_family_names() -> None:
    assert vital_family_name("LCP", "default") == "rum_lcp_seconds"
    assert vital_family_name("INP", "by_geo") == "rum_inp_by_geo_seconds"
    assert vital_family_name("CLS", "default") == "rum_cls"
    assert vital_family_name("CLS", "by_browser") == "rum_cls_by_browser"


def test_histogram_text_exposition() -> None:
    family = HistogramFamily(
        "rum_ttfb_seconds",
        "TTFB.",
        ("app", "route"),
        VITAL_BUCKETS["TTFB"],
        1000.0,
        SeriesBudget(100),
    )
    for value in (50.0, 800.0, 801.0, 9000.0):
        family.observe(("shop", '/a"b\\c'), value)
    assert family.render(list(family.children.items())) == (
        'rum_ttfb_seconds_bucket{app="shop",route="/a\\"b\\\\c",le="0.1"} 1\n'
        'rum_ttfb_seconds_bucket{app="shop",route="/a\\"b\\\\c",le="0.2"} 1\n'
        'rum_ttfb_seconds_bucket{app="shop",route="/a\\"b\\\\c",le="0.4"} 1\n'
        'rum_ttfb_seconds_bucket{app="shop",route="/a\\"b\\\\c",le="0.6"} 1\n'
        'rum_ttfb_seconds_bucket{app="shop",route="/a\\"b\\\\c",le="0.8"} 2\n'
        'rum_ttfb_seconds_bucket{app="shop",route="/a\\"b\\\\c",le="1.2"} 3\n'
        'rum_ttfb_seconds_bucket{app="shop",route="/a\\"b\\\\c",le="1.8"} 3\n'
        'rum_ttfb_seconds_bucket{app="shop",route="/a\\"b\\\\c",le="3.0"} 3\n'
        'rum_ttfb_seconds_bucket{app="shop",route="/a\\"b\\\\c",le="6.0"} 3\n'
        'rum_ttfb_seconds_bucket{app="shop",route="/a\\"b\\\\c",le="+Inf"} 4\n'
        'rum_ttfb_seconds_sum{app="shop",route="/a\\"b\\\\c"} 10.651\n'
        'rum_ttfb_seconds_count{app="shop",route="/a\\"b\\\\c"} 4\n'
    )


def test_series_budget_drops_new_children_only() -> None:
    budget = SeriesBudget(30)
    family = HistogramFamily("h", "h", ("k",), (1.0, 2.0), 1.0, budget)  # 5 series a child
    for i in range(10):
        family.observe((str(i),), 1.0)
    assert len(family.children) == 6 and budget.used == 30 and budget.dropped == 4
    family.observe(("0",), 1.5)  # existing children still count
    assert family.children[("0",)][1:] == [1, 1, 0]


def test_label_cap_counts_each_folded_observation() -> None:
    folded = []
    cap = LabelCap(2, "other", lambda: folded.append(1))
    assert [cap(v) for v in ("/a", "/b", "/c", "/a", "/d", "/c")] == [
        "/a",
        "/b",
        "other",
        "/a",
        "other",
        "other",
    ]
    assert len(folded) == 3


def _client(country: str = "SG") -> Client:
    return Client("mobile", "safari", country, "South-eastern Asia", "4g")


def _obs(route: str, app: str = "demo", lcp: float = 2000.0) -> Observations:
    return Observations(
        app,
        [ViewObs(route, "navigate", 2.0, (lcp, None, None, None, 0.05), [("error", 2.0)])],
        [ApiObs("/api/x", "GET", "2xx", 120.0)],
    )


def test_record_fills_every_view_family() -> None:
    metrics = RumMetrics(load_config(None))
    metrics.record(_obs("/products/{id}"), _client())
    text = metrics.render()
    s = lambda name, **labels: sample_value(text, name, labels)  # noqa: E731
    assert s("rum_lcp_seconds_count", app="demo", route="/products/{id}", device="mobile") == 1
    assert (
        s("rum_lcp_seconds_bucket", app="demo", route="/products/{id}", device="mobile", le="2.0")
        == 1
    )
    assert s("rum_lcp_seconds_sum", app="demo", route="/products/{id}", device="mobile") == 2.0
    geo = {"app": "demo", "region": "South-eastern Asia", "country": "SG", "device": "mobile"}
    assert s("rum_lcp_by_geo_seconds_count", **geo) == 1
    assert s("rum_cls_by_browser_count", app="demo", browser="safari", device="mobile") == 1
    assert s("rum_cls_bucket", app="demo", route="/products/{id}", device="mobile", le="0.05") == 1
    assert (
        s(
            "rum_page_views_total",
            app="demo",
            route="/products/{id}",
            device="mobile",
            nav_type="navigate",
        )
        == 2.0
    )
    assert s("rum_errors_total", app="demo", route="/products/{id}", kind="error") == 2.0
    api = {"app": "demo", "api_route": "/api/x", "method": "GET", "status_class": "2xx"}
    assert s("rum_api_request_duration_seconds_count", **api) == 1
    assert s("rum_beacons_total", app="demo") == 1
    # families with no observation are absent: FCP was not in the beacon
    assert s("rum_fcp_seconds_count", app="demo", route="/products/{id}", device="mobile") is None


def test_route_cap_and_series_budget_are_counted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "g.yml"
    path.write_text(
        "apps:\n  demo:\n    origins: ['http://localhost']\n    max_routes: 3\n"
        "limits:\n  max_series: 150\n"
    )
    metrics = RumMetrics(load_config(str(path)))
    for i in range(10):
        metrics.record(_obs(f"/r{i}"), _client())
    text = metrics.render()
    routes = {
        line.split('route="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("rum_lcp_seconds_count")
    }
    # 7 views went to `other`, and the budget (150 series) ran out before every child fit
    assert sample_value(text, "rum_label_overflow_total", {"label": "route"}) == 7
    assert routes <= {"/r0", "/r1", "/r2", "other"}
    assert metrics.series <= 150
    assert sample_value(text, "rum_label_overflow_total", {"label": "series"}) > 0
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(samples) == metrics.series


def test_every_family_is_declared_once() -> None:
    metrics = RumMetrics(load_config(None))
    names = [f.name for f in metrics.families()]
    assert len(names) == len(set(names)) == 3 + 3 * len(VITALS) + 3
    text = metrics.render()
    assert "# TYPE rum_lcp_seconds histogram\n" in text
    assert "# TYPE rum_page_views_total counter\n" in text
    assert sample_value(text, "rum_beacons_rejected_total", {"reason": "bot"}) == 0


def test_compatible_config_keeps_counts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    metrics = RumMetrics(load_config(None))
    metrics.record(_obs("/"), _client())
    path = tmp_path / "g.yml"
    path.write_text(
        "apps:\n  demo:\n    origins: ['http://localhost']\n  blog:\n    origins: ['http://localhost']\n"
    )
    new = load_config(str(path))
    assert metrics.compatible(new)
    metrics.update_apps(new)
    metrics.record(_obs("/", app="blog"), _client())
    text = metrics.render()
    assert sample_value(text, "rum_beacons_total", {"app": "demo"}) == 1
    assert sample_value(text, "rum_beacons_total", {"app": "blog"}) == 1
    path.write_text(
        "apps:\n  demo:\n    origins: ['http://localhost']\nviews:\n  default: [route]\n"
    )
    assert not metrics.compatible(load_config(str(path)))


def test_every_observation_the_budget_refuses_is_counted_once() -> None:
    metrics = RumMetrics(load_config(None))
    # as if other series held the rest. Errors and API calls take their series when
    # recorded, page views and vitals at the flush (render): room for the error counter,
    # the API histogram (12 series), the page-view counter and one LCP child (13), no more
    metrics.budget.used = metrics.budget.limit - (1 + 12 + 1 + 13)
    for _ in range(4):
        metrics.record(_obs("/"), _client())
    text = metrics.render()
    assert metrics.series == metrics.budget.limit
    assert s_count(text, "rum_errors_total") == 8.0
    assert s_count(text, "rum_api_request_duration_seconds_count") == 4
    assert s_count(text, "rum_page_views_total") == 8.0
    assert s_count(text, "rum_lcp_seconds_count") == 4
    assert s_count(text, "rum_lcp_by_geo_seconds_count") is None
    assert s_count(text, "rum_lcp_by_browser_seconds_count") is None
    assert s_count(text, "rum_cls_count") is None
    # per beacon: LCP by geo and by browser, CLS in 3 views were dropped
    assert sample_value(text, "rum_label_overflow_total", {"label": "series"}) == 4 * 5
    # later beacons: refused children stay refused and are counted again, once each;
    # a new error kind and a new API route have no room either
    metrics.record(_obs("/"), _client())
    other = Observations(
        "demo", [ViewObs("/", "navigate", 0.0, (), [("csp", 1.0)])], [ApiObs("/y", "GET", "2xx", 1)]
    )
    metrics.record(other, _client())
    text = metrics.render()
    assert s_count(text, "rum_lcp_seconds_count") == 5
    assert s_count(text, "rum_errors_total") == 10.0
    assert sample_value(text, "rum_label_overflow_total", {"label": "series"}) == 5 * 5 + 2


def test_beacons_recorded_during_a_flush_are_flushed_once() -> None:
    metrics = RumMetrics(load_config(None))
    routes = [f"/r{i}" for i in range(5)]
    for route in routes:
        metrics.record(_obs(route), _client())
    steps = metrics.flush(chunk=2)
    next(steps)  # /r0 and /r1 are out, the rest not yet
    for route in routes:  # beacons let in between two steps of the flush
        metrics.record(_obs(route), _client())
    assert list(steps) == [None, None]
    text = metrics.render()
    for route in routes:
        labels = {"app": "demo", "route": route, "device": "mobile"}
        assert sample_value(text, "rum_lcp_seconds_count", labels) == 2
        assert sample_value(text, "rum_lcp_seconds_sum", labels) == 4.0
    geo = {"app": "demo", "region": "South-eastern Asia", "country": "SG", "device": "mobile"}
    assert sample_value(text, "rum_lcp_by_geo_seconds_count", geo) == 10
    assert sample_value(text, "rum_page_views_total", {**labels, "nav_type": "navigate"}) == 4.0
    assert metrics.render() == text  # nothing left over for the next flush


def test_forgotten_combinations_are_flushed_and_not_kept() -> None:
    """With no scrape, a flood of new label combinations holds a bounded number of them,
    and loses no observation of those it forgets."""
    metrics = RumMetrics(load_config(None))
    metrics._combos.size = 4
    for i in range(100):
        metrics.record(_obs("/", lcp=float(i)), _client(country=f"C{i}"))
        assert len(metrics._combos) <= 4 and len(metrics._dirty) <= 2 * 4 + 1
    text = metrics.render()
    labels = {"app": "demo", "route": "/", "device": "mobile"}
    assert sample_value(text, "rum_lcp_seconds_count", labels) == 100
    lcp_sum = sample_value(text, "rum_lcp_seconds_sum", labels)
    assert lcp_sum == pytest.approx(sum(range(100)) / 1000)


def s_count(text: str, name: str) -> float | None:
    """The one sample of ``name`` in ``text`` whatever its labels (None if absent)."""
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    ]
    assert len(values) <= 1
    return values[0] if values else None


def _samples(text: str, prefix: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every ``prefix*`` sample of ``text`` (but ``_created``), parsed by prometheus_client."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(prefix) and not sample.name.endswith("_created"):
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@pytest.mark.parametrize("combinations", [16_384, 4])
def test_histograms_match_prometheus_client_for_the_same_observations(combinations: int) -> None:
    """Every view of every vital, and the API histogram, recorded through the label
    combinations and flushed now and then (by a scrape, or by forgetting a combination
    when only ``combinations`` are kept), equal prometheus_client's own Histogram fed the
    same values."""
    rng = random.Random(5)
    metrics = RumMetrics(load_config(None))
    metrics._combos.size = combinations
    registry = CollectorRegistry()
    reference: dict[str, Histogram] = {}
    for family in metrics.families():
        if isinstance(family, HistogramFamily):
            buckets = [b / family.divisor for b in family.bounds]
            reference[family.name] = Histogram(
                family.name, family.help, family.labelnames, buckets=buckets, registry=registry
            )
    clients = [
        Client("mobile", "safari", "SG", "South-eastern Asia", "4g"),
        Client("desktop", "chrome", "DE", "Western Europe", "unknown"),
        Client("tablet", "firefox", "BR", "South America", "3g"),
    ]
    for i in range(3000):
        if i % 700 == 699:
            metrics.render()  # a scrape: flushes
        client = rng.choice(clients)
        route = rng.choice(["/", "/products/{id}", "/cart"])
        # browser-like values (0.1 ms), the thresholds themselves, and some absent vitals
        vitals = tuple(
            None
            if rng.random() < 0.2
            else rng.choice([*VITAL_BUCKETS[vital], round(rng.lognormvariate(6.5, 1.2), 1)])
            if vital != "CLS"
            else rng.choice([0.1, 0.25, round(rng.expovariate(10), 4)])
            for vital in VITALS
        )
        api = [ApiObs("/api/x", "GET", rng.choice(["2xx", "5xx"]), round(rng.uniform(0, 3e4), 1))]
        metrics.record(
            Observations("demo", [ViewObs(route, "navigate", 0.0, vitals, [])], api), client
        )
        dims = {
            "app": "demo",
            "route": route,
            "nav_type": "navigate",
            **msgspec.structs.asdict(client),
        }
        for index, value in enumerate(vitals):
            if value is None:
                continue
            for family, key_of in metrics.vital_views[index]:
                reference[family.name].labels(*key_of(dims)).observe(value / family.divisor)
        for call in api:
            labels = ("demo", call.api_route, call.method, call.status_class)
            reference["rum_api_request_duration_seconds"].labels(*labels).observe(call.ms / 1000)
    ours = _samples(metrics.render(), "rum_")
    theirs = _samples(generate_latest(registry).decode(), "rum_")
    assert len(theirs) > 500
    # counts exactly; sums to the last few bits (a flush adds partial sums, so the float
    # additions happen in another order than prometheus_client's one by one)
    assert {k: v for k, v in ours.items() if k in theirs} == {
        k: pytest.approx(v, rel=1e-12) if k[0].endswith("_sum") else v for k, v in theirs.items()
    }
    histogram_names = {
        f"{name}{suffix}" for name in reference for suffix in ("_bucket", "_sum", "_count")
    }
    assert {k for k in ours if k[0] in histogram_names} == set(theirs)
