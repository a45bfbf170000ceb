"""Beacon v1 decoding and value validation: what is accepted, and the reason for what is not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rum_gateway.protect import REASONS
from rum_gateway.schema import LIMITS, SchemaError, check_values, decode_beacon


def beacon(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "v": 1,
        "app": "shop",
        "sr": 0.5,
        "conn": "4g",
        "views": [
            {
                "path": "/products/42",
                "route": "/products/{id}",
                "nav": "navigate",
                "pv": True,
                "vitals": {"LCP": 2480.5, "FCP": 900.0, "TTFB": 120.3, "CLS": 0.02, "INP": 88.0},
                "api": [{"method": "GET", "path": "/api/items/7", "status": 200, "ms": 182.0}],
                "errors": [{"kind": "error", "fp": "a1b2c3d4"}],
            }
        ],
    }
    body.update(overrides)
    return body


def view(**overrides: Any) -> dict[str, Any]:
    v: dict[str, Any] = {"path": "/", "pv": True}
    v.update(overrides)
    return v


def outcome(body: bytes | dict[str, Any], max_events: int = 200) -> str:
    """``ok`` or the rejection reason."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        decoded = decode_beacon(raw)
    except SchemaError as exc:
        assert exc.reason in REASONS
        return exc.reason
    problem = check_values(decoded, max_events)
    return "ok" if problem is None else problem.reason


def test_design_example_decodes() -> None:
    b = decode_beacon(json.dumps(beacon()).encode())
    assert b.app == "shop" and b.sr == 0.5 and b.conn == "4g"
    v = b.views[0]
    assert (v.path, v.route, v.nav, v.pv) == ("/products/42", "/products/{id}", "navigate", True)
    assert v.vitals is not None and (v.vitals.LCP, v.vitals.CLS) == (2480.5, 0.02)
    assert (v.api[0].method, v.api[0].status, v.api[0].ms) == ("GET", 200, 182.0)
    assert (v.errors[0].kind, v.errors[0].fp) == ("error", "a1b2c3d4")
    assert check_values(b, 200) is None


def test_defaults() -> None:
    b = decode_beacon(b'{"v":1,"app":"a","views":[{"path":"/"}]}')
    assert b.sr == 1.0 and b.conn is None
    v = b.views[0]
    assert (v.route, v.nav, v.pv, v.vitals, v.api, v.errors) == (
        None,
        "navigate",
        False,
        None,
        [],
        [],
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # accepted
        (beacon(), "ok"),
        (beacon(views=[]), "ok"),
        (beacon(sr=1), "ok"),
        (beacon(views=[view(vitals={"LCP": 0})]), "ok"),
        (beacon(views=[view(vitals={"LCP": LIMITS["LCP"]})]), "ok"),
        (beacon(views=[view(vitals={"CLS": 100})]), "ok"),
        (beacon(views=[view(vitals={"LCP": None})]), "ok"),
        (beacon(future_field={"x": 1}), "ok"),  # unknown fields: newer SDKs
        (beacon(views=[view(vitals={"LCP": 1, "rating": "good", "TBT": 5})]), "ok"),
        (beacon(views=[view(api=[{"method": "GET", "path": "/", "status": 0, "ms": 3}])]), "ok"),
        # impossible values
        (beacon(views=[view(vitals={"LCP": -1})]), "bad_value"),
        (beacon(views=[view(vitals={"LCP": LIMITS["LCP"] + 0.1})]), "bad_value"),
        (beacon(views=[view(vitals={"INP": 60_000.5})]), "bad_value"),
        (beacon(views=[view(vitals={"CLS": 100.01})]), "bad_value"),
        (b'{"v":1,"app":"a","views":[{"path":"/","vitals":{"LCP":1e999}}]}', "bad_value"),
        (
            beacon(views=[view(api=[{"method": "GET", "path": "/", "status": 200, "ms": -3}])]),
            "bad_value",
        ),
        (beacon(sr=0), "bad_value"),
        (beacon(sr=-0.5), "bad_value"),
        (beacon(sr=1.01), "bad_value"),
        # not beacon v1
        (beacon(v=2), "bad_schema"),
        (beacon(v="1"), "bad_schema"),
        ({"app": "shop", "views": []}, "bad_schema"),
        (beacon(app=None), "bad_schema"),
        (beacon(app="a" * 65), "bad_schema"),
        (beacon(views={"path": "/"}), "bad_schema"),
        (beacon(views=[{"pv": True}]), "bad_schema"),
        (beacon(views=[view(path="/" + "a" * 2048)]), "bad_schema"),
        (beacon(views=[view(route="/" + "a" * 256)]), "bad_schema"),
        (beacon(views=[view(vitals={"LCP": "fast"})]), "bad_schema"),
        (beacon(views=[view(vitals={"LCP": True})]), "bad_schema"),
        (
            beacon(views=[view(api=[{"method": "GET", "path": "/", "status": 1000, "ms": 3}])]),
            "bad_schema",
        ),
        (beacon(views=[view(errors=[{"kind": "e" * 33}])]), "bad_schema"),
        (beacon(views=[view()] * 201), "bad_schema"),  # list cap
        (beacon(views=[view()] * 101, extra=1), "ok"),
        # not JSON
        (b"", "bad_json"),
        (b"{", "bad_json"),
        (b"v=1&app=shop", "bad_json"),
        (b'{"v":1,"app":"\xff"}', "bad_encoding"),
        (b"[1, 2]", "bad_schema"),
        (b"null", "bad_schema"),
    ],
)
def test_outcome(body: bytes | dict[str, Any], expected: str) -> None:
    assert outcome(body) == expected


def test_event_cap_counts_views_api_and_errors() -> None:
    call = {"method": "GET", "path": "/", "status": 200, "ms": 3}
    body = beacon(views=[view(api=[call] * 50, errors=[{"kind": "error"}] * 49)])
    assert outcome(body, max_events=100) == "ok"  # 1 view + 50 + 49
    body = beacon(views=[view(api=[call] * 50, errors=[{"kind": "error"}] * 50)])
    assert outcome(body, max_events=100) == "bad_schema"


def test_messages_say_where() -> None:
    with pytest.raises(SchemaError) as exc:
        decode_beacon(json.dumps(beacon(views=[view(vitals={"LCP": "x"})])).encode())
    assert "$.views[0].vitals.LCP" in str(exc.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            beacon(views=[view(), view(vitals={"TTFB": -2})]),
            "views[1].vitals.TTFB must be finite, >= 0 and <= 300000, got -2.0",
        ),
        (
            beacon(views=[view(vitals={"INP": 60_000.5})]),
            "views[0].vitals.INP must be finite, >= 0 and <= 60000, got 60000.5",
        ),
        (
            beacon(views=[view(api=[{"method": "GET", "path": "/", "status": 1, "ms": 7e5}])]),
            "views[0].api[0].ms must be finite, >= 0 and <= 600000, got 700000.0",
        ),
        (beacon(sr=1.5), "sr must be in (0, 1], got 1.5"),
        (
            b'{"v":1,"app":"a","views":[{"path":"/","vitals":{"CLS":1e999}}]}',
            "views[0].vitals.CLS must be finite, >= 0 and <= 100",
        ),
    ],
)
def test_bad_value_messages_quote_the_value(body: bytes | dict[str, Any], message: str) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(SchemaError) as exc:
        decode_beacon(raw)
    assert (exc.value.reason, str(exc.value)) == ("bad_value", message)
