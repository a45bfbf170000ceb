"""The browser SDK in real headless Chromium, through the real gateway, down to /metrics.

Each test serves a small single-page shop (aiohttp on port 0: an SPA shell on every route
plus an API whose latency and failures the test sets), runs the real gateway
(``rum_gateway.app.create_app`` on uvicorn, port 0) behind a tiny "CDN" proxy that adds
``CF-IPCountry`` as Cloudflare would (the gateway trusts loopback proxies for it), loads
the shop in Debian's Chromium driven by Playwright, clicks through routes, makes an API
call fail and a script throw, then leaves the page. The gateway's ``/metrics`` must then
show exactly the expected page views per route, vital observations, API calls by route
and status class, and errors — no more, no less.

Chromium is launched with the device descriptor's User-Agent as ``--user-agent``:
``navigator.sendBeacon`` requests are made by the browser process, which does not apply
Playwright's per-context UA emulation (nor its extra headers), so without it every beacon
would say ``HeadlessChrome`` and the gateway would (rightly) file it as a bot.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from tests.support.tools import in_ci, require_tool
from twinlens.runtime.chromium import CHROMIUM_ARGS

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("sdk-browser")]

ROOT = Path(__file__).resolve().parents[2]
SDK_JS = ROOT / "rum_gateway" / "sdk" / "dist" / "twinlens-rum.js"
ITEM_LATENCY = 0.12  # seconds /api/items/42 takes: the test controls what the browser sees
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

# The SPA. Every click handler blocks for 50 ms, so each interaction is a measurable one
# (Event Timing durations are >= 56 ms) and INP is observed exactly where clicks happen.
SHELL = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>shop</title></head>
<body>
<nav>
  <a id="home" href="/">home</a>
  <a id="product" href="/products/blue-shoes?ref=nav#reviews">product</a>
  <a id="cart" href="/cart?step=1">cart</a>
</nav>
<main id="main"></main>
<button id="add">add to cart</button>
<button id="boom">boom</button>
%(sdk)s
<script>
const slow = () => { const t = performance.now(); while (performance.now() - t < 50); };
function xhr(url) {
  return new Promise((resolve) => {
    const r = new XMLHttpRequest();
    r.open('GET', url);
    r.onloadend = resolve;
    r.send();
  });
}
function render() {
  const main = document.getElementById('main');
  main.dataset.loaded = '';
  main.textContent = 'page ' + location.pathname;
  if (!location.pathname.startsWith('/products/')) {
    main.dataset.loaded = location.pathname;
    return;
  }
  Promise.all([
    fetch('/api/items/42?session=s3cret').then((r) => r.json()),
    xhr('/api/stock/42?session=s3cret'),
  ]).then(([item]) => {
    main.textContent += ' ' + item.name;
    main.dataset.loaded = location.pathname;
  });
}
document.querySelector('nav').addEventListener('click', (e) => {
  const a = e.target.closest('a');
  if (!a) return;
  e.preventDefault();
  slow();
  history.pushState({}, '', a.getAttribute('href'));
  render();
});
document.getElementById('add').addEventListener('click', () => {
  slow();
  fetch('/api/cart?token=s3cret', { method: 'POST', body: '{"item": 42}' }).then((r) => {
    window.cartAnswered = r.status;
    if (!r.ok) throw new Error('cart failed: ' + r.status);  // left unhandled on purpose
  });
});
document.getElementById('boom').addEventListener('click', () => {
  slow();
  null.boom();  // an uncaught TypeError
});
addEventListener('popstate', render);
render();
</script>
</body></html>
"""


class Shop:
    """The site under test: the SPA shell on every route, and its API."""

    def __init__(self) -> None:
        self.cart_status = 503
        self.beacons: list[tuple[str, str]] = []  # (content-type, body) posted to the shop
        self.elsewhere: list[str] = []  # bodies posted to /rum/beacon
        self.app = web.Application()
        self.app.router.add_get("/api/items/{id}", self._item)
        self.app.router.add_get("/api/stock/{id}", self._stock)
        self.app.router.add_post("/api/cart", self._cart)
        self.app.router.add_get("/bye", self._bye)
        self.app.router.add_get("/sdk.mjs", self._module)
        self.app.router.add_get("/sdk.js", self._tag)
        self.app.router.add_post("/v1/beacon", self._beacon)
        self.app.router.add_post("/rum/beacon", self._beacon_elsewhere)
        self.app.router.add_get("/{tail:.*}", self._shell)  # SPA: every other path
        self.sdk_tag = ""
        self.url = ""

    async def _shell(self, request: web.Request) -> web.Response:
        return web.Response(text=SHELL % {"sdk": self.sdk_tag}, content_type="text/html")

    async def _item(self, request: web.Request) -> web.Response:
        if request.match_info["id"] == "42":  # the product page's item: slow on purpose
            await asyncio.sleep(ITEM_LATENCY)
        return web.json_response({"id": request.match_info["id"], "name": "blue shoes"})

    async def _stock(self, request: web.Request) -> web.Response:
        return web.json_response({"in_stock": 3})

    async def _cart(self, request: web.Request) -> web.Response:
        return web.json_response({"error": "cart service down"}, status=self.cart_status)

    async def _bye(self, request: web.Request) -> web.Response:
        return web.Response(text="<p>another site</p>", content_type="text/html")

    async def _module(self, request: web.Request) -> web.Response:
        body = SDK_JS.with_suffix(".mjs").read_bytes()
        return web.Response(body=body, content_type="text/javascript")

    async def _tag(self, request: web.Request) -> web.Response:
        return web.Response(body=SDK_JS.read_bytes(), content_type="text/javascript")

    async def _beacon(self, request: web.Request) -> web.Response:
        self.beacons.append((request.headers.get("Content-Type", ""), await request.text()))
        return web.Response(status=204)

    async def _beacon_elsewhere(self, request: web.Request) -> web.Response:
        self.elsewhere.append(await request.text())
        return web.Response(status=204)


class Cdn:
    """A reverse proxy in front of the gateway that sets ``CF-IPCountry`` like a CDN edge,
    and keeps every beacon body it forwards (the raw wire format, for privacy checks)."""

    def __init__(self, upstream: str, country: str) -> None:
        self.upstream = upstream
        self.country = country
        self.beacons: list[tuple[str, str]] = []  # (content-type, body)
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._forward)
        self.url = ""

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("host", "content-length", "connection")
        }
        headers["CF-IPCountry"] = self.country
        if request.path == "/v1/beacon" and request.method == "POST":
            self.beacons.append((request.headers.get("Content-Type", ""), body.decode()))
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session,
            session.request(
                request.method, self.upstream + request.path_qs, headers=headers, data=body
            ) as resp,
        ):
            payload = await resp.read()
            keep = ("content-type", "etag", "cache-control", "access-control-allow-origin")
            out = {k: v for k, v in resp.headers.items() if k.lower() in keep}
            return web.Response(status=resp.status, body=payload, headers=out)


@asynccontextmanager
async def _serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def _gateway(config: Path) -> AsyncIterator[str]:
    """The real gateway app on uvicorn, on a socket bound to port 0."""
    import uvicorn

    from rum_gateway.app import create_app

    app = create_app(str(config), sdk_path=SDK_JS)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_config=None, access_log=False, loop="asyncio")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 15
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError(f"gateway did not start: {task}")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


@asynccontextmanager
async def _stack(tmp_path: Path, country: str) -> AsyncIterator[tuple[Shop, Cdn, str]]:
    """Shop, gateway (its config allows the shop's origin) and the CDN in front of it."""
    if not SDK_JS.is_file():
        message = f"{SDK_JS} is not built: run `make sdk`"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    shop = Shop()
    async with _serve(shop.app) as shop_url:
        shop.url = shop_url
        config = tmp_path / "gateway.yml"
        config.write_text(
            f"apps:\n  shop:\n    origins: [{json.dumps(shop_url)}]\n"
            "geo:\n  country_header: CF-IPCountry\n"
            "trusted_proxies: [127.0.0.0/8]\n"
        )
        async with _gateway(config) as gateway_url:
            cdn = Cdn(gateway_url, country)
            async with _serve(cdn.app) as cdn_url:
                cdn.url = cdn_url
                yield shop, cdn, gateway_url


@asynccontextmanager
async def _browser(device: str) -> AsyncIterator[Any]:
    """A Chromium context emulating a Playwright device descriptor."""
    from playwright.async_api import async_playwright

    chromium = require_tool("chromium")
    async with async_playwright() as p:
        descriptor = dict(p.devices[device])
        descriptor.pop("default_browser_type", None)
        browser = await p.chromium.launch(
            executable_path=chromium,
            args=[*CHROMIUM_ARGS, f"--user-agent={descriptor['user_agent']}"],
        )
        try:
            context = await browser.new_context(**descriptor)
            yield context
        finally:
            await browser.close()


async def _scrape(url: str) -> Samples:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as resp:
        text = await resp.text()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _select(samples: Samples, names: set[str]) -> Samples:
    """The non-zero samples of the named series (``le`` buckets left out)."""
    return {
        k: v
        for k, v in samples.items()
        if k[0] in names and v != 0 and not any(name == "le" for name, _ in k[1])
    }


def _key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


async def _wait_for_metrics(
    gateway_url: str, done: Callable[[Samples], bool], timeout: float = 15.0
) -> Samples:
    """Poll /metrics until ``done`` (beacons are sent at unload: they arrive when they do)."""
    deadline = time.monotonic() + timeout
    samples = await _scrape(gateway_url + "/metrics")
    while not done(samples) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        samples = await _scrape(gateway_url + "/metrics")
    return samples


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _show(samples: Samples) -> list[tuple[str, list[tuple[str, str]], float]]:
    return sorted((name, sorted(labels), v) for (name, labels), v in samples.items())


def _assert_exact(samples: Samples, names: set[str], expected: dict[Any, float]) -> None:
    actual = _select(samples, names)
    if actual != expected:
        missing = {k: v for k, v in expected.items() if actual.get(k) != v}
        extra = {k: v for k, v in actual.items() if expected.get(k) != v}
        raise AssertionError(f"expected but not seen: {_show(missing)}\nseen: {_show(extra)}")


def _assert_no_rejections(samples: Samples) -> None:
    rejected = {
        dict(k[1])["reason"]: v for k, v in samples.items() if k[0] == "rum_beacons_rejected_total"
    }
    assert rejected and not any(rejected.values()), rejected


async def test_spa_journey_in_chromium_lands_exactly_in_gateway_metrics(tmp_path: Path) -> None:
    async with (
        _stack(tmp_path, country="DE") as (shop, cdn, gateway_url),
        _browser("Desktop Chrome") as context,
    ):
        # init() by code, with route templates: /products/blue-shoes -> /products/{slug}
        # (the gateway alone would keep "blue-shoes", which is not an id it collapses).
        shop.sdk_tag = (
            f'<script src="{cdn.url}/sdk.js"></script>\n'
            "<script>twinlens.init({app: 'shop', routes: ['/products/:slug', '/cart']})</script>"
        )
        page = await context.new_page()
        loaded = "document.getElementById('main').dataset.loaded === %s"
        await page.goto(shop.url + "/?utm_source=mail&email=ann%40example.com#top")
        await page.click("#product")  # soft view 1 of /products/{slug}; fetch + XHR
        await page.wait_for_function(loaded % "'/products/blue-shoes'")
        await page.click("#add")  # POST /api/cart -> 503, then an unhandled rejection
        await page.wait_for_function("window.cartAnswered === 503")
        await page.click("#boom")  # an uncaught TypeError
        await page.click("#cart")  # soft view of /cart
        await page.wait_for_function(loaded % "'/cart'")
        await page.go_back()  # popstate: soft view 2 of /products/{slug}; fetch + XHR again
        await page.wait_for_function(loaded % "'/products/blue-shoes'")
        await page.goto(shop.url + "/bye")  # leave: pagehide + visibilitychange -> beacons

        desktop = {"app": "shop", "device": "desktop"}
        geo = {"app": "shop", "device": "desktop", "country": "DE", "region": "Western Europe"}
        expected = {
            _key("rum_page_views_total", route="/", nav_type="navigate", **desktop): 1.0,
            _key("rum_page_views_total", route="/products/{slug}", nav_type="soft", **desktop): 2.0,
            _key("rum_page_views_total", route="/cart", nav_type="soft", **desktop): 1.0,
            # LCP, FCP and TTFB belong to the page load; CLS to every view; INP to the views
            # that were clicked (home: the product link; product: add, boom, cart link).
            _key("rum_lcp_seconds_count", route="/", **desktop): 1.0,
            _key("rum_fcp_seconds_count", route="/", **desktop): 1.0,
            _key("rum_ttfb_seconds_count", route="/", **desktop): 1.0,
            _key("rum_cls_count", route="/", **desktop): 1.0,
            _key("rum_cls_count", route="/products/{slug}", **desktop): 2.0,
            _key("rum_cls_count", route="/cart", **desktop): 1.0,
            _key("rum_inp_seconds_count", route="/", **desktop): 1.0,
            _key("rum_inp_seconds_count", route="/products/{slug}", **desktop): 1.0,
            _key("rum_lcp_by_geo_seconds_count", **geo): 1.0,
            _key("rum_cls_by_geo_count", **geo): 4.0,
            _key("rum_errors_total", app="shop", route="/products/{slug}", kind="error"): 1.0,
            _key(
                "rum_errors_total", app="shop", route="/products/{slug}", kind="unhandledrejection"
            ): 1.0,
            _key(
                "rum_api_request_duration_seconds_count",
                app="shop",
                api_route="/api/items/{id}",
                method="GET",
                status_class="2xx",
            ): 2.0,
            _key(
                "rum_api_request_duration_seconds_count",
                app="shop",
                api_route="/api/stock/{id}",
                method="GET",
                status_class="2xx",
            ): 2.0,
            _key(
                "rum_api_request_duration_seconds_count",
                app="shop",
                api_route="/api/cart",
                method="POST",
                status_class="5xx",
            ): 1.0,
        }
        names = {name for name, _ in expected}
        samples = await _wait_for_metrics(
            gateway_url, lambda s: all(s.get(k, 0) >= v for k, v in expected.items())
        )
        _assert_exact(samples, names, expected)
        _assert_no_rejections(samples)

        # The latency the test set is the latency the browser reported (>= 120 ms each) ...
        items = {
            "app": "shop",
            "api_route": "/api/items/{id}",
            "method": "GET",
            "status_class": "2xx",
        }
        assert samples[_key("rum_api_request_duration_seconds_bucket", le="0.1", **items)] == 0
        assert samples[_key("rum_api_request_duration_seconds_sum", **items)] >= 2 * ITEM_LATENCY
        # ... and every interaction blocked 50 ms, so no INP is under 50 ms.
        for route in ("/", "/products/{slug}"):
            inp = _key("rum_inp_seconds_bucket", le="0.05", route=route, **desktop)
            assert samples[inp] == 0

        # What went over the wire: Beacon v1 as text/plain (sendBeacon), nothing private.
        assert cdn.beacons
        raw = "\n".join(body for _, body in cdn.beacons)
        for secret in ("s3cret", "utm_source", "ann", "ref=nav", "reviews", "step=1", "?", "#"):
            assert secret not in raw, secret
        views = []
        for ctype, body in cdn.beacons:
            assert ctype == "text/plain;charset=UTF-8"
            beacon = json.loads(body)
            assert (beacon["v"], beacon["app"], beacon["sr"]) == (1, "shop", 1)
            assert beacon["conn"] in ("slow-2g", "2g", "3g", "4g")
            views += beacon["views"]
        assert [(v["path"], v.get("route"), v["nav"]) for v in views if v["pv"]] == [
            ("/", None, "navigate"),
            ("/products/blue-shoes", "/products/{slug}", "soft"),
            ("/cart", "/cart", "soft"),
            ("/products/blue-shoes", "/products/{slug}", "soft"),
        ]
        assert all(len(e["fp"]) == 8 for v in views for e in v.get("errors", []))


async def test_phone_from_one_tag_lands_in_mobile_with_country_and_region(tmp_path: Path) -> None:
    async with (
        _stack(tmp_path, country="SG") as (shop, cdn, gateway_url),
        _browser("Pixel 7") as context,
    ):
        # The one-tag install: data-app only; the endpoint comes from the script's origin.
        shop.sdk_tag = f'<script src="{cdn.url}/sdk.js" data-app="shop" async></script>'
        page = await context.new_page()
        await page.goto(shop.url + "/")
        await page.wait_for_function("window.twinlens !== undefined")
        await page.tap("#product")
        await page.wait_for_function(
            "document.getElementById('main').dataset.loaded === '/products/blue-shoes'"
        )
        await page.goto(shop.url + "/bye")

        mobile = {"app": "shop", "device": "mobile"}
        geo = {**mobile, "country": "SG", "region": "South-eastern Asia"}
        expected = {
            _key("rum_page_views_total", route="/", nav_type="navigate", **mobile): 1.0,
            # no templates in the SDK: the gateway keeps the slug (it only collapses ids)
            _key(
                "rum_page_views_total", route="/products/blue-shoes", nav_type="soft", **mobile
            ): 1.0,
            _key("rum_fcp_by_geo_seconds_count", **geo): 1.0,
            _key("rum_lcp_by_geo_seconds_count", **geo): 1.0,
            _key("rum_ttfb_by_geo_seconds_count", **geo): 1.0,
            _key("rum_cls_by_geo_count", **geo): 2.0,
            _key("rum_inp_by_geo_seconds_count", **geo): 1.0,
        }
        names = {name for name, _ in expected}
        samples = await _wait_for_metrics(
            gateway_url, lambda s: all(s.get(k, 0) >= v for k, v in expected.items())
        )
        _assert_exact(samples, names, expected)
        _assert_no_rejections(samples)
        assert all(ctype == "text/plain;charset=UTF-8" for ctype, _ in cdn.beacons)


async def test_module_build_options_fallback_delivery_and_privacy(tmp_path: Path) -> None:
    """The ES module with every option, sendBeacon unavailable (fetch keepalive instead), a
    batch that fills while the page is visible, sampling, bad options, and no storage."""
    async with (
        _stack(tmp_path, country="DE") as (shop, _cdn, _gw),
        _browser("Desktop Chrome") as context,
    ):
        shop.sdk_tag = """<script type="module">
import { init } from '/sdk.mjs';
window.rum = init({
  app: 'shop',
  endpoint: '/v1/beacon',
  routes: ['/products/:slug'],
  ignoreUrls: ['/admin'],
  apiUrls: { exclude: [/\\/api\\/stock\\//] },
  beforeSend: (b) => {
    b.views = b.views.filter((v) => v.path !== '/secret');
    return b.views.length ? b : null;
  },
  debug: true,
});
window.again = init({ app: 'other', endpoint: '/elsewhere' });
</script>"""
        # A browser without sendBeacon: the SDK must fall back to fetch(keepalive).
        await context.add_init_script("delete Navigator.prototype.sendBeacon")
        page = await context.new_page()
        logs: list[str] = []
        page.on("console", lambda m: logs.append(m.text))
        await page.goto(shop.url + "/")
        await page.wait_for_function("window.rum !== undefined")
        assert await page.evaluate("window.rum === window.again")  # a second init: same SDK
        # an ignored page (nothing recorded there), then a page beforeSend removes
        await page.evaluate("history.pushState({}, '', '/admin/users?id=7')")
        await page.evaluate("fetch('/api/items/1?admin=1')")
        await page.evaluate("history.pushState({}, '', '/secret')")
        await page.click("#product")  # fetch items (kept) + XHR stock (excluded)
        await page.wait_for_function(
            "document.getElementById('main').dataset.loaded === '/products/blue-shoes'"
        )
        before = len(shop.beacons)
        # 39 more calls fill the batch (40 page views + calls + errors): sent while visible
        await page.evaluate(
            "Promise.all(Array.from({length: 39}, () => fetch('/api/items/9?n=1')))"
        )
        assert await _until(lambda: len(shop.beacons) > before), "a full batch is sent at once"
        assert len(shop.beacons) == before + 1
        storage = await page.evaluate(
            "[document.cookie, localStorage.length, Object.keys(sessionStorage)]"
        )
        assert storage == ["", 0, ["twinlens:seed"]]
        await page.goto(shop.url + "/bye")
        assert await _until(lambda: len(shop.beacons) > before + 1), "the rest is sent on leaving"

        assert any("sent by fetch" in line for line in logs), logs
        views = []
        for ctype, body in shop.beacons:
            assert ctype == "text/plain;charset=UTF-8"  # fetch with a string body: no preflight
            beacon = json.loads(body)
            assert (
                len(beacon["views"])
                + sum(len(v.get("api", [])) + len(v.get("errors", [])) for v in beacon["views"])
                <= 42
            )
            views += beacon["views"]
        assert [(v["path"], v.get("route")) for v in views if v["pv"]] == [
            ("/", None),
            ("/products/blue-shoes", "/products/{slug}"),
        ]
        calls = [(c["method"], c["path"], c["status"]) for v in views for c in v.get("api", [])]
        assert sorted(set(calls)) == [("GET", "/api/items/42", 200), ("GET", "/api/items/9", 200)]
        assert calls.count(("GET", "/api/items/9", 200)) == 39
        assert calls.count(("GET", "/api/items/42", 200)) == 1

        # Hard navigations carry their Navigation Timing type: history traversal, reload.
        shop.beacons.clear()
        await page.go_back()  # /bye -> the product page, a new document
        await page.reload()
        await page.goto(shop.url + "/bye")
        assert await _until(lambda: sum('"pv":true' in b for _, b in shop.beacons) >= 2)
        navs = [
            (v["path"], v["nav"])
            for _, body in shop.beacons
            for v in json.loads(body)["views"]
            if v["pv"]
        ]
        assert navs == [
            ("/products/blue-shoes", "back_forward"),
            ("/products/blue-shoes", "reload"),
        ]

        # Sampling, set on the tag: decided once per tab session from the stored seed.
        for seed, rate, sent in (("0.9", "0.5", False), ("0.1", "0.5", True)):
            shop.elsewhere.clear()
            shop.sdk_tag = (
                '<script src="/sdk.js" data-app="shop" data-endpoint="/rum/beacon"'
                f' data-sample-rate="{rate}"></script>'
            )
            tab = await context.new_page()
            await tab.add_init_script(f"sessionStorage.setItem('twinlens:seed', '{seed}')")
            await tab.goto(shop.url + "/cart")
            await tab.wait_for_function("window.__twinlens !== undefined")
            await tab.goto(shop.url + "/bye")
            await _until(lambda: bool(shop.elsewhere), 10 if sent else 1)
            if sent:
                assert shop.elsewhere and json.loads(shop.elsewhere[0])["sr"] == 0.5
            else:
                assert shop.elsewhere == []
            await tab.close()

        # Bad options: one console warning listing every problem; the page carries on.
        shop.sdk_tag = (
            '<script type="module">import { init } from "/sdk.mjs";'
            "window.res = init({app: 'shop', sampleRate: 5, sampelRate: 1});</script>"
        )
        tab = await context.new_page()
        warnings: list[str] = []
        tab.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
        errors: list[str] = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        await tab.goto(shop.url + "/")
        await tab.wait_for_function("window.res === null")
        assert warnings == [
            "[twinlens] not started:\n  sampelRate: unknown option\n"
            "  endpoint: required: an http(s) URL\n"
            "  sampleRate: must be a number in (0, 1], got 5"
        ]
        assert errors == []
