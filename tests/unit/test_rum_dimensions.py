"""Table tests for the label values: route normalisation, UA → device/browser, geo."""

from __future__ import annotations

import pytest

from rum_gateway.dimensions import (
    BROWSERS,
    DEVICES,
    BoundedCache,
    RouteResolver,
    RouteTemplates,
    TrustedProxies,
    UserAgentClassifier,
    classify_user_agent,
    country_code,
    normalize_path,
    region_of,
    regions,
    status_class,
)
from rum_gateway.observations import ApiCallLabels

UA = {
    "iphone_safari": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "iphone_chrome": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
    "ipad_safari": "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "android_chrome": "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "android_tablet": "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/124.0.0.0 Safari/537.36",
    "samsung": "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like "
    "Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    "firefox_android": "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0",
    "windows_chrome": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/124.0.0.0 Safari/537.36",
    "windows_edge": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
    "mac_safari": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.4 Safari/605.1.15",
    "mac_firefox": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 "
    "Firefox/125.0",
    "linux_opera": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 OPR/110.0.0.0",
    "chromeos": "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "cubot_phone": "Mozilla/5.0 (Linux; Android 11; CUBOT X30) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "smart_tv": "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "76.0.3809.146/6.0 TV Safari/537.36",
    "googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "bingbot": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl": "curl/8.5.0",
    "python": "python-requests/2.31.0",
    "headless": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/124.0.0.0 Safari/537.36",
    "lighthouse": "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
}


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/", "/"),
        ("", "/"),
        ("/products/42", "/products/{id}"),
        ("/products/42/", "/products/{id}"),
        ("//products//42", "/products/{id}"),
        ("/products/42?color=red#reviews", "/products/{id}"),
        ("https://shop.example.com/cart?x=1", "/cart"),
        ("/orders/8f14e45f-ceea-467f-a0e6-0d5c6f7b2a11", "/orders/{uuid}"),
        ("/orders/8F14E45FCEEA467FA0E60D5C6F7B2A11", "/orders/{uuid}"),
        ("/commit/3f786850e387550fdab836ed7e6dc881de23001b", "/commit/{hash}"),
        ("/obj/507f1f77bcf86cd799439011", "/obj/{hash}"),
        ("/reset/eyJhbGciOiJIUzI1NiJ9x4", "/reset/{token}"),
        ("/a/" + "x" * 41, "/a/{token}"),
        ("/blog/how-to-tie-shoes", "/blog/how-to-tie-shoes"),
        ("/v2/deadbeef", "/v2/deadbeef"),  # 8 hex letters: a word, not a hash
        ("/iphone15pro", "/iphone15pro"),  # short mixed token: kept (top-N caps the rest)
        ("/a/b/c/d/e/f/g/h/i/j", "/a/b/c/d/e/f/g/h/{rest*}"),
        ("/users/12/posts/345/comments/6789", "/users/{id}/posts/{id}/comments/{id}"),
    ],
)
def test_normalize_path(path: str, route: str) -> None:
    assert normalize_path(path) == route


def test_normalize_path_bounds_the_length() -> None:
    route = normalize_path("/" + "/".join(["abcdefghijklmnopqrstuvwxyzabcd"] * 8))
    assert len(route) <= 200
    assert route.endswith("/{rest*}")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/products/42", "/products/{id}"),
        ("/products/blue-shoes/", "/products/{id}"),
        ("/products", None),
        ("/products/42/reviews", "/products/{id}/reviews"),
        ("/docs/a/b/c", "/docs/{page*}"),
        ("/docs", None),
        ("/", "/"),
        ("/search.html", "/search.html"),
        ("/searchXhtml", None),  # the dot is literal
    ],
)
def test_route_templates(path: str, expected: str | None) -> None:
    templates = RouteTemplates(
        ["/", "/products/{id}", "/products/{id}/reviews", "/docs/{page*}", "/search.html"]
    )
    assert templates.match(path) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("products/{id}", "starts with /"),
        ("/p/{id", "bad placeholder"),
        ("/p/{1d}", "bad placeholder"),
        ("/p/}", "bad placeholder"),
        ("/" + "a" * 200, "at most 200"),
    ],
)
def test_bad_route_templates(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RouteTemplates([template])


def test_route_resolver_order() -> None:
    resolve = RouteResolver(RouteTemplates(["/p/{slug}"]))
    # a configured template beats the SDK's route, which beats the raw path
    assert resolve("/p/blue-shoes?ref=x", "/p/:slug") == "/p/{slug}"
    assert resolve("/account/42", "/account/:id") == "/account/:id"
    assert resolve("/account/42", None) == "/account/{id}"
    # the SDK's route is client input: it is collapsed too
    assert resolve("/x", "/forged/123456") == "/forged/{id}"


@pytest.mark.parametrize(
    ("name", "device", "browser", "bot", "headless"),
    [
        ("iphone_safari", "mobile", "safari", False, False),
        ("iphone_chrome", "mobile", "chrome", False, False),
        ("ipad_safari", "tablet", "safari", False, False),
        ("android_chrome", "mobile", "chrome", False, False),
        ("android_tablet", "tablet", "chrome", False, False),
        ("samsung", "mobile", "samsung", False, False),
        ("firefox_android", "mobile", "firefox", False, False),
        ("windows_chrome", "desktop", "chrome", False, False),
        ("windows_edge", "desktop", "edge", False, False),
        ("mac_safari", "desktop", "safari", False, False),
        ("mac_firefox", "desktop", "firefox", False, False),
        ("linux_opera", "desktop", "opera", False, False),
        ("chromeos", "desktop", "chrome", False, False),
        ("cubot_phone", "mobile", "chrome", False, False),
        ("smart_tv", "other", "safari", False, False),  # ua-parser's answer for Tizen
        ("googlebot", "other", "other", True, False),
        ("bingbot", "other", "other", True, False),
        ("curl", "other", "other", True, False),
        ("python", "other", "other", True, False),
        ("headless", "desktop", "chrome", False, True),
        ("lighthouse", "mobile", "chrome", False, True),
    ],
)
def test_classify_user_agent(
    name: str, device: str, browser: str, bot: bool, headless: bool
) -> None:
    info = classify_user_agent(UA[name])
    assert (info.device, info.browser, info.bot, info.headless) == (device, browser, bot, headless)
    assert info.device in DEVICES and info.browser in BROWSERS


def test_client_hints() -> None:
    # Sec-CH-UA-Mobile ?1 makes a desktop-looking UA (Chrome's "request desktop site") mobile
    assert classify_user_agent(UA["windows_chrome"], "?1").device == "mobile"
    # brands name the browser when the UA alone does not
    odd = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    brands = '"Chromium";v="124", "Microsoft Edge";v="124", "Not-A.Brand";v="99"'
    assert classify_user_agent(odd, "?0", brands).browser == "edge"
    assert classify_user_agent(odd).browser == "other"


def test_empty_user_agent_is_a_bot() -> None:
    assert classify_user_agent("").bot is True


def test_user_agent_cache_is_bounded() -> None:
    classify = UserAgentClassifier(size=10)
    for i in range(50):
        classify(f"{UA['windows_chrome']} build/{i}")
    assert len(classify._cache) == 10
    assert classify(UA["iphone_safari"]).device == "mobile"


def test_user_agent_cache_keys_are_bounded_in_size() -> None:
    classify = UserAgentClassifier(size=10)
    base = UA["windows_chrome"].ljust(1024, "x")
    for i in range(5):  # differ only past the classified prefix: one entry, short keys
        classify(base + "y" * (60_000 + i), "?0".ljust(8, "z") + "z" * i, "b" * 10_000)
    assert len(classify._cache) == 1
    (key,) = classify._cache
    assert sum(len(part) for part in key) <= 1024 + 8 + 256


def test_bounded_cache_forgets_the_oldest_under_churn() -> None:
    cache: BoundedCache[int, int] = BoundedCache(100)
    for i in range(1000):  # every insert past 100 evicts the oldest
        cache[i] = i
        cache[i] = -i  # an update of a held key evicts nothing
    assert list(cache.items()) == [(i, -i) for i in range(900, 1000)]


def test_api_call_labels_are_bounded_and_cached() -> None:
    labels = ApiCallLabels(RouteTemplates(["/api/cart/{item}"]), cache_size=5)
    assert labels("/api/cart/abc", "get", 204) == ("/api/cart/{item}", "GET", "2xx")
    for i in range(20):
        assert labels(f"/api/u/{i}", "BREW", 0) == ("/api/u/{id}", "other", "error")
    assert len(labels._cache) == 5


@pytest.mark.parametrize(
    ("value", "country", "region"),
    [
        ("SG", "SG", "South-eastern Asia"),
        ("sg", "SG", "South-eastern Asia"),
        (" DE ", "DE", "Western Europe"),
        ("GB", "GB", "Northern Europe"),
        ("PL", "PL", "Eastern Europe"),
        ("IT", "IT", "Southern Europe"),
        ("US", "US", "Northern America"),
        ("BR", "BR", "Latin America and the Caribbean"),
        ("MX", "MX", "Latin America and the Caribbean"),
        ("NG", "NG", "Sub-Saharan Africa"),
        ("EG", "EG", "Northern Africa"),
        ("IN", "IN", "Southern Asia"),
        ("JP", "JP", "Eastern Asia"),
        ("KZ", "KZ", "Central Asia"),
        ("TR", "TR", "Western Asia"),
        ("AU", "AU", "Australia and New Zealand"),
        ("FJ", "FJ", "Melanesia"),
        ("GU", "GU", "Micronesia"),
        ("WS", "WS", "Polynesia"),
        ("AQ", "AQ", "unknown"),  # a country with no M49 region
        ("XX", "unknown", "unknown"),  # CDN placeholder for "no idea"
        ("T1", "unknown", "unknown"),  # Cloudflare's Tor marker
        ("ZZ", "unknown", "unknown"),
        ("Narnia", "unknown", "unknown"),
        ("", "unknown", "unknown"),
        (None, "unknown", "unknown"),
    ],
)
def test_country_and_region(value: str | None, country: str, region: str) -> None:
    assert country_code(value) == country
    assert region_of(country) == region


def test_region_label_is_bounded() -> None:
    # 17 M49 sub-regions and `unknown`
    assert len(regions()) == 18
    assert "South-eastern Asia" in regions()


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("10.0.0.5", "203.0.113.7", ("203.0.113.7", True)),
        ("10.0.0.5", "198.51.100.1, 203.0.113.7, 10.0.0.9", ("203.0.113.7", True)),
        ("10.0.0.5", None, ("10.0.0.5", True)),
        ("10.0.0.5", "10.0.0.8, 10.0.0.9", ("10.0.0.8", True)),
        ("10.0.0.5", "garbage, 10.0.0.9", ("10.0.0.5", True)),
        ("198.51.100.1", "203.0.113.7", ("198.51.100.1", False)),  # not a trusted proxy
        ("::1", "203.0.113.7", ("203.0.113.7", True)),
    ],
)
def test_trusted_proxies(peer: str, xff: str | None, expected: tuple[str, bool]) -> None:
    assert TrustedProxies(["10.0.0.0/8", "::1/128"]).client_ip(peer, xff) == expected


def test_no_trusted_proxies_ignores_forwarded_for() -> None:
    assert TrustedProxies([]).client_ip("127.0.0.1", "203.0.113.7") == ("127.0.0.1", False)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (200, "2xx"),
        (204, "2xx"),
        (301, "3xx"),
        (404, "4xx"),
        (503, "5xx"),
        (101, "1xx"),
        (0, "error"),
        (999, "error"),
    ],
)
def test_status_class(status: int, cls: str) -> None:
    assert status_class(status) == cls


def test_caches_keep_no_client_addresses() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    assert proxies.client_ip("10.0.0.5", "203.0.113.7") == ("203.0.113.7", True)
    assert proxies._cache and all(isinstance(key, int) for key in proxies._cache)
