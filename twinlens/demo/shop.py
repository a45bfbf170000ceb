"""The demo shop: a single-page app with the RUM SDK, and an API whose health drifts.

The shop is deliberately imperfect so that every dashboard has something to show:

- API latency and error rate drift over a ten-minute cycle (:func:`drift`);
- visitors from South-eastern Asia get slow pages (the hero image and API answers are
  delayed for requests whose ``CF-IPCountry`` header names a country there), so the RUM
  region view lights up while every synthetic probe from "here" stays green;
- ``/products/{id}`` is heavier than the other routes.

The API is instrumented with :mod:`twinlens.middleware`, so the same calls are seen three
ways: by the server (``/metrics`` here), by browsers (the SDK) and by probes (the checks).

    app = build_shop(gateway_url="http://127.0.0.1:9117")
"""

from __future__ import annotations

import asyncio
import html
import json
import math
import random
import time
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from twinlens.middleware import instrument_aiohttp

__all__ = ["PRODUCTS", "SLOW_COUNTRIES", "build_shop", "drift"]

#: Countries in the UN M49 sub-region "South-eastern Asia": the demo's slow region.
SLOW_COUNTRIES = frozenset({"ID", "VN", "TH", "PH", "MY", "SG", "MM", "KH", "LA", "BN", "TL"})

PRODUCTS = [
    {"id": i, "name": name, "price": price}
    for i, (name, price) in enumerate(
        [
            ("Trail shoes", 89),
            ("Rain jacket", 129),
            ("Headlamp", 35),
            ("Water filter", 49),
            ("Tent", 249),
            ("Sleeping bag", 159),
            ("Camp stove", 69),
            ("Trekking poles", 59),
        ],
        start=1,
    )
]

_CYCLE = 600.0  # seconds: one full drift cycle


def drift(now: float | None = None) -> tuple[float, float]:
    """(latency multiplier, error rate) for the API at ``now``: smooth, periodic, bounded.

    >>> lat, err = drift(0.0)
    >>> 0.5 <= lat <= 2.5 and 0.0 <= err <= 0.1
    True
    """
    t = (time.time() if now is None else now) % _CYCLE / _CYCLE
    latency = 1.5 + math.sin(2 * math.pi * t)  # 0.5x .. 2.5x
    error_rate = max(0.0, 0.05 * math.sin(2 * math.pi * (t - 0.25)) + 0.03)  # 0 .. 8 %
    return latency, error_rate


_SHELL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>twinlens demo shop</title>
<script src="{gateway}/sdk.js" data-app="shop" data-endpoint="{endpoint}"
 data-sample-rate="1" async></script>
<style>
body{{font:16px system-ui,sans-serif;margin:0;color:#222}}
header{{background:#234;color:#fff;padding:12px 20px;display:flex;gap:18px}}
header a{{color:#fff}} main{{padding:20px}} img.hero{{width:100%;max-width:960px;height:auto}}
.grid{{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:12px}}
.card{{border:1px solid #ccd;padding:12px;border-radius:6px}}
</style></head>
<body>
<header><strong>Demo shop</strong>
<a href="/" data-link id="nav-home">Home</a>
<a href="/products" data-link id="nav-products">Products</a>
<a href="/cart" data-link id="nav-cart">Cart</a></header>
<main id="app"><h1>Loading…</h1></main>
<script>{app_js}</script>
</body></html>
"""

_APP_JS = r"""
(function () {
  var app = document.getElementById('app');
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) {
    return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]; }); }
  function api(path, opts) {
    return fetch(path, opts).then(function (r) {
      if (!r.ok) { throw new Error('API ' + r.status); }
      return r.json();
    });
  }
  function failed(e) { app.innerHTML = '<h1>Sorry</h1><p id="error">' + esc(e.message) + '</p>'; }
  var views = {
    home: function () {
      app.innerHTML = '<h1>Welcome</h1><img class="hero" id="hero" alt="hero" ' +
        'src="/static/hero.svg?v=' + Date.now() + '" width="960" height="360">' +
        '<p><a href="/products" data-link id="shop-now">Shop now</a></p>';
    },
    products: function () {
      app.innerHTML = '<h1>Products</h1><p>Loading…</p>';
      api('/api/products').then(function (items) {
        app.innerHTML = '<h1>Products</h1><div class="grid">' + items.map(function (p) {
          return '<div class="card"><a href="/products/' + p.id + '" data-link class="product">' +
            esc(p.name) + '</a><p>$' + p.price + '</p></div>';
        }).join('') + '</div>';
      }).catch(failed);
    },
    product: function (id) {
      app.innerHTML = '<h1>Product</h1><p>Loading…</p>';
      api('/api/products/' + id).then(function (p) {
        app.innerHTML = '<h1>' + esc(p.name) + '</h1><p>$' + p.price + '</p>' +
          '<button id="add">Add to cart</button>';
        document.getElementById('add').onclick = function () {
          api('/api/cart', {method: 'POST', headers: {'Content-Type': 'application/json'},
                            body: JSON.stringify({id: p.id})})
            .then(function () { navigate('/cart'); }).catch(failed);
        };
      }).catch(failed);
    },
    cart: function () {
      app.innerHTML = '<h1>Cart</h1><p>Loading…</p>';
      api('/api/cart').then(function (c) {
        app.innerHTML = '<h1>Cart</h1><p id="count">' + c.items + ' item(s)</p>';
      }).catch(failed);
    }
  };
  function render() {
    var path = location.pathname, m;
    if (path === '/') { views.home(); }
    else if (path === '/products') { views.products(); }
    else if ((m = path.match(/^\/products\/(\d+)$/))) { views.product(m[1]); }
    else if (path === '/cart') { views.cart(); }
    else { app.innerHTML = '<h1>Not found</h1>'; }
  }
  function navigate(path) { history.pushState({}, '', path); render(); }
  document.addEventListener('click', function (e) {
    var a = e.target.closest && e.target.closest('a[data-link]');
    if (a) { e.preventDefault(); navigate(a.getAttribute('href')); }
  });
  window.addEventListener('popstate', render);
  window.demoNavigate = navigate;
  render();
})();
"""

_HERO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="960" height="360" viewBox="0 0 960 360">'
    '<rect width="960" height="360" fill="#2b6cb0"/>'
    '<text x="480" y="200" font-size="64" text-anchor="middle" fill="#fff" '
    'font-family="sans-serif">Summer sale</text></svg>'
)


def _slow(request: web.Request) -> bool:
    return request.headers.get("CF-IPCountry", "").upper() in SLOW_COUNTRIES


async def _delay(request: web.Request, base: float, jitter: float = 0.5) -> None:
    latency, _ = drift()
    seconds = base * latency * random.uniform(1 - jitter, 1 + jitter)
    if _slow(request):
        seconds += random.uniform(1.5, 3.0)  # far from the shop: every answer crawls
    await asyncio.sleep(seconds)


def _maybe_fail(scale: float = 1.0) -> None:
    _, error_rate = drift()
    if random.random() < error_rate * scale:
        raise web.HTTPServiceUnavailable(
            text=json.dumps({"error": "backend overloaded"}), content_type="application/json"
        )


#: Headers a CDN edge passes on to the gateway (besides the country and client address).
_RELAYED = ("Content-Type", "Content-Encoding", "Origin", "User-Agent")


def build_shop(gateway_url: str, *, edge: bool = False) -> web.Application:
    """The shop app; ``gateway_url`` is where the SDK is loaded from and beacons go.

    With ``edge``, beacons go to the shop's own ``/rum/v1/beacon``, which plays the CDN
    edge in front of the gateway: it adds ``CF-IPCountry`` and ``X-Forwarded-For`` taken
    from the ``demo_country`` / ``demo_ip`` cookies the traffic generator gives each
    simulated visitor (a real edge knows them from the connection).
    """
    gateway = gateway_url.rstrip("/")
    endpoint = "/rum/v1/beacon" if edge else f"{gateway}/v1/beacon"
    shell = _SHELL.format(
        gateway=html.escape(gateway), endpoint=html.escape(endpoint), app_js=_APP_JS
    )
    cart: dict[str, int] = {"items": 0}

    async def page(request: web.Request) -> web.Response:
        if _slow(request):
            await asyncio.sleep(random.uniform(0.5, 1.0))
        return web.Response(text=shell, content_type="text/html")

    async def hero(request: web.Request) -> web.Response:
        await _delay(request, 0.15)
        return web.Response(
            text=_HERO_SVG, content_type="image/svg+xml", headers={"Cache-Control": "no-store"}
        )

    async def products(request: web.Request) -> web.Response:
        await _delay(request, 0.08)
        _maybe_fail()
        return web.json_response(PRODUCTS)

    async def product(request: web.Request) -> web.Response:
        await _delay(request, 0.2)
        _maybe_fail(1.5)
        pid = int(request.match_info["id"])
        found = next((p for p in PRODUCTS if p["id"] == pid), None)
        if found is None:
            raise web.HTTPNotFound(
                text='{"error":"no such product"}', content_type="application/json"
            )
        return web.json_response(found)

    async def get_cart(request: web.Request) -> web.Response:
        await _delay(request, 0.05)
        return web.json_response(cart)

    async def add_to_cart(request: web.Request) -> web.Response:
        await _delay(request, 0.12)
        _maybe_fail()
        body: Any = await request.json()
        if not isinstance(body, dict) or "id" not in body:
            raise web.HTTPBadRequest(
                text='{"error":"id required"}', content_type="application/json"
            )
        cart["items"] += 1
        return web.json_response(cart, status=201)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "products": len(PRODUCTS)})

    async def relay(request: web.Request) -> web.Response:
        session: aiohttp.ClientSession = request.app["edge_session"]
        headers = {h: request.headers[h] for h in _RELAYED if h in request.headers}
        headers["CF-IPCountry"] = request.cookies.get("demo_country", "XX")
        headers["X-Forwarded-For"] = request.cookies.get("demo_ip", "192.0.2.1")
        try:
            async with session.post(
                f"{gateway}/v1/beacon", data=await request.read(), headers=headers
            ) as resp:
                return web.Response(status=resp.status, body=await resp.read())
        except (aiohttp.ClientError, TimeoutError):
            return web.Response(status=502, text="gateway unreachable")

    async def edge_session(app: web.Application) -> Any:
        app["edge_session"] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        yield
        await app["edge_session"].close()

    app = web.Application()
    if edge:
        app.cleanup_ctx.append(edge_session)
        app.router.add_post("/rum/v1/beacon", relay)
    for path in ("/", "/products", "/products/{id:\\d+}", "/cart"):
        app.router.add_get(path, page)
    app.router.add_get("/static/hero.svg", hero)
    app.router.add_get("/api/products", products)
    app.router.add_get("/api/products/{id:\\d+}", product)
    app.router.add_get("/api/cart", get_cart)
    app.router.add_post("/api/cart", add_to_cart)
    app.router.add_get("/healthz", health)
    # Server-side view of the same API (issue: three views of one API): one line.
    return instrument_aiohttp(app, registry=CollectorRegistry())
