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
    max_routes: int = 200
    #: distinct ``api_route`` values kept per app; later new ones become ``other``
    max_api_routes: int = 200

    def __post_init__(self) -> None:
        problems = []
        if not self.origins:
            problems.append("origins: at least one origin is required")
        for i, origin in enumerate(self.origins):
            try:
                OriginRule(origin)
            except ValueError as exc:
                problems.append(f"origins[{i}]: {exc}")
        for field in ("routes", "api_routes"):
            for i, template in enumerate(getattr(self, field)):
                try:
                    RouteTemplates([template])
                except ValueError as exc:
                    problems.append(f"{field}[{i}]: {exc}")
        for field in ("max_routes", "max_api_routes"):
            value = getattr(self, field)
            if not 1 <= value <= 10_000:
                problems.append(f"{field}: must be between 1 and 10000, got {value}")
        if problems:
            raise ValueError("\n".join(problems))


class Geo(_Base, frozen=True):
    """Where the ``country`` label comes from: a trusted CDN header, a GeoIP2 database, both."""

    #: e.g. CF-IPCountry, CloudFront-Viewer-Country, X-Vercel-IP-Country (only honoured on
    #: requests from ``trusted_proxies``)
    country_header: str = ""
    #: a GeoIP2 / GeoLite2 Country or City ``.mmdb`` file, looked up by client IP
    database: str = ""

    def __post_init__(self) -> None:
        if self.country_header and not _HEADER_NAME.match(self.country_header):
            raise ValueError(f"country_header: not a valid header name: {self.country_header!r}")
        if self.database and not Path(self.database).is_file():
            raise ValueError(f"database: {self.database!r} does not exist or is not a file")


class RateLimit(_Base, frozen=True):
    """A token bucket per client IP: ``burst`` beacons at once, refilled at ``per_second``."""

    per_second: float = 5.0
    burst: int = 100
    #: clients tracked at once (least recently seen are forgotten first)
    max_clients: int = 100_000

    def __post_init__(self) -> None:
        if not 0 < self.per_second <= 1e6 or not 1 <= self.burst <= 1_000_000:
            raise ValueError("per_second must be > 0 and burst between 1 and 1000000")
        if not 1 <= self.max_clients <= 10_000_000:
            raise ValueError("max_clients must be between 1 and 10000000")


class Limits(_Base, frozen=True):
    """Caps on what one beacon and the whole label set may cost."""

    #: request body cap, raw and after gzip decompression (at most 1 MiB)
    max_body_size: ByteSize = ByteSize(64 * 1024)
    #: views + API calls + errors in one beacon
    max_events: int = 200
    #: Prometheus series this gateway may create across all rum_* families
    max_series: int = 50_000
    #: distinct ``country`` values; later new ones become ``unknown``
    max_countries: int = 250
    rate_limit: RateLimit = RateLimit()

    def __post_init__(self) -> None:
        problems = []
        if not 1024 <= self.max_body_size <= 1024 * 1024:
            problems.append("max_body_size: must be between 1KiB and 1MiB")
        if not 1 <= self.max_events <= 10_000:
            problems.append("max_events: must be between 1 and 10000")
        if not 100 <= self.max_series <= 10_000_000:
            problems.append("max_series: must be between 100 and 10000000")
        if not 1 <= self.max_countries <= 300:
            problems.append("max_countries: must be between 1 and 300")
        if problems:
            raise ValueError("\n".join(problems))


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

    def __post_init__(self) -> None:
        problems = []
        if not self.apps:
            problems.append("apps: at least one app is required")
        for name in self.apps:
            if not _APP_NAME.match(name):
                problems.append(
                    f"apps.{name}: app names are 1-64 letters, digits, '_', '.', '-' "
                    "(they become the `app` label)"
                )
        if not self.views:
            problems.append("views: at least one view is required")
        for name, labels in self.views.items():
            if name != "default" and not _VIEW_NAME.match(name):
                problems.append(
                    f"views.{name}: a view is named `default` or `by_<name>` (lowercase), "
                    "which becomes part of the metric name (rum_lcp_by_geo_seconds)"
                )
            for label in labels:
                if label not in VIEW_LABELS:
                    problems.append(
                        f"views.{name}: unknown label {label!r} (one of {', '.join(VIEW_LABELS)};"
                        " `app` is always included)"
                    )
            if len(set(labels)) != len(labels):
                problems.append(f"views.{name}: a label is listed twice")
        if problems:
            raise ValueError("\n".join(problems))


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
    if path is None:
        data, lines = parse_yaml(EMBEDDED_CONFIG, "<embedded>")
    else:
        data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(["(top level): expected a mapping with `apps:`"], path or "<embedded>")
    try:
        return decode(data, Config, lines=lines)
    except ConfigError as exc:
        raise ConfigError(exc.errors, path or "<embedded>") from None
