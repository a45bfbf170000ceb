"""Gateway config: apps and their origins, routes, views, limits, geo source, trusted proxies.

Loaded like the exporter's: YAML decoded once into frozen structures by the runtime walker,
every error reported at once with its path, templates and origins compiled at load so the
ingest path parses nothing. The smallest config::

    apps:
      shop:
        origins: ["https://shop.example.com"]
    geo:
      country_header: CF-IPCountry

``load_config(None)`` returns the embedded default (:data:`EMBEDDED_CONFIG`): an app
``demo`` accepting beacons from ``http://127.0.0.1`` and ``http://localhost`` pages, with the
country taken from ``CF-IPCountry`` when the request comes from loopback.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import msgspec

from rum_gateway.dimensions import RouteTemplates
from rum_gateway.protect import OriginRule
from twinlens.runtime.config import CIDR, ByteSize, ConfigError, decode, load_yaml, parse_yaml

__all__ = [
    "DEFAULT_VIEWS",
    "EMBEDDED_CONFIG",
    "VIEW_LABELS",
    "App",
    "Config",
    "Geo",
    "Limits",
    "Protection",
    "RateLimit",
    "load_config",
]

#: Dimensions a vitals view may be labelled by (``app`` is always the first label).
VIEW_LABELS = ("route", "device", "browser", "country", "region", "nav_type", "connection")

#: The vitals views of DESIGN.md: name -> labels after ``app``. ``default`` gives
#: ``rum_lcp_seconds``; ``by_geo`` gives ``rum_lcp_by_geo_seconds``; and so on.
DEFAULT_VIEWS: dict[str, tuple[str, ...]] = {
    "default": ("route", "device"),
    "by_geo": ("region", "country", "device"),
    "by_browser": ("browser", "device"),
}

_APP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_VIEW_NAME = re.compile(r"^by_[a-z][a-z0-9_]{0,30}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


class _Base(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


def _Range(lo: int, hi: int) -> object:
    return msgspec.Meta(ge=lo, le=hi)


class App(_Base, frozen=True):
    """One monitored web app: where its beacons may come from and how its routes look."""

    #: ``https://shop.example.com`` (that host, any port unless one is given) or
    #: ``https://*.example.com`` (subdomains on a dot boundary, not the apex)
    origins: list[str]
    #: accept beacons without an ``Origin`` header (server-side senders); browsers send one
    allow_missing_origin: bool = False
    #: route templates such as ``/products/{id}`` (``{name*}`` matches the rest of the path)
    routes: list[str] = []
    #: the same for the paths of API calls the page makes
    api_routes: list[str] = []
    #: distinct ``route`` values kept per app; later new ones become ``other``
    max_routes: Annotated[int, _Range(1, 10_000)] = 200
    #: distinct ``api_route`` values kept per app; later new ones become ``other``
    max_api_routes: Annotated[int, _Range(1, 10_000)] = 200


class Geo(_Base, frozen=True):
    """Where the ``country`` label comes from: a trusted CDN header, a GeoIP2 database, both."""

    #: e.g. CF-IPCountry, CloudFront-Viewer-Country, X-Vercel-IP-Country (only honoured on
    #: requests from ``trusted_proxies``)
    country_header: str = ""
    #: a GeoIP2 / GeoLite2 Country or City ``.mmdb`` file, looked up by client IP
    database: str = ""


class RateLimit(_Base, frozen=True):
    """A token bucket per client IP: ``burst`` beacons at once, refilled at ``per_second``."""

    per_second: Annotated[float, msgspec.Meta(gt=0, le=1e6)] = 5.0
    burst: Annotated[int, _Range(1, 1_000_000)] = 100
    #: clients tracked at once (least recently seen are forgotten first)
    max_clients: Annotated[int, _Range(1, 10_000_000)] = 100_000


class Limits(_Base, frozen=True):
    """Caps on what one beacon and the whole label set may cost."""

    #: request body cap, raw and after gzip decompression (1KiB to 1MiB)
    max_body_size: ByteSize = ByteSize(64 * 1024)
    #: views + API calls + errors in one beacon
    max_events: Annotated[int, _Range(1, 10_000)] = 200
    #: Prometheus series this gateway may create across all rum_* families
    max_series: Annotated[int, _Range(100, 10_000_000)] = 50_000
    #: distinct ``country`` values; later new ones become ``unknown``
    max_countries: Annotated[int, _Range(1, 300)] = 250
    rate_limit: RateLimit = RateLimit()


class Protection(_Base, frozen=True):
    """Which traffic is left out of RUM (and counted in ``rum_beacons_rejected_total``)."""

    #: crawlers and tools by User-Agent (reason ``bot``)
    reject_bots: bool = True
    #: headless browsers (HeadlessChrome, PhantomJS, Lighthouse...; reason ``bot``)
    reject_headless: bool = True


class Config(_Base, frozen=True):
    """The whole gateway config (see the module docstring and README "RUM gateway")."""

    apps: dict[str, App]
    geo: Geo = Geo()
    #: proxies / CDN edges whose X-Forwarded-For and country header are believed
    trusted_proxies: list[CIDR] = []
    limits: Limits = Limits()
    protection: Protection = Protection()
    #: vitals views: ``default`` or ``by_<name>`` -> labels after ``app``
    views: dict[str, list[str]] = msgspec.field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_VIEWS.items()}
    )


def _semantic_errors(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, message) for values that are well-typed but unusable.

    These run over the raw YAML data next to the typed decode rather than in each struct's
    ``__post_init__``: the walker only runs a struct's validator once all its fields
    decoded, and a person fixing a config wants a bad origin reported in the same run as
    an unknown key beside it. Values of the wrong type are skipped here (decode reports them).
    """
    out: list[tuple[str, str]] = []
    apps = data.get("apps")
    if isinstance(apps, dict):
        if not apps:
            out.append(("apps", "at least one app is required"))
        for name, app in apps.items():
            where = f"apps.{name}"
            if not isinstance(name, str) or not _APP_NAME.match(name):
                out.append(
                    (where, "app names are 1-64 letters, digits, '_', '.', '-' (the `app` label)")
                )
            if not isinstance(app, dict):
                continue
            origins = app.get("origins")
            if isinstance(origins, list):
                if not origins:
                    out.append((f"{where}.origins", "at least one origin is required"))
                for i, origin in enumerate(origins):
                    if isinstance(origin, str):
                        try:
                            OriginRule(origin)
                        except ValueError as exc:
                            out.append((f"{where}.origins[{i}]", str(exc)))
            for field in ("routes", "api_routes"):
                templates = app.get(field)
                if isinstance(templates, list):
                    for i, template in enumerate(templates):
                        if isinstance(template, str):
                            try:
                                RouteTemplates([template])
                            except ValueError as exc:
                                out.append((f"{where}.{field}[{i}]", str(exc)))
    geo = data.get("geo")
    if isinstance(geo, dict):
        header = geo.get("country_header")
        if isinstance(header, str) and header and not _HEADER_NAME.match(header):
            out.append(("geo.country_header", f"not a valid header name: {header!r}"))
        database = geo.get("database")
        if isinstance(database, str) and database and not Path(database).is_file():
            out.append(("geo.database", f"{database!r} does not exist or is not a file"))
    limits = data.get("limits")
    if isinstance(limits, dict) and "max_body_size" in limits:
        try:
            size = ByteSize.parse(limits["max_body_size"])
        except ValueError:
            pass  # decode reports it
        else:
            if not 1024 <= size <= 1024 * 1024:
                out.append(("limits.max_body_size", "must be between 1KiB and 1MiB"))
    views = data.get("views")
    if isinstance(views, dict):
        if not views:
            out.append(("views", "at least one view is required"))
        for name, labels in views.items():
            where = f"views.{name}"
            if name != "default" and not (isinstance(name, str) and _VIEW_NAME.match(name)):
                out.append(
                    (
                        where,
                        "a view is named `default` or `by_<name>` (lowercase), which becomes "
                        "part of the metric name (rum_lcp_by_geo_seconds)",
                    )
                )
            if not isinstance(labels, list):
                continue
            for i, label in enumerate(labels):
                if label not in VIEW_LABELS:
                    out.append(
                        (
                            f"{where}[{i}]",
                            f"unknown label {label!r} (one of {', '.join(VIEW_LABELS)}; "
                            "`app` is always included)",
                        )
                    )
            if len({str(x) for x in labels}) != len(labels):
                out.append((where, "a label is listed twice"))
    return out


EMBEDDED_CONFIG = """\
# The gateway's built-in config (twinlens gateway with no --config.file): one app, `demo`,
# fed by pages served from this machine. Copy examples/gateway.yml to start your own.
apps:
  demo:
    origins: ["http://127.0.0.1", "http://localhost", "http://[::1]"]
geo:
  country_header: CF-IPCountry
trusted_proxies: ["127.0.0.0/8", "::1/128"]
"""


def load_config(path: str | None) -> Config:
    """Read and validate a gateway config; ``None`` means :data:`EMBEDDED_CONFIG`.

    Raises :class:`~twinlens.runtime.config.ConfigError` listing every problem with its
    path and line::

        >>> load_config(None).apps["demo"].origins[0]
        'http://127.0.0.1'
    """
    source = path or "<embedded>"
    if path is None:
        data, lines = parse_yaml(EMBEDDED_CONFIG, source)
    else:
        data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(["(top level): expected a mapping with `apps:`"], source)
    errors = []
    config: Config | None = None
    try:
        config = decode(data, Config, lines=lines)
    except ConfigError as exc:
        errors = exc.errors
    for where, message in _semantic_errors(data):
        line = next((lines[p] for p in _prefixes(where) if p in lines), None)
        errors.append(f"{where}: {message}" + (f" (line {line})" if line else ""))
    if errors or config is None:
        raise ConfigError(sorted(errors, key=_line_order), source)
    return config


def _prefixes(path: str) -> list[str]:
    out = [path]
    while "." in path or "[" in path:
        path = path[: max(path.rfind("."), path.rfind("["))]
        out.append(path)
    return out


def _line_order(message: str) -> int:
    match = re.search(r"\(line (\d+)\)$", message)
    return int(match.group(1)) if match else 0
