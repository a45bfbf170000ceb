"""The compiled recorder (rum_gateway._record) against the Python path it replaces."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from rum_gateway.app import Pipeline
from rum_gateway.config import load_config
from rum_gateway.ingest import PURE_ENV, compiled_available, recorder
from rum_gateway.metrics import RumMetrics
from rum_gateway.schema import decode_beacon

IN_CI = os.environ.get("CI") == "true"

CONFIG = """\
apps:
  shop:
    origins: ["https://shop.example.com"]
    routes: ["/products/{id}"]
    api_routes: ["/api/items/{id}"]
    max_routes: 6
    max_api_routes: 4
  blog:
    origins: ["https://blog.example.com"]
limits:
  max_series: 2500
  max_countries: 5
"""


def test_the_compiled_recorder_is_built() -> None:
    """``make test`` builds it (pip install -e); in CI its absence fails the run."""
    if not compiled_available():
        if IN_CI:
            pytest.fail("rum_gateway._record is not built: `pip install -e .` compiles it")
        pytest.skip("rum_gateway._record is not built here (no C compiler?)")
    metrics = RumMetrics(load_config(None))
    assert type(recorder(metrics).__self__).__name__ == "Recorder"  # type: ignore[attr-defined]
    assert recorder(metrics, pure=True).__name__ == "record"


def test_the_environment_asks_for_pure_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PURE_ENV, "1")
    assert recorder(RumMetrics(load_config(None))).__name__ == "record"


def _random_beacon(rng: random.Random) -> bytes:
    """A valid beacon touching every branch of recording: several views, absent and
    integer vitals, threshold values, SDK routes, unknown nav types, errors, odd
    methods and statuses, sample rates."""
    views = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        view: dict[str, object] = {
            "path": rng.choice(
                ["/", "/products/42", f"/products/{rng.randrange(99)}", f"/p{rng.randrange(12)}/x",
                 f"/orders/{rng.randrange(10**6)}", "https://shop.example.com/c?q=1"]
            ),
            "nav": rng.choice(["navigate", "reload", "soft", "warp", "back_forward"]),
            "pv": rng.random() < 0.7,
        }  # fmt: skip
        if rng.random() < 0.2:
            view["route"] = rng.choice(["/sdk/{x}", "/orders/{id}", "/p/:slug"])
        if rng.random() < 0.9:
            vitals: dict[str, object] = {}
            for name, good in (("LCP", 2500), ("FCP", 1800), ("TTFB", 800), ("INP", 200)):
                roll = rng.random()
                if roll < 0.15:
                    continue
                vitals[name] = good if roll < 0.3 else round(rng.lognormvariate(6.5, 1.2), 1)
            if rng.random() < 0.8:
                vitals["CLS"] = rng.choice([0.1, 0.25, 0, round(rng.expovariate(10), 4)])
            view["vitals"] = vitals
        if rng.random() < 0.2:
            view["errors"] = [
                {"kind": rng.choice(["error", "unhandledrejection", "weird"]), "fp": "abc"}
            ]
        if rng.random() < 0.8:
            view["api"] = [
                {"method": rng.choice(["GET", "get", "POST", "BREW"]),
                 "path": rng.choice(["/api/cart", f"/api/items/{rng.randrange(50)}",
                                     f"/api/v{rng.randrange(9)}/z", "https://x.io/api/q?a=1"]),
                 "status": rng.choice([0, 200, 201, 404, 503, 999]),
                 "ms": rng.choice([25, 25.0, round(rng.uniform(0, 3e4), 1)])}
                for _ in range(rng.randrange(3))
            ]  # fmt: skip
        views.append(view)
    beacon = {
        "v": 1,
        "app": rng.choice(["shop", "shop", "blog"]),
        "views": views,
        "sr": rng.choice([1, 0.5, 0.1]),
        "conn": rng.choice(["4g", "3g", None, "5g"]),
    }
    return json.dumps(beacon).encode()


@pytest.mark.parametrize("combinations", [16_384, 5])
def test_compiled_and_python_recorders_expose_the_same_text(
    tmp_path: Path, combinations: int
) -> None:
    """Byte for byte, at every scrape: the same beacons through both recorders, with label
    caps and a series budget that overflow, and (with 5 combinations kept) combinations
    forgotten and flushed between scrapes."""
    if not compiled_available():
        if IN_CI:
            pytest.fail("rum_gateway._record is not built")
        pytest.skip("rum_gateway._record is not built here")
    path = tmp_path / "gateway.yml"
    path.write_text(CONFIG)
    config = load_config(str(path))
    apps = Pipeline(config).apps
    compiled_metrics, python_metrics = RumMetrics(config), RumMetrics(config)
    compiled_metrics._combos.size = python_metrics._combos.size = combinations
    compiled, python = recorder(compiled_metrics), recorder(python_metrics, pure=True)
    assert compiled is not python and python.__name__ == "record"
    rng = random.Random(3)
    clients = [
        (rng.choice(["mobile", "desktop", "tablet"]), rng.choice(["chrome", "safari"]),
         f"C{i % 9}", rng.choice(["Western Europe", "unknown"]), rng.choice(["4g", "unknown"]))
        for i in range(40)
    ]  # fmt: skip
    texts = 0
    for i in range(4000):
        beacon = decode_beacon(_random_beacon(rng))
        client = rng.choice(clients)
        compiled(beacon, apps[beacon.app], *client)
        python(beacon, apps[beacon.app], *client)
        if i % 500 == 499:
            text = compiled_metrics.render()
            assert text == python_metrics.render()
            texts += 1
    assert texts == 8
    assert compiled_metrics.series == python_metrics.series == compiled_metrics.budget.limit
    for label in ("route", "api_route", "country", "series"):  # every cap overflowed
        assert compiled_metrics.overflow.value((label,)) > 0
    assert compiled_metrics.errors.children and compiled_metrics.page_views.children
