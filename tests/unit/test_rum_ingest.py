"""The compiled ingest path (rum_gateway._ingest) against the Python code it replaces."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from rum_gateway.app import _MAX_CACHED_HEADERS, _SYNTHETIC_HEADER, Pipeline, create_app
from rum_gateway.config import load_config
from rum_gateway.ingest import PURE_ENV, compiled_available, recorder, request_reader
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
  rate_limit: {per_second: 0.2, burst: 2, max_clients: 4}
"""


def _no_accept(*args: object) -> tuple[str, str] | None:
    raise AssertionError("these tests record checked beacons only")


def _require_compiled() -> None:
    """``make test`` builds it (pip install -e); in CI its absence fails the run."""
    if not compiled_available():
        if IN_CI:
            pytest.fail("rum_gateway._ingest is not built: `pip install -e .` compiles it")
        pytest.skip("rum_gateway._ingest is not built here (no C compiler?)")


def test_the_gateway_runs_the_compiled_path_when_built() -> None:
    _require_compiled()
    pipeline = Pipeline(load_config(None))
    assert type(pipeline.read).__name__ == "RequestReader"
    metrics = RumMetrics(load_config(None))
    record, accept = recorder(metrics, _no_accept)
    assert type(record.__self__).__name__ == "Recorder"  # type: ignore[attr-defined]
    assert accept.__self__ is record.__self__  # type: ignore[attr-defined]
    assert recorder(metrics, _no_accept, pure=True)[0].__name__ == "record"


def test_the_environment_asks_for_pure_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PURE_ENV, "1")
    record, accept = recorder(RumMetrics(load_config(None)), _no_accept)
    assert record.__name__ == "record" and accept is _no_accept
    pipeline = Pipeline(load_config(None))
    assert pipeline.read == pipeline.read_request
    gateway = create_app(None)
    assert gateway.registry.get_sample_value("twinlens_gateway_ingest_compiled") == 0


def test_the_gateway_says_which_path_it_runs() -> None:
    _require_compiled()
    gateway = create_app(None)
    assert gateway.registry.get_sample_value("twinlens_gateway_ingest_compiled") == 1


_HEADER_VALUES: dict[bytes, list[bytes]] = {
    b"user-agent": [
        b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        b"(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        b"Chrome/124.0.0.0 Safari/537.36",
        b"Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/124.0.0.0 Safari/537.36",
        b"Googlebot/2.1 (+http://www.google.com/bot.html)",
        b"curl/8.5.0",
        b"Mozilla/5.0 Chrome/124.0.0.0 twinlens-synthetic/1",
        b"",
        b"x" * 5000,  # past the longest cached combination
        b"Mozilla/5.0\nhttps://shop.example.com",  # a newline, were a server to let it in
    ],
    b"origin": [b"https://shop.example.com", b"https://evil.example.net", b"null", b""],
    b"content-type": [b"text/plain;charset=UTF-8", b"application/json", b"TEXT/PLAIN", b"x/y"],
    b"content-encoding": [b"gzip", b"identity", b"br", b" GZIP "],
    b"sec-ch-ua-mobile": [b"?0", b"?1"],
    b"sec-ch-ua": [b'"Chromium";v="124", "Google Chrome";v="124"', b'"Opera";v="110"'],
    _SYNTHETIC_HEADER: [b"1", b""],
    b"x-forwarded-for": [
        b"198.51.100.7",
        b"198.51.100.7, 10.0.0.1",
        b"garbage",
        b"::1, 2001:db8::5",
    ],
    b"cf-ipcountry": [b"SG", b"DE", b"XX", b"T1", b"zz", b"not a country"],
    b"content-length": [b"300", b"abc", b"99999999"],
    b"host": [b"127.0.0.1:9117"],
    b"accept": [b"*/*"],
}


def _random_headers(rng: random.Random) -> list[tuple[bytes, bytes]]:
    headers = [
        (name, rng.choice(values)) for name, values in _HEADER_VALUES.items() if rng.random() < 0.7
    ]
    for _ in range(rng.choice([0, 0, 0, 1, 2])):  # repeated headers: the last one counts
        name = rng.choice(list(_HEADER_VALUES))
        headers.append((name, rng.choice(_HEADER_VALUES[name])))
    rng.shuffle(headers)
    return headers


@pytest.mark.parametrize("country_header", ["CF-IPCountry", ""])
def test_compiled_and_python_request_readers_agree(tmp_path: Path, country_header: str) -> None:
    """The same facts, client place, rate-limit answer and Content-Length for 3,000
    random header sets (bots, synthetic runs, bad media types, proxies trusted or not,
    repeated, huge and newline-carrying headers, no client address, clients over the
    rate and past the limiter's size), and the same caches and buckets filled."""
    _require_compiled()
    path = tmp_path / "gateway.yml"
    path.write_text(CONFIG + f"geo:\n  country_header: '{country_header}'\n"
                    "trusted_proxies: ['127.0.0.0/8', '::1/128']\n")  # fmt: skip
    compiled_pipeline, python_pipeline = (
        Pipeline(load_config(str(path))),
        Pipeline(load_config(str(path))),
    )
    compiled = request_reader(compiled_pipeline, _SYNTHETIC_HEADER, _MAX_CACHED_HEADERS)
    python = request_reader(python_pipeline, _SYNTHETIC_HEADER, _MAX_CACHED_HEADERS, pure=True)
    assert type(compiled).__name__ == "RequestReader" and python == python_pipeline.read_request
    rng = random.Random(8)
    outcomes = set()
    now = 1000.0
    for _ in range(3000):
        scope = {"type": "http", "headers": _random_headers(rng)}
        if rng.random() < 0.9:
            scope["client"] = (rng.choice(["127.0.0.1", "203.0.113.9", "::1"]), 5000)
        now += rng.choice([0.0, 0.0, 0.25, 0.5, 1.0, 3.0])  # exact sums: ties happen
        got, want = compiled(scope, now), python(scope, now)
        assert got == want, scope
        facts, where, wait, _ = got
        outcomes.add((facts.early, facts.media is None, where and where[1], wait > 0))
    assert list(compiled_pipeline._facts) == list(python_pipeline._facts)
    assert list(compiled_pipeline._clients) == list(python_pipeline._clients)
    # the same token buckets, in the same least-recently-seen order
    assert list(compiled_pipeline.limiter._buckets.items()) == list(
        python_pipeline.limiter._buckets.items()
    )
    assert {o[3] for o in outcomes} == {True, False}  # rate limited, and not
    # the draw reached bots, synthetic runs, refused media and proxied countries
    assert {o[0] for o in outcomes} == {None, "bot", "synthetic"}
    assert {o[1] for o in outcomes} == {True, False}
    if country_header:
        assert {"SG", "DE"} <= {o[2] for o in outcomes}


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
    _require_compiled()
    path = tmp_path / "gateway.yml"
    path.write_text(CONFIG)
    config = load_config(str(path))
    apps = Pipeline(config).apps
    compiled_metrics, python_metrics = RumMetrics(config), RumMetrics(config)
    compiled_metrics._combos.size = python_metrics._combos.size = combinations
    compiled = recorder(compiled_metrics, _no_accept)[0]
    python = recorder(python_metrics, _no_accept, pure=True)[0]
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


def test_compiled_rate_limit_moves_a_client_back_exactly_as_python(tmp_path: Path) -> None:
    """A client seen again exactly one second after it last moved goes to the back of
    the line; the next new client then evicts the other one."""
    _require_compiled()
    path = tmp_path / "gateway.yml"
    path.write_text(
        CONFIG.replace(
            "per_second: 0.2, burst: 2, max_clients: 4", "per_second: 1, burst: 5, max_clients: 2"
        )
    )
    pipelines = [Pipeline(load_config(str(path))) for _ in range(2)]
    readers = [
        request_reader(pipelines[0], _SYNTHETIC_HEADER, _MAX_CACHED_HEADERS),
        request_reader(pipelines[1], _SYNTHETIC_HEADER, _MAX_CACHED_HEADERS, pure=True),
    ]
    chrome = _HEADER_VALUES[b"user-agent"][1]
    kept = []
    for read, pipeline in zip(readers, pipelines, strict=True):
        for peer, now in (
            ("192.0.2.1", 0.0),
            ("192.0.2.2", 0.5),
            ("192.0.2.1", 1.0),
            ("192.0.2.3", 1.2),
        ):
            read({"type": "http", "headers": [(b"user-agent", chrome)], "client": (peer, 1)}, now)
        kept.append(list(pipeline.limiter._buckets))
    assert kept[0] == kept[1]
    assert len(kept[0]) == 2 and hash("192.0.2.2") not in kept[0]  # B was the oldest


def _mutated(rng: random.Random, body: bytes) -> bytes:
    """``body`` as a broken or hostile client might send it."""
    roll = rng.random()
    if roll < 0.2:
        return body[: rng.randrange(len(body))]  # truncated
    if roll < 0.4:
        return body.replace(b'"v": 1', b'"v": 2')
    if roll < 0.6:
        return body.replace(b'"sr": ', b'"sr": -', 1)
    if roll < 0.8:
        return body.replace(b'"app": "shop"', b'"app": "ghost"')
    return body.replace(b"/", b"\xff", 1)  # not UTF-8


def test_compiled_and_python_accept_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway's accept step, compiled and Python, on 3,000 bodies (valid, broken,
    hostile, too many events, unknown apps) under origins allowed, foreign and missing:
    the same answer every time, with the same reason and message, and the same
    exposition at every scrape."""
    _require_compiled()
    path = tmp_path / "gateway.yml"
    blog = '    origins: ["https://blog.example.com"]\n'
    path.write_text(
        CONFIG.replace(blog, blog + "    allow_missing_origin: true\n").replace(
            "  max_countries: 5\n", "  max_countries: 5\n  max_events: 6\n"
        )
    )
    compiled = create_app(str(path))
    monkeypatch.setenv(PURE_ENV, "1")
    python = create_app(str(path))
    monkeypatch.delenv(PURE_ENV)
    assert compiled._accept != compiled.accept and python._accept == python.accept
    # first of all (nothing cached yet): an origin another app allows, for this app
    blog_beacon = json.dumps({"v": 1, "app": "blog", "views": [{"path": "/"}]}).encode()
    for gateway in (compiled, python):
        pipeline = gateway.reloader.current
        facts = pipeline.facts({b"origin": b"https://shop.example.com"}.get)
        assert gateway._accept(pipeline, blog_beacon, facts, "SG", "South-eastern Asia") == (
            "origin",
            "origin 'https://shop.example.com' is not allowed for this app",
        )
    rng = random.Random(12)
    origins = [b"https://shop.example.com", b"https://blog.example.com", b"https://evil.example"]
    answers: dict[str | None, int] = {}
    for i in range(3000):
        body = _random_beacon(rng)
        if rng.random() < 0.3:
            body = _mutated(rng, body)
        headers = {b"user-agent": _HEADER_VALUES[b"user-agent"][rng.choice([0, 1])]}
        if rng.random() < 0.85:
            headers[b"origin"] = rng.choice(origins)
        country = rng.choice([("SG", "South-eastern Asia"), ("DE", "Western Europe")])
        got = [
            gateway._accept(
                gateway.reloader.current,
                body,
                gateway.reloader.current.facts(headers.get),
                *country,
            )
            for gateway in (compiled, python)
        ]
        assert got[0] == got[1], body
        reason = None if got[0] is None else got[0][0]
        answers[reason] = answers.get(reason, 0) + 1
        if i % 500 == 499:
            assert compiled.metrics.render() == python.metrics.render()
    assert {None, "origin", "unknown_app", "bad_json", "bad_schema", "bad_value"} <= set(answers)
    assert answers[None] > 500
    too_many = json.dumps({"v": 1, "app": "blog", "views": [{"path": "/"}] * 7}).encode()
    for gateway in (compiled, python):
        pipeline = gateway.reloader.current
        assert gateway._accept(pipeline, too_many, pipeline.facts({}.get), *country) == (
            "bad_schema",
            "7 events (views + api + errors) exceed the limit of 6",
        )
