"""``beacon → observations``: the pure core, table-tested without a server."""

from __future__ import annotations

import json
from typing import Any

from rum_gateway.dimensions import RouteResolver, RouteTemplates
from rum_gateway.metrics import ApiObs, ViewObs
from rum_gateway.observations import ApiCallLabels, to_observations
from rum_gateway.schema import decode_beacon


def observe(body: dict[str, Any], routes: list[str] | None = None, api: list[str] | None = None):  # type: ignore[no-untyped-def]
    beacon = decode_beacon(json.dumps({"v": 1, "app": "shop", **body}).encode())
    return to_observations(
        beacon,
        RouteResolver(RouteTemplates(routes or [])),
        ApiCallLabels(RouteTemplates(api or [])),
    )


def test_design_example() -> None:
    obs = observe(
        {
            "sr": 0.5,
            "views": [
                {
                    "path": "/products/42",
                    "route": "/products/{id}",
                    "nav": "navigate",
                    "pv": True,
                    "vitals": {
                        "LCP": 2480.5,
                        "FCP": 900.0,
                        "TTFB": 120.3,
                        "CLS": 0.02,
                        "INP": 88.0,
                    },
                    "api": [{"method": "GET", "path": "/api/items/7", "status": 200, "ms": 182.0}],
                    "errors": [{"kind": "error", "fp": "a1b2c3d4"}],
                }
            ],
        }
    )
    assert obs.app == "shop"
    assert obs.views == [
        ViewObs(
            "/products/{id}",
            "navigate",
            2.0,
            (2480.5, 900.0, 120.3, 88.0, 0.02),
            [("error", 2.0)],
        )
    ]
    assert obs.api == [ApiObs("/api/items/{id}", "GET", "2xx", 182.0)]


def test_page_view_only_when_pv() -> None:
    obs = observe(
        {"sr": 0.25, "views": [{"path": "/a", "pv": True}, {"path": "/b", "nav": "soft"}]}
    )
    assert [(v.route, v.nav_type, v.page_views) for v in obs.views] == [
        ("/a", "navigate", 4.0),
        ("/b", "soft", 0.0),
    ]


def test_bounded_label_values() -> None:
    obs = observe(
        {
            "views": [
                {
                    "path": "/x",
                    "nav": "teleport",
                    "errors": [{"kind": "unhandledrejection"}, {"kind": "mystery"}],
                    "api": [
                        {
                            "method": "post",
                            "path": "https://api.example.com/v1/u/9?q=1",
                            "status": 503,
                            "ms": 5,
                        },
                        {"method": "BREW", "path": "/pot", "status": 0, "ms": 1},
                    ],
                }
            ]
        }
    )
    assert obs.views[0].nav_type == "other"
    assert obs.views[0].errors == [("unhandledrejection", 1.0), ("other", 1.0)]
    assert obs.api == [
        ApiObs("/v1/u/{id}", "POST", "5xx", 5.0),
        ApiObs("/pot", "other", "error", 1.0),
    ]


def test_templates_win() -> None:
    obs = observe(
        {
            "views": [
                {
                    "path": "/p/blue-shoes",
                    "route": "/p/:slug",
                    "api": [{"method": "GET", "path": "/api/cart/abc", "status": 200, "ms": 1}],
                }
            ]
        },
        routes=["/p/{slug}"],
        api=["/api/cart/{item}"],
    )
    assert obs.views[0].route == "/p/{slug}"
    assert obs.api[0].api_route == "/api/cart/{item}"


def test_every_vital_keeps_its_unit() -> None:
    obs = observe({"views": [{"path": "/", "vitals": {"CLS": 0.1, "INP": 16}}]})
    assert obs.views[0].vitals == (None, None, None, 16.0, 0.1)


def test_a_view_without_vitals_has_none() -> None:
    obs = observe({"views": [{"path": "/", "vitals": None}, {"path": "/b"}]})
    assert [v.vitals for v in obs.views] == [(), ()]
