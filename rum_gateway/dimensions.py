"""Label values from raw request facts: route, device, browser, country, region, client IP.

Every function here maps unbounded input (paths, user agents, header values) onto a small
known set, so a label can never be a raw URL or a user agent. They are pure, and the costly
ones sit behind bounded caches because the same few paths and user agents repeat::

    >>> normalize_path("/orders/8f14e45f-ceea-467f-a0e6-0d5c6f7b2a11/items/42?x=1")
    '/orders/{uuid}/items/{id}'
    >>> classify_user_agent(IPHONE_SAFARI)
    UserAgentInfo(device='mobile', browser='safari', bot=False, headless=False)
    >>> region_of("SG")
    'South-eastern Asia'

The per-app caps (top-N routes, then ``other``) live in :mod:`rum_gateway.metrics`, with
the rest of the label budget.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "BROWSERS",
    "DEVICES",
    "UNKNOWN",
    "BoundedCache",
    "GeoSource",
    "RouteResolver",
    "RouteTemplates",
    "TrustedProxies",
    "UserAgentClassifier",
    "UserAgentInfo",
    "classify_user_agent",
    "country_code",
    "normalize_path",
    "region_of",
    "regions",
    "status_class",
]

K = TypeVar("K")
V = TypeVar("V")

UNKNOWN = "unknown"
DEVICES = ("mobile", "tablet", "desktop", "other")
BROWSERS = ("chrome", "edge", "firefox", "safari", "samsung", "opera", "other")

#: Path segments kept per route; deeper paths end in ``/{rest*}``.
MAX_SEGMENTS = 8
#: Longest route label, in characters (longer ones are cut and end in ``{rest*}``).
MAX_ROUTE_LENGTH = 200


class BoundedCache(OrderedDict[K, V]):
    """A dict that forgets its oldest entries past ``size`` (FIFO: cheap, and enough when
    the hot keys are re-inserted soon after an eviction).

    An OrderedDict, so forgetting the oldest entry is O(1) under a flood of new keys (a
    plain dict's first live entry sits behind every deleted one, and finding it grows
    with the churn).

    >>> c = BoundedCache(2); c["a"] = 1; c["b"] = 2; c["c"] = 3; list(c)
    ['b', 'c']
    """

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def __setitem__(self, key: K, value: V) -> None:
        if len(self) >= self.size and key not in self:
            self.popitem(last=False)
        super().__setitem__(key, value)


# --- routes ---------------------------------------------------------------------------------

_TEMPLATE_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\*?)\}")


class RouteTemplates:
    """Route templates such as ``/products/{id}`` compiled into one regular expression.

    ``{name}`` matches one path segment, ``{name*}`` the rest of the path. A trailing slash
    in the path is ignored. The first template that matches wins.

    >>> RouteTemplates(["/products/{id}", "/docs/{page*}"]).match("/docs/a/b")
    '/docs/{page*}'
    """

    __slots__ = ("_regex", "templates")

    def __init__(self, templates: Sequence[str]) -> None:
        self.templates = tuple(templates)
        parts = []
        for i, template in enumerate(self.templates):
            if not template.startswith("/") or len(template) > MAX_ROUTE_LENGTH:
                raise ValueError(
                    f"a route template starts with / and has at most {MAX_ROUTE_LENGTH} "
                    f"characters: {template!r}"
                )
            if "{" in _TEMPLATE_PARAM.sub("", template) or "}" in _TEMPLATE_PARAM.sub("", template):
                raise ValueError(
                    f"bad placeholder in route template {template!r} (write {{name}} for one "
                    "segment or {name*} for the rest of the path)"
                )
            body = template.rstrip("/")
            pattern, pos = "", 0
            for m in _TEMPLATE_PARAM.finditer(body):
                pattern += re.escape(body[pos : m.start()]) + (".+" if m.group(2) else "[^/]+")
                pos = m.end()
            pattern += re.escape(body[pos:])
            parts.append(f"(?P<t{i}>{pattern})")
        self._regex = re.compile("^(?:" + "|".join(parts) + ")/?$") if parts else None

    def match(self, path: str) -> str | None:
        """The first template matching ``path`` (no query string), or None."""
        if self._regex is None:
            return None
        m = self._regex.match(path)
        if m is None or m.lastgroup is None:
            return None
        return self.templates[int(m.lastgroup[1:])]

    def __bool__(self) -> bool:
        return bool(self.templates)

    def __repr__(self) -> str:
        return f"RouteTemplates({list(self.templates)!r})"


_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
_HEX = re.compile(r"^[0-9a-fA-F]{12,}$")
_DIGIT = re.compile(r"\d")


def _collapse_segment(segment: str) -> str:
    if segment.isdigit():
        return "{id}"
    if len(segment) >= 32 and _UUID.match(segment):
        return "{uuid}"
    if _HEX.match(segment) and _DIGIT.search(segment):
        return "{hash}"
    if len(segment) > 40 or (len(segment) >= 16 and _DIGIT.search(segment)):
        return "{token}"
    return segment


def strip_url(path: str) -> str:
    """The path alone: no ``scheme://host``, query string or fragment; at least ``/``."""
    if "://" in path[:12]:
        rest = path.split("://", 1)[1]
        slash = rest.find("/")
        path = rest[slash:] if slash >= 0 else "/"
    for sep in ("?", "#"):
        if sep in path:
            path = path.split(sep, 1)[0]
    return path if path.startswith("/") else "/" + path


def normalize_path(path: str) -> str:
    """A URL path with its variable parts collapsed, so it can be a ``route`` label.

    Numeric ids → ``{id}``, UUIDs → ``{uuid}``, hex hashes (12+ hex digits) → ``{hash}``,
    long tokens (16+ characters with a digit, or over 40) → ``{token}``. Query, fragment,
    empty segments and the trailing slash go; past :data:`MAX_SEGMENTS` segments the rest
    becomes ``{rest*}``.

    >>> normalize_path("https://shop.example.com/u/12345/avatar/")
    '/u/{id}/avatar'
    """
    segments = [s for s in strip_url(path).split("/") if s]
    out = [_collapse_segment(s) for s in segments[:MAX_SEGMENTS]]
    if len(segments) > MAX_SEGMENTS:
        out.append("{rest*}")
    route = "/" + "/".join(out)
    if len(route) > MAX_ROUTE_LENGTH:
        route = route[: MAX_ROUTE_LENGTH - 8].rsplit("/", 1)[0] + "/{rest*}"
    return route


class RouteResolver:
    """Path (and the SDK's own route, if sent) → route label, before the per-app cap.

    Order: the app's configured templates (matched on the real path), then the SDK's
    route if it sent one, else the path — both through :func:`normalize_path`, since
    either may come from a hostile client.

    >>> RouteResolver(RouteTemplates(["/p/{slug}"]))("/p/blue-shoes", None)
    '/p/{slug}'
    """

    __slots__ = ("_cache", "templates")

    def __init__(self, templates: RouteTemplates, cache_size: int = 16_384) -> None:
        self.templates = templates
        # keyed by the path alone when there is no SDK route (most calls): one object
        # fewer to read per lookup than a (path, None) tuple
        self._cache: BoundedCache[str | tuple[str, str], str] = BoundedCache(cache_size)

    def __call__(self, path: str, route: str | None) -> str:
        key = path if route is None else (path, route)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self.resolve(path, route)
        return hit

    def resolve(self, path: str, route: str | None) -> str:
        """The route label, worked out afresh (no cache)."""
        bare = strip_url(path)
        result = self.templates.match(bare) if self.templates else None
        return normalize_path(route if route else bare) if result is None else result


_STATUS_CLASSES = {s: f"{s // 100}xx" for s in range(100, 600)}


def status_class(status: int) -> str:
    """HTTP status → ``1xx`` … ``5xx``; 0 (network error, CORS, abort) → ``error`` (the
    value the generated API-error alerts and dashboards match with ``5xx|error``).

    >>> status_class(404), status_class(0)
    ('4xx', 'error')
    """
    return _STATUS_CLASSES.get(status, "error")


# --- user agents ----------------------------------------------------------------------------


class UserAgentInfo(NamedTuple):
    device: str
    browser: str
    bot: bool
    headless: bool


IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)

# Tools and crawlers ua-parser does not call "Spider". "bot" must stand alone or end a
# product token (Foobot/1.0) so Cubot phones ("CUBOT X30") are not bots.
_TOOLS = re.compile(
    r"\b(?:curl|wget|python-requests|python-urllib|python-httpx|aiohttp|go-http-client|"
    r"okhttp|java|apache-httpclient|libwww-perl|scrapy|httpie|node-fetch|axios|postmanruntime|"
    r"uptimerobot|pingdom|statuscake|gtmetrix|site24x7|bot)\b|bot[/;)]|crawler|spider|slurp",
    re.IGNORECASE,
)
_HEADLESS = re.compile(r"HeadlessChrome|PhantomJS|Lighthouse|SlimerJS|Electron/", re.IGNORECASE)
_TABLET = re.compile(r"iPad|Tablet|Kindle|Silk/|PlayBook|Nexus (?:7|9|10)\b|SM-T\d", re.IGNORECASE)
_MOBILE = re.compile(
    r"Mobi|iPhone|iPod|Windows Phone|BlackBerry|BB10|Opera Mini|IEMobile", re.IGNORECASE
)
_DESKTOP = re.compile(r"Windows NT|Macintosh|Mac OS X|X11|CrOS|Linux x86_64", re.IGNORECASE)

_BROWSER_PREFIXES = (
    ("Edge", "edge"),
    ("Samsung Internet", "samsung"),
    ("Opera", "opera"),
    ("Chrome", "chrome"),
    ("Chromium", "chrome"),
    ("HeadlessChrome", "chrome"),
    ("Firefox", "firefox"),
    ("Mobile Safari", "safari"),
    ("Safari", "safari"),
)
_BRANDS = (("Microsoft Edge", "edge"), ("Opera", "opera"), ("Google Chrome", "chrome"))


@cache
def _ua_parser() -> Callable[[str], Any]:
    # Imported on first use: loading ua-parser's rules takes a moment and a process that
    # never sees a beacon (check-config) should not pay it.
    import ua_parser

    domains = ua_parser.Domain.USER_AGENT | ua_parser.Domain.DEVICE

    def parse(ua: str) -> Any:
        return ua_parser.parser(ua, domains)

    return parse


def _browser_family(family: str) -> str:
    for prefix, name in _BROWSER_PREFIXES:
        if family.startswith(prefix):
            return name
    return "other"


def classify_user_agent(user_agent: str, ch_mobile: str = "", ch_brands: str = "") -> UserAgentInfo:
    """Device class, browser family and bot flags from a User-Agent and Client Hints.

    ``ch_mobile`` is ``Sec-CH-UA-Mobile`` (``?1`` means a phone) and ``ch_brands`` is
    ``Sec-CH-UA``, used when the User-Agent alone names no known browser. An empty user
    agent is a bot: every browser sends one.
    """
    if not user_agent:
        return UserAgentInfo("other", "other", True, False)
    parsed = _ua_parser()(user_agent)
    family = parsed.user_agent.family if parsed.user_agent else "Other"
    device_family = parsed.device.family if parsed.device else "Other"
    bot = device_family == "Spider" or _TOOLS.search(user_agent) is not None
    headless = _HEADLESS.search(user_agent) is not None
    browser = _browser_family(family)
    if browser == "other" and ch_brands:
        browser = next((name for brand, name in _BRANDS if brand in ch_brands), "other")
    if ch_mobile == "?1" or (_MOBILE.search(user_agent) and not _TABLET.search(user_agent)):
        device = "mobile"
    elif device_family == "iPad" or _TABLET.search(user_agent) or "Android" in user_agent:
        device = "tablet"  # Android without "Mobile" is a tablet by Google's own convention
    elif _DESKTOP.search(user_agent):
        device = "desktop"
    else:
        device = "other"
    return UserAgentInfo(device, browser, bot, headless)


# --- geography ------------------------------------------------------------------------------


@cache
def _regions() -> dict[str, str]:
    path = Path(__file__).with_name("data") / "m49_subregions.csv"
    with path.open(encoding="utf-8") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {row["country"]: row["sub_region"] or UNKNOWN for row in rows}


def region_of(country: str) -> str:
    """UN M49 sub-region of an ISO 3166-1 alpha-2 code; ``unknown`` for anything else."""
    return _regions().get(country, UNKNOWN)


def regions() -> frozenset[str]:
    """Every value the ``region`` label can take (17 M49 sub-regions and ``unknown``)."""
    return frozenset(_regions().values()) | {UNKNOWN}


def country_code(value: str | None) -> str:
    """A header or database value → a known ISO 3166-1 alpha-2 code, else ``unknown``.

    CDN placeholders (``XX``, Cloudflare's ``T1`` for Tor) and made-up codes are
    ``unknown``, so the ``country`` label holds at most ~250 values whatever is sent.

    >>> country_code(" de "), country_code("T1"), country_code("Narnia")
    ('DE', 'unknown', 'unknown')
    """
    if not value or len(value) > 8:
        return UNKNOWN
    code = value.strip().upper()
    return code if code in _regions() else UNKNOWN


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TrustedProxies:
    """Which peers may speak for the client (``X-Forwarded-For``, the country header).

    >>> tp = TrustedProxies(["10.0.0.0/8"])
    >>> tp.client_ip("10.0.0.5", "203.0.113.7, 10.0.0.9")
    ('203.0.113.7', True)
    >>> tp.client_ip("198.51.100.1", "203.0.113.7")
    ('198.51.100.1', False)
    """

    __slots__ = ("_cache", "networks")

    def __init__(self, networks: Sequence[Any]) -> None:
        self.networks = tuple(
            getattr(n, "network", None) or ipaddress.ip_network(n) for n in networks
        )
        # keyed by hash(address): client IPs are not kept, only a salted 64-bit digest
        self._cache: BoundedCache[int, int] = BoundedCache(65_536)

    def _kind(self, address: str) -> int:
        """1: a trusted proxy; 0: another valid IP; -1: not an IP (cached, bounded)."""
        digest = hash(address)
        hit = self._cache.get(digest)
        if hit is None:
            try:
                ip: Address = ipaddress.ip_address(address)
            except ValueError:
                hit = -1
            else:
                hit = 1 if any(ip in net for net in self.networks) else 0
            self._cache[digest] = hit
        return hit

    def trusted(self, address: str) -> bool:
        return self._kind(address) == 1

    def client_ip(self, peer: str, forwarded_for: str | None) -> tuple[str, bool]:
        """(client IP, whether the direct peer is a trusted proxy).

        ``X-Forwarded-For`` is read right to left only while the hops are trusted proxies;
        the first untrusted hop is the client. From an untrusted peer it is ignored.
        """
        if not self.networks or self._kind(peer) != 1:
            return peer, False
        if not forwarded_for:
            return peer, True
        hops = [h.strip() for h in forwarded_for.split(",")[-16:]]
        for hop in reversed(hops):
            kind = self._kind(hop)
            if kind == 0:
                return hop, True
            if kind == -1:
                return peer, True  # a garbled hop: believe nothing past it
        return hops[0] or peer, True


class GeoSource:
    """Country of a request: a trusted CDN header first, then a GeoIP2 database if given.

    The database is opened once (at start and on reload); lookups are cached by a salted
    hash of the IP (``hash()``, keyed per process), so the cache holds no addresses.
    """

    __slots__ = ("_cache", "_reader", "_regions", "header")

    def __init__(self, header: str = "", database: str = "") -> None:
        self.header = header.lower()
        self._reader: Any = None
        if database:
            import maxminddb

            self._reader = maxminddb.open_database(database)
        self._cache: BoundedCache[int, str] = BoundedCache(65_536)
        self._regions = _regions()

    def locate(self, header_value: str | None, ip: str) -> tuple[str, str]:
        """(country, region) — :meth:`country` and :func:`region_of` in one call."""
        country = self.country(header_value, ip)
        return country, self._regions.get(country, UNKNOWN)

    def country(self, header_value: str | None, ip: str) -> str:
        """``header_value`` is the country header as received, or None when the peer is
        not a trusted proxy (then only the database is asked)."""
        if header_value:
            code = country_code(header_value)
            if code != UNKNOWN or self._reader is None:
                return code
        if self._reader is None:
            return UNKNOWN
        digest = hash(ip)
        hit = self._cache.get(digest)
        if hit is None:
            hit = self._lookup(ip)
            self._cache[digest] = hit
        return hit

    def _lookup(self, ip: str) -> str:
        try:
            record = self._reader.get(ip)
        except ValueError:
            return UNKNOWN
        if not isinstance(record, dict):
            return UNKNOWN
        for key in ("country", "registered_country"):
            entry = record.get(key)
            if isinstance(entry, dict) and isinstance(entry.get("iso_code"), str):
                return country_code(entry["iso_code"])
        return UNKNOWN


class UserAgentClassifier:
    """:func:`classify_user_agent` behind a bounded cache keyed by the three headers.

    Real traffic repeats a few hundred user agents; a flood of random ones costs one
    ~10 µs parse each and evicts the oldest entries, never more memory than ``size``.
    """

    __slots__ = ("_cache",)

    def __init__(self, size: int = 16_384) -> None:
        self._cache: BoundedCache[tuple[str, str, str], UserAgentInfo] = BoundedCache(size)

    def __call__(self, user_agent: str, ch_mobile: str = "", ch_brands: str = "") -> UserAgentInfo:
        # Only what is classified is kept: the key is bounded like the parse, so a flood of
        # huge headers costs at most size x ~1.3 KB, not size x the header limit.
        user_agent, ch_mobile, ch_brands = user_agent[:1024], ch_mobile[:8], ch_brands[:256]
        key = (user_agent, ch_mobile, ch_brands)
        hit = self._cache.get(key)
        if hit is None:
            hit = classify_user_agent(user_agent, ch_mobile, ch_brands)
            self._cache[key] = hit
        return hit
