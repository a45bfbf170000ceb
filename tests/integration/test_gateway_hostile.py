"""Hostile input against the real gateway app, driven in-process through its ASGI interface.

HTTP parsing is uvicorn's and is exercised in test_gateway_http.py; here the point is
volume: tens of thousands of requests through the whole beacon path in a few seconds.

- 10,000 random and mutated beacons (hypothesis): never a 5xx, every status matches its
  reason, and the rejection counters equal the refusals the senders saw, reason by reason.
- a cardinality attack (108,000 distinct paths, routes and API paths, 10,000 fake
  countries, 10,000 user agents) leaves the rum_* series under ``limits.max_series`` and the
  process's memory growth under :data:`MEMORY_BOUND`.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rum_gateway.app import Gateway, create_app
from rum_gateway.metrics import sample_value
from rum_gateway.protect import REASONS

#: Resident-memory growth allowed for the whole cardinality attack (measured: ~15 MiB).
MEMORY_BOUND = 48 * 1024 * 1024

CONFIG = """\
apps:
  shop:
    origins: ["https://shop.example.com"]
    max_routes: 300
    max_api_routes: 100
geo:
  country_header: CF-IPCountry
trusted_proxies: ["127.0.0.0/8"]
limits:
  max_series: 20000
  rate_limit: {per_second: 1000000, burst: 1000000}
"""

UAS = {
    "user": [
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Mozilla/5.0 (X11; Linux x86_64) \u00e9\u00e8",  # latin-1 bytes on the wire
    ],
    "bot": [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "curl/8.5.0",
        "",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/124.0.0.0",
    ],
    "synthetic": ["Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0 TwinlensSynthetic/0.1"],
}


class AsgiClient:
    """Calls the app's ASGI interface the way uvicorn does, one request at a time."""

    def __init__(self, app: Gateway) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()

    def close(self) -> None:
        self.loop.close()

    def request(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes = b"",
        client: str = "127.0.0.1",
    ) -> tuple[int, bytes]:
        return self.loop.run_until_complete(self._request(method, path, headers, body, client))

    async def _request(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes, client: str
    ) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers],
            "client": (client, 40000),
            "server": ("127.0.0.1", 9117),
        }
        chunks = [body[i : i + 16384] for i in range(0, len(body), 16384)] or [b""]
        status: list[int] = []
        out: list[bytes] = []

        async def receive() -> dict[str, Any]:
            if chunks:
                chunk = chunks.pop(0)
                return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
            await asyncio.Event().wait()  # the client stays connected until the answer is sent
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            elif message["type"] == "http.response.body":
                out.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status[0], b"".join(out)

    def metrics(self) -> str:
        status, body = self.request("GET", "/metrics", [])
        assert status == 200
        return body.decode()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[AsgiClient]:
    path = tmp_path / "gateway.yml"
    path.write_text(CONFIG)
    c = AsgiClient(create_app(str(path)))
    yield c
    c.close()


# --- 10,000 random and mutated beacons ------------------------------------------------------

_number = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
    st.integers(-10, 10**7),
    st.sampled_from([0, 2500, 2500.1, 1e308, -0.0, 60_000.1, 300_000]),
)
# mostly plausible values, so that a good share of the beacons is accepted
_value = st.one_of(
    st.floats(min_value=0, max_value=20_000),
    st.sampled_from([0, 16, 200, 200.1, 1800, 2500, 2500.1, 4000, 0.1, 0.25]),
    _number,
)
_text = st.text(max_size=12) | st.sampled_from(
    ["/", "/products/42", "/a/" + "x" * 3000, "\x00", "/p/\u00e9", "/orders/8f14e45fceea467f"]
)
_json = st.recursive(
    st.none() | st.booleans() | _number | _text,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
_vitals = st.dictionaries(
    st.sampled_from(["LCP", "FCP", "TTFB", "INP", "CLS"]), _value, max_size=5
) | (st.dictionaries(st.sampled_from(["LCP", "rating", "TBT"]), _json, max_size=3))
_api = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "post", "BREW", ""]) | st.text(max_size=40),
        "path": _text,
        "status": st.integers(-5, 1200) | st.sampled_from([200, 404, 503, 0]),
        "ms": _value,
    }
)
_view = st.fixed_dictionaries(
    {"path": _text},
    optional={
        "route": _text | st.none(),
        "nav": st.sampled_from(["navigate", "soft", "reload", "warp"]),
        "pv": st.booleans(),
        "vitals": _vitals | st.none(),
        "api": st.lists(_api, max_size=2),
        "errors": st.lists(
            st.fixed_dictionaries({"kind": _text, "fp": st.text(max_size=70)}), max_size=2
        ),
    },
)
_beacon = st.fixed_dictionaries(
    {
        "v": st.sampled_from([1] * 8 + [2, "1"]),
        "app": st.sampled_from(["shop"] * 8 + ["other", ""]),
        "views": st.lists(_view, max_size=3),
    },
    optional={"sr": st.sampled_from([1, 0.5, 0.01, 0, -1, 2]) | _value, "conn": _text},
)


# Mostly what browsers send, with the hostile cases mixed in.
_CTYPES = ["text/plain;charset=UTF-8"] * 4 + ["application/json", "", "text/html"]
_ORIGINS = ["https://shop.example.com"] * 6 + ["https://evilshop.example.com", "", "null"]
_COUNTRIES = ["SG", "de", "XX", "", "Atlantis", "T1"]
_ENCODINGS = [""] * 8 + ["gzip", "gzip", "br", "identity"]
_KINDS = ["user"] * 8 + ["bot", "synthetic"]
_JUNK_VALUES: list[Any] = [
    None,
    True,
    -1,
    1e308,
    "",
    "x" * 300,
    [],
    {},
    [1, "a"],
    {"LCP": "x"},
    2.5,
]


def _mutate(data: Any, rng: random.Random) -> Any:
    """``data`` with one value somewhere inside it replaced by junk."""
    if isinstance(data, dict) and data and rng.random() < 0.7:
        key = rng.choice(list(data))
        return {**data, key: _mutate(data[key], rng)}
    if isinstance(data, list) and data and rng.random() < 0.7:
        i = rng.randrange(len(data))
        return [*data[:i], _mutate(data[i], rng), *data[i + 1 :]]
    return rng.choice(_JUNK_VALUES)


def _variant(data: dict[str, Any], rng: random.Random) -> tuple[list[tuple[str, str]], bytes, str]:
    """One request derived from a drawn beacon: mutated body, varied headers."""
    mutation = rng.choice(["none", "none", "truncate", "flip", "splice", "value", "junk"])
    body = json.dumps(data).encode()
    if mutation == "truncate":
        body = body[: rng.randint(0, len(body))]
    elif mutation == "flip" and body:
        i = rng.randrange(len(body))
        body = body[:i] + bytes([rng.randrange(256)]) + body[i + 1 :]
    elif mutation == "splice":
        i = rng.randint(0, len(body))
        body = body[:i] + rng.randbytes(rng.randint(1, 20)) + body[i:]
    elif mutation == "value":
        body = json.dumps(_mutate(data, rng)).encode()
    elif mutation == "junk":
        body = rng.randbytes(rng.randint(0, 200))
    if rng.randrange(40) == 0:
        body += b" " * 70_000  # over the 64 KiB cap
    encoding = rng.choice(_ENCODINGS)
    if encoding == "gzip" and rng.random() < 0.5:
        body = gzip.compress(body, 1)
    kind = rng.choice(_KINDS)
    headers = [
        ("content-type", rng.choice(_CTYPES)),
        ("origin", rng.choice(_ORIGINS)),
        ("user-agent", rng.choice(UAS[kind])),
        ("cf-ipcountry", rng.choice(_COUNTRIES)),
        ("content-encoding", encoding),
    ]
    if rng.randrange(10) == 0:
        headers.append(("x-forwarded-for", rng.choice(["203.0.113.5", "junk, 10.0.0.1", ""])))
    return [(k, v) for k, v in headers if v], body, kind


def test_hostile_beacons_never_5xx_and_every_rejection_is_counted(client: AsgiClient) -> None:
    """500 beacons drawn by hypothesis, each sent as-is and as 19 seeded variants."""
    seen: Counter[str] = Counter()

    @settings(
        max_examples=500,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(_beacon, st.randoms(use_true_random=True))
    def run(data: dict[str, Any], rng: random.Random) -> None:
        plain = [("origin", "https://shop.example.com"), ("user-agent", UAS["user"][0])]
        batch = [(plain, json.dumps(data).encode(), "user")]
        batch += [_variant(data, rng) for _ in range(19)]
        for headers, body, kind in batch:
            status, answer = client.request("POST", "/v1/beacon", headers, body)
            assert status < 500, (headers, body[:200], answer)
            if answer:
                reason = json.loads(answer)["error"]
                assert REASONS[reason] == status
            elif kind in ("bot", "synthetic"):
                assert status == 204
                reason = kind
            else:
                assert status == 204
                reason = "accepted"
            seen[reason] += 1

    run()
    total = sum(seen.values())
    assert total >= 10_000
    text = client.metrics()
    for reason in REASONS:
        assert (
            sample_value(text, "rum_beacons_rejected_total", {"reason": reason}) == seen[reason]
        ), reason
    assert sample_value(text, "rum_beacons_total", {"app": "shop"}) == seen["accepted"]
    # the mix really exercised every branch (a typical run: ~500 accepted, ~1,700 bad_json,
    # ~1,300 bad_schema, ~1,000 origin, ~190 bad_value, ~80 too_large)
    assert seen["accepted"] >= 250 and seen["bad_json"] >= 500 and seen["bad_schema"] >= 500
    assert seen["origin"] >= 300 and seen["too_large"] >= 25 and seen["bad_value"] >= 60
    assert all(seen[reason] > 0 for reason in REASONS if reason != "rate_limited")


# --- the cardinality attack -----------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_cardinality_attack_stays_under_the_budget(client: AsgiClient) -> None:
    """10,800 beacons of 10 views each: 108,000 distinct paths, forged routes, API paths and
    error kinds; 10,000 made-up countries then 800 real ones; 10,000 user agents."""
    rng = random.Random(4)
    real = ["SG", "DE", "BR", "US", "IN", "JP", "NG", "FR"]
    # warm up the code paths and caches once, so the memory measured is the attack's
    plain = [("origin", "https://shop.example.com"), ("user-agent", UAS["user"][0])]
    client.request("POST", "/v1/beacon", plain, b'{"v":1,"app":"shop","views":[]}')
    before = _rss()
    statuses: Counter[int] = Counter()
    n = 0
    for i in range(10_800):
        country = f"Z{i}" if i < 10_000 else real[i % len(real)]
        ua = UAS["user"][i % 4].replace("124.0", f"124.{i % 10_000}")
        views = []
        for _ in range(10):
            n += 1
            views.append(
                {
                    "path": f"/attack/x{rng.getrandbits(40):x}y{n}",
                    "route": f"/forged-{n}",
                    "nav": "navigate",
                    "pv": True,
                    "vitals": {
                        "LCP": rng.uniform(100, 9000),
                        "INP": rng.uniform(10, 900),
                        "CLS": rng.random(),
                    },
                    "api": [{"method": "GET", "path": f"/api/q{n}z", "status": 200, "ms": 12.5}],
                    "errors": [{"kind": f"kind-{n}", "fp": f"{n:x}"}],
                }
            )
        headers = [
            ("origin", "https://shop.example.com"),
            ("content-type", "text/plain"),
            ("user-agent", ua),
            ("cf-ipcountry", country),
            ("x-forwarded-for", f"198.51.{i % 250}.{i % 200}"),
        ]
        body = json.dumps({"v": 1, "app": "shop", "views": views}).encode()
        status, _ = client.request("POST", "/v1/beacon", headers, body)
        statuses[status] += 1
    grown = _rss() - before
    text = client.metrics()
    assert statuses == {204: 10_800}
    series = [line for line in text.splitlines() if line.startswith("rum_")]
    assert len(series) <= 20_000
    assert sample_value(text, "twinlens_gateway_series", None) == len(series)
    routes = {
        line.split('route="')[1].split('"')[0]
        for line in series
        if 'route="' in line and "api_route" not in line
    }
    countries = {line.split('country="')[1].split('"')[0] for line in series if 'country="' in line}
    kinds = {line.split('kind="')[1].split('"')[0] for line in series if 'kind="' in line}
    assert len(routes) <= 301 and "other" in routes
    assert countries == set(real) | {"unknown"}
    assert kinds == {"other"}
    assert sample_value(text, "rum_label_overflow_total", {"label": "route"}) == n - 300
    assert sample_value(text, "rum_label_overflow_total", {"label": "api_route"}) == n - 100
    assert sample_value(text, "rum_beacons_total", {"app": "shop"}) == 10_801
    assert grown < MEMORY_BOUND, f"RSS grew by {grown / 2**20:.1f} MiB"
