"""Gateway config: the embedded default, the example, and bad files with their exact errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rum_gateway.config import DEFAULT_VIEWS, load_config
from twinlens.check_config import check_file
from twinlens.runtime.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_embedded_default() -> None:
    config = load_config(None)
    assert list(config.apps) == ["demo"]
    assert config.apps["demo"].origins == ["http://127.0.0.1", "http://localhost", "http://[::1]"]
    assert config.geo.country_header == "CF-IPCountry"
    assert [str(c.network) for c in config.trusted_proxies] == ["127.0.0.0/8", "::1/128"]
    assert {k: tuple(v) for k, v in config.views.items()} == DEFAULT_VIEWS
    assert config.limits.max_body_size == 65536 and config.limits.max_series == 50_000


def test_example_is_valid_and_is_told_apart_by_check_config() -> None:
    kind, config = check_file(str(ROOT / "examples" / "gateway.yml"))
    assert kind == "gateway"
    assert config.apps["shop"].routes == ["/products/{id}", "/category/{slug}", "/help/{page*}"]
    assert config.limits.rate_limit.burst == 100


def test_smallest_config_from_design(tmp_path: Path) -> None:
    path = tmp_path / "g.yml"
    path.write_text(
        'apps:\n  shop:\n    origins: ["https://shop.example.com"]\n'
        "geo:\n  country_header: CF-IPCountry\n"
    )
    config = load_config(str(path))
    assert config.apps["shop"].max_routes == 200
    assert config.trusted_proxies == []


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "g.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(str(path))
    assert exc.value.source == str(path)
    return exc.value.errors


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        ("apps: {}\n", ["apps: at least one app is required (line 1)"]),
        ("geo: {}\n", ["apps: required field is missing"]),
        ("- a\n", ["(top level): expected a mapping with `apps:`"]),
        (
            "apps:\n  shop:\n    origins: []\n",
            ["apps.shop.origins: at least one origin is required (line 3)"],
        ),
        (
            "apps:\n  shop:\n    origins: [https://a.com/x]\n",
            [
                "apps.shop.origins[0]: an origin looks like https://shop.example.com, "
                "https://*.example.com or http://127.0.0.1:8080 (scheme, host, optional port, "
                "no path), not 'https://a.com/x' (line 3)"
            ],
        ),
        (
            "apps:\n  shop:\n    origins: [https://a.com]\n    routes: ['/p/{id']\n",
            [
                "apps.shop.routes[0]: bad placeholder in route template '/p/{id' (write "
                "{name} for one segment or {name*} for the rest of the path) (line 4)"
            ],
        ),
        (
            "apps:\n  shop:\n    origins: [https://a.com]\n    max_routes: 0\n",
            ["apps.shop.max_routes: Expected `int` >= 1 (line 4)"],
        ),
        (
            "apps:\n  'a b':\n    origins: [https://a.com]\n",
            [
                "apps.a b: app names are 1-64 letters, digits, '_', '.', '-' "
                "(the `app` label) (line 2)"
            ],
        ),
        (
            "apps:\n  shop:\n    origins: [https://a.com]\ngeo:\n  database: /nope.mmdb\n",
            ["geo.database: '/nope.mmdb' does not exist or is not a file (line 5)"],
        ),
        (
            "apps:\n  shop:\n    origins: [https://a.com]\nlimits:\n  max_body_size: 2MB\n",
            ["limits.max_body_size: must be between 1KiB and 1MiB (line 5)"],
        ),
        (
            "apps:\n  shop:\n    origins: [https://a.com]\nviews:\n  by_geo: [country, planet]\n",
            [
                "views.by_geo[1]: unknown label 'planet' (one of route, device, browser, "
                "country, region, nav_type, connection; `app` is always included) (line 5)"
            ],
        ),
        (
            "apps:\n  shop:\n    origins: [https://a.com]\nviews:\n  Geo: [country]\n",
            [
                "views.Geo: a view is named `default` or `by_<name>` (lowercase), which becomes "
                "part of the metric name (rum_lcp_by_geo_seconds) (line 5)"
            ],
        ),
    ],
)
def test_bad_configs(tmp_path: Path, text: str, errors: list[str]) -> None:
    assert _errors(tmp_path, text) == errors


def test_every_error_at_once(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        "apps:\n"
        "  shop:\n"
        "    origins: [shop.example.com]\n"  # 3
        "    colour: red\n"  # 4
        "geo:\n"
        "  country_header: 'bad header'\n"  # 6
        "trusted_proxies: [10.0.0.0/33]\n"  # 7
        "limits:\n"
        "  max_series: 5\n"  # 9
        "  rate_limit: {per_second: 0}\n"  # 10
        "views:\n"
        "  default: [route, route]\n",  # 12
    )
    assert [e.split(":")[0] for e in errors] == [
        "apps.shop.origins[0]",
        "apps.shop.colour",
        "geo.country_header",
        "trusted_proxies[0]",
        "limits.max_series",
        "limits.rate_limit.per_second",
        "views.default",
    ]
    assert errors[1].startswith("apps.shop.colour: field colour not found (known fields: ")
