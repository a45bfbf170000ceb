"""Demo traffic: real headless Chromium sessions when Chromium is present, else beacons.

Browser mode drives the shop like people do (phones, tablets and desktops by Playwright
device emulation; countries through the trusted ``CF-IPCountry`` header; a client address
per session through ``X-Forwarded-For``), so the RUM figures come from the real SDK measuring
a real page. Without Chromium, :func:`make_beacon` builds beacon v1 payloads with the same
shape and posts them, so the demo still shows live RUM figures.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Sequence
from typing import Any

import aiohttp

from twinlens.demo.shop import PRODUCTS, SLOW_COUNTRIES, drift
from twinlens.runtime.chromium import CHROMIUM_ARGS, find_chromium

__all__ = ["COUNTRIES", "BeaconTraffic", "BrowserTraffic", "find_chromium", "make_beacon"]


log = logging.getLogger("twinlens.demo.traffic")

#: (ISO country, weight): a mix with a real share of South-eastern Asia.
COUNTRIES: Sequence[tuple[str, int]] = (
    ("US", 28),
    ("DE", 12),
    ("GB", 9),
    ("IN", 9),
    ("BR", 7),
    ("JP", 6),
    ("ID", 8),
    ("VN", 6),
    ("TH", 5),
    ("AU", 4),
    ("FR", 6),
)

USER_AGENTS = {
    "mobile": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36",
    ),
    "tablet": (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Mobile/15E148 Safari/604.1",
    ),
    "desktop": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    ),
}
#: Playwright device descriptors per device class.
DEVICES = {
    "mobile": ("iPhone 13", "Pixel 5"),
    "tablet": ("iPad Mini",),
    "desktop": ("Desktop Chrome", "Desktop Firefox"),
}
_DEVICE_WEIGHTS = (("mobile", 55), ("desktop", 38), ("tablet", 7))


def _pick(weighted: Sequence[tuple[str, int]], rng: random.Random) -> str:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def _random_ip(rng: random.Random) -> str:
    return f"203.0.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"


def make_beacon(rng: random.Random, device: str, country: str) -> dict[str, Any]:
    """One beacon v1 (see DESIGN.md): a page load plus a few SPA route changes.

    Values follow the demo's story: phones slower than desktops, South-eastern Asia much
    slower, API latency and errors drifting with :func:`twinlens.demo.shop.drift`.
    """
    slow = 2.2 if country in SLOW_COUNTRIES else 1.0
    mobile = {"mobile": 1.6, "tablet": 1.3}.get(device, 1.0)
    latency, error_rate = drift()

    def vital(base: float) -> float:
        return round(rng.lognormvariate(0, 0.35) * base * slow * mobile, 1)

    routes = [("/", "/"), ("/products", "/products")]
    pid = rng.choice(PRODUCTS)["id"]
    routes.append((f"/products/{pid}", "/products/{id}"))
    if rng.random() < 0.5:
        routes.append(("/cart", "/cart"))
    views = []
    for i, (path, route) in enumerate(routes):
        api = []
        if route != "/":
            api_path = "/api/products" if route == "/products" else f"/api/products/{pid}"
            if route == "/cart":
                api_path = "/api/cart"
            status = 503 if rng.random() < error_rate else 200
            api.append(
                {
                    "method": "GET",
                    "path": api_path,
                    "status": status,
                    "ms": round(rng.lognormvariate(0, 0.4) * 120 * latency * slow, 1),
                }
            )
        view: dict[str, Any] = {
            "path": path,
            "route": route,
            "nav": "navigate" if i == 0 else "soft",
            "pv": True,
            "vitals": {"INP": vital(120), "CLS": round(rng.random() * 0.12 * mobile, 3)},
            "api": api,
        }
        if i == 0:
            view["vitals"].update({"LCP": vital(1500), "FCP": vital(900), "TTFB": vital(250)})
        if rng.random() < 0.03:
            view["errors"] = [{"kind": "error", "fp": f"{rng.randrange(1 << 32):08x}"}]
        views.append(view)
    return {"v": 1, "app": "shop", "sr": 1, "conn": "4g", "views": views}


class BeaconTraffic:
    """Posts generated beacons to the gateway, a few per second, until stopped."""

    def __init__(
        self, gateway_url: str, shop_origin: str, rate: float = 4.0, seed: int = 1
    ) -> None:
        self.endpoint = gateway_url.rstrip("/") + "/v1/beacon"
        self.origin = shop_origin
        self.rate = rate
        self.rng = random.Random(seed)
        self.sent = 0
        self.failed = 0

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                device = _pick(_DEVICE_WEIGHTS, self.rng)
                country = _pick(COUNTRIES, self.rng)
                body = json.dumps(make_beacon(self.rng, device, country))
                headers = {
                    "Content-Type": "text/plain;charset=UTF-8",
                    "Origin": self.origin,
                    "User-Agent": self.rng.choice(USER_AGENTS[device]),
                    "CF-IPCountry": country,
                    "X-Forwarded-For": _random_ip(self.rng),
                }
                try:
                    async with session.post(self.endpoint, data=body, headers=headers) as resp:
                        if resp.status == 204:
                            self.sent += 1
                        else:
                            self.failed += 1
                            log.warning(
                                "beacon refused",
                                extra={
                                    "fields": {"status": resp.status, "body": await resp.text()}
                                },
                            )
                except (aiohttp.ClientError, TimeoutError) as exc:
                    self.failed += 1
                    log.debug("beacon failed", extra={"fields": {"err": repr(exc)}})
                await asyncio.sleep(self.rng.expovariate(self.rate))


class BrowserTraffic:
    """Headless Chromium sessions through the shop, ``concurrency`` at a time."""

    def __init__(self, shop_url: str, chromium: str, concurrency: int = 2, seed: int = 2) -> None:
        self.shop_url = shop_url.rstrip("/")
        self.chromium = chromium
        self.concurrency = concurrency
        self.rng = random.Random(seed)
        self.sessions = 0
        self.failed = 0

    async def run(self) -> None:
        from playwright.async_api import async_playwright

        async with async_playwright() as pw:
            # sendBeacon requests carry the browser's own user agent, not a context's
            # emulated one: one browser per device class, each launched with that class's UA.
            browsers = {}
            try:
                for device, names in DEVICES.items():
                    ua = pw.devices[names[0]]["user_agent"]
                    browsers[device] = await pw.chromium.launch(
                        executable_path=self.chromium, args=[*CHROMIUM_ARGS, f"--user-agent={ua}"]
                    )
                await asyncio.gather(*(self._worker(pw, browsers) for _ in range(self.concurrency)))
            finally:
                for browser in browsers.values():
                    await browser.close()

    async def _worker(self, pw: Any, browsers: dict[str, Any]) -> None:
        while True:
            device = _pick(_DEVICE_WEIGHTS, self.rng)
            descriptor = dict(pw.devices[self.rng.choice(DEVICES[device])])
            descriptor.pop("default_browser_type", None)
            country = _pick(COUNTRIES, self.rng)
            context = await browsers[device].new_context(**descriptor)
            # The shop's edge turns these into CF-IPCountry / X-Forwarded-For for the gateway.
            await context.add_cookies(
                [
                    {"name": "demo_country", "value": country, "url": self.shop_url},
                    {"name": "demo_ip", "value": _random_ip(self.rng), "url": self.shop_url},
                ]
            )
            try:
                await asyncio.wait_for(self._session(context), timeout=45)
                self.sessions += 1
            except Exception as exc:  # a slow or failed page is part of the demo, not fatal
                self.failed += 1
                log.debug("browser session failed", extra={"fields": {"err": repr(exc)}})
            finally:
                await context.close()
            await asyncio.sleep(self.rng.uniform(0.2, 1.0))

    async def _session(self, context: Any) -> None:
        page = await context.new_page()
        await page.goto(self.shop_url + "/", wait_until="load")
        await page.wait_for_timeout(self.rng.uniform(300, 900))
        await page.click("#nav-products")
        await page.wait_for_selector("a.product", timeout=15000)
        await page.click(f"a.product >> nth={self.rng.randrange(len(PRODUCTS))}")
        await page.wait_for_selector("#add", timeout=15000)
        if self.rng.random() < 0.6:
            await page.click("#add")
            await page.wait_for_selector("#count", timeout=15000)
        else:
            await page.click("#nav-cart")
            await page.wait_for_selector("#count", timeout=15000)
        if self.rng.random() < 0.05:
            await page.evaluate("setTimeout(function () { throw new Error('demo failure') }, 0)")
        await page.keyboard.press("Tab")  # an interaction, so INP has something to measure
        await page.wait_for_timeout(200)
        # Leaving the page fires pagehide / visibilitychange: the SDK flushes its beacon.
        await page.goto("about:blank")
