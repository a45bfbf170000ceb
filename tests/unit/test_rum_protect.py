"""Origins on a dot boundary, the token bucket, the synthetic marker."""

from __future__ import annotations

import pytest

from rum_gateway.protect import (
    REASONS,
    OriginPolicy,
    OriginRule,
    RateLimiter,
    is_synthetic,
    parse_origin,
    retry_after,
)


@pytest.mark.parametrize(
    ("rules", "origin", "allowed"),
    [
        (["https://example.com"], "https://example.com", True),
        (["https://example.com"], "https://EXAMPLE.com", True),
        (["https://example.com"], "https://example.com:8443", True),  # any port unless given
        (["https://example.com"], "https://evilexample.com", False),
        (["https://example.com"], "https://example.com.evil.net", False),
        (["https://example.com"], "https://www.example.com", False),  # exact host
        (["https://example.com"], "http://example.com", False),  # scheme matters
        (["https://*.example.com"], "https://www.example.com", True),
        (["https://*.example.com"], "https://a.b.example.com", True),
        (["https://*.example.com"], "https://example.com", False),  # not the apex
        (["https://*.example.com"], "https://evilexample.com", False),
        (["https://*.example.com"], "https://www.evilexample.com", False),
        (["http://127.0.0.1:8080"], "http://127.0.0.1:8080", True),
        (["http://127.0.0.1:8080"], "http://127.0.0.1:8081", False),
        (["http://[::1]"], "http://[::1]:3000", True),
        (["https://example.com"], "null", False),
        (["https://example.com"], "", False),
        (["https://example.com"], "https://example.com/path", False),
        (["https://example.com"], "https://exa mple.com", False),
    ],
)
def test_origins(rules: list[str], origin: str, allowed: bool) -> None:
    assert OriginPolicy(rules).allows(origin) is allowed


@pytest.mark.parametrize(
    "bad",
    [
        "example.com",
        "ftp://example.com",
        "https://example.com/app",
        "https://*",
        "https://a.com:99999",
        "*",
    ],
)
def test_bad_origin_rules(bad: str) -> None:
    with pytest.raises(ValueError, match=r"an origin looks like|port out of range"):
        OriginRule(bad)


def test_parse_origin() -> None:
    assert parse_origin("https://Shop.Example.com:8443") == ("https", "shop.example.com", 8443)
    assert parse_origin("null") is None


def test_origin_cache_is_bounded() -> None:
    policy = OriginPolicy(["https://example.com"])
    for i in range(10_000):
        policy.allows(f"https://x{i}.example.org")
    assert len(policy._cache) <= 4096
    assert policy.allows("https://example.com")


def test_token_bucket() -> None:
    limiter = RateLimiter(per_second=2, burst=3, max_clients=100)
    assert [limiter.take("a", now=10.0) for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]
    assert limiter.take("b", now=10.0) == 0.0  # per client
    assert limiter.take("a", now=10.25) == pytest.approx(0.25)  # half a token refilled
    assert limiter.take("a", now=10.5) == 0.0
    assert limiter.take("a", now=100.0) == 0.0  # refills up to the burst, no further
    assert [limiter.take("a", now=100.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]


def test_token_bucket_forgets_least_recent_clients() -> None:
    limiter = RateLimiter(per_second=1, burst=1, max_clients=3)
    for key in ("a", "b", "c"):
        limiter.take(key, now=0.0)
    limiter.take("a", now=0.5)  # within the second: a keeps its place
    limiter.take("a", now=1.0)  # a is now the most recent
    limiter.take("d", now=1.0)  # evicts b
    assert len(limiter) == 3
    assert limiter.take("b", now=1.0) == 0.0  # came back with a full bucket
    assert limiter.take("a", now=1.0) > 0  # a was remembered (and empty)


def test_retry_after_is_whole_seconds() -> None:
    assert [retry_after(x) for x in (0.01, 1.0, 1.2)] == ["1", "1", "2"]


def test_synthetic_marker() -> None:
    assert is_synthetic("Mozilla/5.0 ... TwinlensSynthetic/0.1", None)
    assert is_synthetic("Mozilla/5.0", "1")
    assert not is_synthetic("Mozilla/5.0", "0")
    assert not is_synthetic("Mozilla/5.0", None)


def test_reasons_statuses() -> None:
    assert REASONS["too_large"] == 413 and REASONS["rate_limited"] == 429
    assert REASONS["origin"] == REASONS["unknown_app"] == 403
    assert REASONS["bot"] == REASONS["synthetic"] == 204
    assert {s for s in REASONS.values()} == {204, 400, 403, 413, 415, 429}
