"""Ingest protection: allowed origins, a token bucket per client, synthetic-traffic markers.

Each check is cheap and answers before the body is decoded where it can. Rejections are
data: the caller counts them in ``rum_beacons_rejected_total{reason}`` (see :data:`REASONS`).

    >>> OriginPolicy(["https://example.com"]).allows("https://evilexample.com")
    False
    >>> limiter = RateLimiter(per_second=1, burst=1, max_clients=10)
    >>> limiter.take("198.51.100.7", now=0.0), limiter.take("198.51.100.7", now=0.0)
    (0.0, 1.0)
"""

from __future__ import annotations

import math
import re
from array import array
from collections import OrderedDict
from collections.abc import Hashable, Sequence

__all__ = [
    "REASONS",
    "SYNTHETIC_HEADER",
    "SYNTHETIC_UA_TOKEN",
    "OriginPolicy",
    "OriginRule",
    "RateLimiter",
    "is_synthetic",
    "parse_origin",
]

#: Every ``reason`` label value of ``rum_beacons_rejected_total``, with the HTTP status the
#: sender gets. Adding one is a contract change (dashboards, alerts, README).
REASONS: dict[str, int] = {
    "too_large": 413,  # body over limits.max_body_size, raw or decompressed
    "unsupported_media": 415,  # Content-Type not JSON / text, or an unknown Content-Encoding
    "bad_encoding": 400,  # corrupt or truncated gzip, or not UTF-8
    "bad_json": 400,  # not JSON
    "bad_schema": 400,  # JSON, but not beacon v1 (types, required fields, lengths, events)
    "bad_value": 400,  # a number not finite, negative, or over its cap; sr outside (0, 1]
    "unknown_app": 403,  # app not in the config
    "origin": 403,  # Origin missing or not allowed for the app
    "rate_limited": 429,  # the client's token bucket is empty (Retry-After says when)
    "bot": 204,  # crawlers, tools, headless browsers: answered 204, left out of RUM
    "synthetic": 204,  # twinlens's own synthetic browser runs: answered 204, left out
}

#: The user-agent token and header twinlens's synthetic browser runs carry.
SYNTHETIC_UA_TOKEN = "TwinlensSynthetic/"
SYNTHETIC_HEADER = "x-twinlens-synthetic"

_ORIGIN_RULE = re.compile(
    r"^(?P<scheme>https?)://(?P<wild>\*\.)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)"
    r"(?::(?P<port>\d{1,5}))?/?$"
)
_ORIGIN_HEADER = re.compile(
    r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<host>\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(?P<port>\d{1,5}))?$"
)


def is_synthetic(user_agent: str, header: str | None) -> bool:
    """Whether a request comes from twinlens's own synthetic browser runs."""
    return SYNTHETIC_UA_TOKEN in user_agent or (header or "").strip() == "1"


def parse_origin(origin: str) -> tuple[str, str, int | None] | None:
    """``https://Shop.Example.com:8443`` → ``("https", "shop.example.com", 8443)``; None
    for ``null`` and anything that is not a scheme://host[:port] origin."""
    m = _ORIGIN_HEADER.match(origin.strip().lower())
    if m is None:
        return None
    return m["scheme"], m["host"].rstrip("."), int(m["port"]) if m["port"] else None


class OriginRule:
    """One allowed origin: ``https://shop.example.com`` (that host, any port unless given)
    or ``https://*.example.com`` (subdomains of example.com on a dot boundary, not the apex).

    >>> OriginRule("https://*.example.com").matches("https", "www.example.com", None)
    True
    >>> OriginRule("https://example.com").matches("https", "evilexample.com", None)
    False
    """

    __slots__ = ("host", "port", "scheme", "source", "wildcard")

    def __init__(self, source: str) -> None:
        match = _ORIGIN_RULE.match(source.strip())
        if match is None:
            raise ValueError(
                "an origin looks like https://shop.example.com, https://*.example.com or "
                f"http://127.0.0.1:8080 (scheme, host, optional port, no path), not {source!r}"
            )
        self.source = source
        self.scheme = match["scheme"]
        self.wildcard = match["wild"] is not None
        self.host = match["host"].lower().rstrip(".")
        self.port = int(match["port"]) if match["port"] else None
        if self.port is not None and not 0 < self.port < 65536:
            raise ValueError(f"origin port out of range in {source!r}")

    def matches(self, scheme: str, host: str, port: int | None) -> bool:
        if scheme != self.scheme or (self.port is not None and port != self.port):
            return False
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host

    def __repr__(self) -> str:
        return f"OriginRule({self.source!r})"


class OriginPolicy:
    """The origins one app (or the union of all apps) accepts, with answers cached.

    The cache holds at most 4,096 distinct ``Origin`` values, so a flood of made-up
    origins costs a regex match each and no memory beyond that.
    """

    __slots__ = ("_cache", "rules")

    def __init__(self, origins: Sequence[str]) -> None:
        self.rules = tuple(OriginRule(o) for o in origins)
        self._cache: dict[str, bool] = {}

    def allows(self, origin: str) -> bool:
        hit = self._cache.get(origin)
        if hit is None:
            parsed = parse_origin(origin) if len(origin) <= 300 else None
            hit = parsed is not None and any(r.matches(*parsed) for r in self.rules)
            if len(self._cache) >= 4096:
                self._cache.clear()
            self._cache[origin] = hit
        return hit


class RateLimiter:
    """A token bucket per client key, for at most ``max_clients`` keys (least recently
    seen forgotten first, to the second: a client is moved to the back of the line at
    most once a second, which spares the hot path a linked-list update per request).

    ``take`` spends one token and returns 0.0, or returns the seconds until a token is
    due (the caller answers 429 with that as ``Retry-After``). A forgotten client comes
    back with a full bucket, which errs on the side of accepting real users.
    """

    __slots__ = ("_buckets", "burst", "max_clients", "per_second")

    def __init__(self, per_second: float, burst: int, max_clients: int) -> None:
        self.per_second = per_second
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: OrderedDict[Hashable, array[float]] = OrderedDict()

    def take(self, key: Hashable, now: float) -> float:
        bucket = self._buckets.get(key)  # [tokens, last take, last moved to the back]
        if bucket is None:
            if len(self._buckets) >= self.max_clients:
                self._buckets.popitem(last=False)
            # an array: three floats in one block, where a list points at three objects
            self._buckets[key] = array("d", (self.burst - 1.0, now, now))
            return 0.0
        if now - bucket[2] >= 1.0:
            self._buckets.move_to_end(key)
            bucket[2] = now
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.per_second)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.per_second

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(seconds: float) -> str:
    """``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
