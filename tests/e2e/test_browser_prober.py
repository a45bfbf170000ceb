"""Browser journeys in real headless Chromium against a local shop on loopback.

The shop (aiohttp, port 0) has a login form that sets a cookie, an account page that calls a
*cross-origin* API with fetch (so the synthetic header must not break CORS), a hero image
the test delays by a known amount (LCP must track it), a page that throws, a page slower
than any deadline and a button that blocks the main thread (INP). Every run goes through
:func:`exporter.probe.run_probe`, the path ``/probe`` and scheduled checks use.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import random
import re
import signal
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from exporter import browser_pool
from exporter.config import Module
from exporter.probe import ProbeOutcome, run_probe
from tests.support.procs import TwinlensProcess
from tests.support.tools import require_tool
from twinlens.runtime.config import decode

pytestmark = pytest.mark.e2e

PASSWORD = "s3cr3t-Pa55-word"
#: Steps' timeout in these tests: a first page in a cold Chromium can take over the 5 s
#: default while the full suite loads both cores (a goto failed as "step" that way);
#: tests of timeouts set their own.
STEP_TIMEOUT = "10s"
ROOT = Path(__file__).resolve().parents[2]
VITALS_JS = ROOT / "rum_gateway" / "sdk" / "dist" / "twinlens-probe-vitals.js"


def _noise_png(width: int, height: int) -> bytes:
    """A grayscale PNG of random pixels: Chromium ignores low-entropy images for LCP."""
    rnd = random.Random(7)
    raw = b"".join(b"\x00" + rnd.randbytes(width) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )


HERO = _noise_png(400, 300)


class Shop:
    """The site under test, with what it saw: every request's path and marker headers."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str | None]] = []  # (path, user agent, marker)
        self.in_item = 0
        self.max_in_item = 0
        self.hang_arrived = asyncio.Event()
        self.closing = asyncio.Event()  # set on stop: slow handlers return at once
        self.url = ""
        self.api_url = ""
        self._runners: list[web.AppRunner] = []

    async def start(self) -> None:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/", self.home)
        app.router.add_get("/hero.png", self.hero)
        app.router.add_get("/login", self.login_page)
        app.router.add_post("/login", self.login)
        app.router.add_get("/account", self.account)
        app.router.add_get("/broken", self.broken)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/hang", self.hang)
        app.router.add_get("/item", self.item)
        api = web.Application(middlewares=[self._record])
        api.router.add_get("/api/orders", self.orders)
        self.url = await self._serve(app)
        self.api_url = await self._serve(api)

    async def _serve(self, app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.closing.set()
        for runner in self._runners:
            await runner.cleanup()

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(
            (request.path, request.headers.get("User-Agent", ""), request.headers.get(
                "X-Twinlens-Synthetic"
            ))
        )  # fmt: skip
        return await handler(request)

    @staticmethod
    def _html(body: str, status: int = 200) -> web.Response:
        page = f"<!doctype html><html><head><title>Shop</title></head><body>{body}</body></html>"
        return web.Response(text=page, content_type="text/html", status=status)

    async def home(self, request: web.Request) -> web.Response:
        delay = request.query.get("hero", "0")
        return self._html(
            f"<h1>Shop</h1><img id=hero src='/hero.png?delay={delay}' width=400 height=300>"
        )

    async def hero(self, request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("delay", "0")))
        return web.Response(body=HERO, content_type="image/png")

    async def login_page(self, request: web.Request) -> web.Response:
        return self._html(
            "<h1>Sign in</h1><form method=post action=/login>"
            "<input id=user name=user><input id=password name=password type=password>"
            "<button id=submit type=submit>Sign in</button></form>"
        )

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("user") == "alice" and form.get("password") == PASSWORD:
            response = web.HTTPFound("/account")
            response.set_cookie("sid", "alice-session")
            raise response
        return self._html("<h1>Wrong password</h1>", status=200)

    async def account(self, request: web.Request) -> web.Response:
        if request.cookies.get("sid") != "alice-session":
            raise web.HTTPFound("/login")
        return self._html(
            "<h1>Welcome alice</h1><p id=orders>loading</p>"
            "<button id=refresh>Refresh</button><p id=refreshed></p>"
            "<script>"
            f"fetch('{self.api_url}/api/orders').then(r => r.json())"
            ".then(j => { document.getElementById('orders').textContent = 'orders: ' + j.count; })"
            ".catch(e => { document.getElementById('orders').textContent = 'failed: ' + e; });"
            "document.getElementById('refresh').addEventListener('click', () => {"
            "  const t = performance.now(); while (performance.now() - t < 150) {}"
            "  document.getElementById('refreshed').textContent = 'refreshed';"
            "});"
            "</script>"
        )

    async def orders(self, request: web.Request) -> web.Response:
        return web.json_response({"count": 3}, headers={"Access-Control-Allow-Origin": "*"})

    async def broken(self, request: web.Request) -> web.Response:
        return self._html("<h1>Broken</h1><script>null.checkout();</script>")

    async def _linger(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), seconds)

    async def slow(self, request: web.Request) -> web.Response:
        await self._linger(20)
        return self._html("<h1>Finally</h1>")

    async def hang(self, request: web.Request) -> web.Response:
        self.hang_arrived.set()
        await self._linger(20)
        return self._html("<h1>Never</h1>")

    async def item(self, request: web.Request) -> web.Response:
        self.in_item += 1
        self.max_in_item = max(self.max_in_item, self.in_item)
        try:
            await asyncio.sleep(0.15)
        finally:
            self.in_item -= 1
        return self._html(f"<h1>Item {request.query.get('n', '')}</h1>")


@pytest.fixture
def chromium() -> str:
    path = require_tool("chromium")
    if not VITALS_JS.is_file():
        pytest.fail(f"{VITALS_JS} missing: run `make sdk` first (the e2e target does)")
    return path


@pytest.fixture
async def shop(chromium: str) -> AsyncIterator[Shop]:
    site = Shop()
    await site.start()
    try:
        yield site
    finally:
        await browser_pool.close_all()  # every browser this test's event loop started
        await site.stop()


def browser_module(steps: list[dict[str, Any]], **extra: Any) -> Module:
    data = {"prober": "browser", "timeout": extra.pop("timeout", "15s")}
    if "ssrf" in extra:
        data["ssrf"] = extra.pop("ssrf")
    extra.setdefault("step_timeout", STEP_TIMEOUT)
    data["browser"] = {"steps": steps, **extra}
    return decode(data, Module)


async def probe(module: Module, target: str, timeout: float = 15.0) -> ProbeOutcome:
    return await run_probe("browser_test", module, target, timeout)


def value(outcome: ProbeOutcome, name: str, **labels: str) -> float:
    got = outcome.metrics.get(name, **labels)
    assert got is not None, f"{name}{labels} missing:\n{outcome.metrics.render()}"
    return got


# --- process accounting, independent of the pool's own bookkeeping ------------------------------


def _stat(pid: int) -> tuple[str, int]:
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[3])  # state, session id


def chromium_processes(pool: browser_pool.BrowserPool) -> dict[str, list[int]]:
    """This pool's live Chromium processes, by kind (``browser``, ``renderer``, …)."""
    marker = f"{browser_pool.MARKER_ENV}={pool.marker}".encode()
    marked, sessions, cmdlines = set(), {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            state, sid = _stat(pid)
            if state == "Z":
                continue
            sessions[pid] = sid
            cmdlines[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                marked.add(pid)
        except (OSError, ValueError):
            continue
    leaders = {pid for pid in marked if sessions[pid] == pid}
    kinds: dict[str, list[int]] = {}
    for pid, sid in sessions.items():
        if pid in marked or sid in leaders:
            args = cmdlines[pid]
            if pid in leaders and b"crashpad" not in args[0]:
                kind = "browser"  # the session leader Playwright started
            elif b"crashpad_handler" in args[0]:
                kind = "crashpad"
            else:  # Chromium rewrites a child's argv into one space-separated string
                flags = re.split(rb"[\0 ]", b" ".join(args))
                kind = next((f[7:].decode() for f in flags if f.startswith(b"--type=")), "other")
            kinds.setdefault(kind, []).append(pid)
    return kinds


def head(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(8)


def folder_names(path: Path) -> list[str]:
    return [p.name for p in path.iterdir()]


async def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


# --- the tests ------------------------------------------------------------------------------------


async def test_login_journey_with_secret_cookie_cors_and_vitals(
    shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_PASSWORD", PASSWORD)
    script = tmp_path / "check_title.py"
    script.write_text(
        "async def run(page, target):\n"
        "    assert await page.title() == 'Shop', 'wrong title'\n"
        "    assert target.startswith('http://127.0.0.1:')\n"
    )
    module = browser_module(
        [
            {"name": "open_login", "goto": "/login"},
            {"name": "user", "fill": {"selector": "#user", "value": "alice"}},
            {
                "name": "password",
                "fill": {"selector": "#password", "value": "${env:SHOP_PASSWORD}"},
            },
            {"name": "submit", "click": "#submit"},
            {"name": "on_account", "expect_url": "/account$"},
            {"name": "welcome", "expect_text": {"selector": "h1", "text": "Welcome alice"}},
            {"name": "orders", "expect_text": {"selector": "#orders", "text": "orders: 3"}},
            {"name": "refresh", "click": "#refresh"},
            {"name": "refreshed", "wait_for": {"selector": "#refreshed:has-text('refreshed')"}},
            {"name": "title", "script": {"file": str(script)}},
        ]
    )
    outcome = await probe(module, shop.url)
    log = outcome.log.text()
    assert outcome.success, log
    for step in module.browser.step_names():  # type: ignore[union-attr]
        assert value(outcome, "twinlens_journey_step_success", step=step) == 1
        assert 0 < value(outcome, "twinlens_journey_step_duration_seconds", step=step) < 10
    # Lab vitals of the account page, measured by web-vitals in the page.
    ttfb = value(outcome, "probe_browser_web_vital_ttfb_seconds")
    fcp = value(outcome, "probe_browser_web_vital_fcp_seconds")
    lcp = value(outcome, "probe_browser_web_vital_lcp_seconds")
    assert 0 <= ttfb <= fcp <= lcp < 5
    assert value(outcome, "probe_browser_web_vital_cls") == 0
    # The click blocked the main thread for 150 ms: INP sees at least that.
    assert 0.15 <= value(outcome, "probe_browser_web_vital_inp_seconds") < 2
    assert value(outcome, "probe_browser_js_errors") == 0
    # Every request, the cross-origin API call included, carried both synthetic markers,
    # and the marker header did not cost the page its CORS call ("orders: 3" above).
    paths = [p for p, _, _ in shop.requests]
    assert {"/login", "/account", "/api/orders"} <= set(paths)
    for path, agent, marker in shop.requests:
        assert browser_pool.SYNTHETIC_TOKEN in agent, (path, agent)
        assert marker == "1", path
    assert PASSWORD not in log
    assert PASSWORD not in outcome.metrics.render()


async def test_lcp_tracks_the_delayed_hero_image(shop: Shop) -> None:
    module = browser_module([{"goto": "${target}"}, {"expect_visible": "#hero"}])
    delay = 1.5
    fast = await probe(module, f"{shop.url}/?hero=0")
    slow = await probe(module, f"{shop.url}/?hero={delay}")
    assert fast.success and slow.success, fast.log.text() + slow.log.text()
    fast_lcp = value(fast, "probe_browser_web_vital_lcp_seconds")
    slow_lcp = value(slow, "probe_browser_web_vital_lcp_seconds")
    # The hero is the largest element, so LCP is its render time: never before the image
    # arrives (a bound no machine load can break), and well before it without the delay.
    assert fast_lcp < delay <= slow_lcp < delay + 2.5
    # Text paints first whatever the image does.
    assert value(slow, "probe_browser_web_vital_fcp_seconds") < delay
    assert value(slow, "probe_browser_web_vital_cls") == 0
    assert slow.metrics.get("probe_browser_web_vital_inp_seconds") is None  # no interaction


async def test_missing_element_fails_its_step_and_keeps_artifacts(
    shop: Shop, tmp_path: Path
) -> None:
    artifacts = tmp_path / "artifacts"
    module = browser_module(
        [
            {"name": "home", "goto": "/"},
            {"name": "add_to_cart", "click": "#add-to-cart", "timeout": "500ms"},
            {"name": "checkout", "click": "#checkout"},
        ],
        artifacts={"dir": str(artifacts), "keep": 1},
    )
    outcome = await probe(module, shop.url)
    assert not outcome.success
    assert outcome.reason == "step"
    assert value(outcome, "probe_failure_info", reason="step") == 1
    assert value(outcome, "twinlens_journey_step_success", step="home") == 1
    assert value(outcome, "twinlens_journey_step_success", step="add_to_cart") == 0
    assert 0.5 <= value(outcome, "twinlens_journey_step_duration_seconds", step="add_to_cart") < 5
    assert outcome.metrics.get("twinlens_journey_step_success", step="checkout") is None
    log = outcome.log.text()
    assert 'msg="Step failed" step=add_to_cart action=click reason=step' in log
    files = sorted(Path(p).name for p in outcome.log.artifacts)
    assert files == ["screenshot.png", "trace.zip"]
    heads = [head(path) for path in sorted(outcome.log.artifacts)]
    assert heads[0].startswith(b"\x89PNG") and heads[1].startswith(b"PK")  # PNG, zip
    # Retention (keep: 1): after another failure only the newest run's folder is left.
    later = await probe(module, shop.url)
    assert folder_names(artifacts) == [Path(later.log.artifacts[0]).parent.name]


async def test_page_slower_than_the_deadline_times_out_in_time(shop: Shop, chromium: str) -> None:
    module = browser_module(
        [{"name": "slow_page", "goto": "/slow"}], timeout="3s", step_timeout="10s"
    )
    # Warm, as in production: the launch (seconds on a busy box) is not what is measured.
    await browser_pool.get_pool(chromium).browser()
    started = time.monotonic()
    outcome = await probe(module, shop.url, timeout=3.0)
    elapsed = time.monotonic() - started
    assert not outcome.success
    assert outcome.reason == "timeout"
    assert value(outcome, "twinlens_journey_step_success", step="slow_page") == 0
    assert elapsed < 3.0 + 2.0, elapsed  # the hard deadline holds (plus closing slack)
    assert "the probe deadline ran out" in outcome.log.text()


async def test_js_error_is_counted_and_can_fail_the_run(shop: Shop) -> None:
    steps: list[dict[str, Any]] = [
        {"goto": "/broken"},
        {"expect_text": {"selector": "h1", "text": "Broken"}},
    ]
    tolerant = await probe(browser_module(steps), shop.url)
    assert tolerant.success, tolerant.log.text()
    assert value(tolerant, "probe_browser_js_errors") == 1
    assert "null" in tolerant.log.text()  # the error's message is in the probe log
    strict = await probe(browser_module(steps, fail_on_js_error=True), shop.url)
    assert not strict.success
    assert strict.reason == "assertion"
    assert value(strict, "probe_browser_js_errors") == 1


async def test_assertion_status_and_ssrf_failures_have_their_reasons(
    shop: Shop, tmp_path: Path
) -> None:
    script = tmp_path / "journey.py"
    script.write_text("async def run(page):\n    assert 'Cart' in await page.title(), 'no cart'\n")
    text = await probe(
        browser_module(
            [{"goto": "/"}, {"expect_text": {"selector": "h1", "text": "Basket"}, "timeout": "1s"}]
        ),
        shop.url,
    )
    assert (text.success, text.reason) == (False, "assertion"), text.log.text()
    scripted = await probe(
        browser_module([{"goto": "/"}, {"name": "custom", "script": {"file": str(script)}}]),
        shop.url,
    )
    assert (scripted.success, scripted.reason) == (False, "assertion"), scripted.log.text()
    assert "no cart" in scripted.log.text()
    gone = await probe(browser_module([{"goto": "/nowhere"}]), shop.url)
    assert (gone.success, gone.reason) == (False, "http_status"), gone.log.text()
    before = len(shop.requests)
    guarded = browser_module([{"goto": "/"}], ssrf={"deny_cidrs": ["127.0.0.0/8"]})
    blocked = await probe(guarded, shop.url)
    assert (blocked.success, blocked.reason) == (False, "blocked_target"), blocked.log.text()
    assert "address 127.0.0.1 is in deny_cidrs 127.0.0.0/8" in blocked.log.text()
    assert len(shop.requests) == before  # the browser never reached the shop


async def test_twenty_runs_at_concurrency_two_leave_no_chromium_behind(shop: Shop) -> None:
    module = browser_module(
        [{"goto": "/item?n=1"}, {"expect_text": {"selector": "h1", "text": "Item"}}],
        max_concurrency=2,
        vitals=False,
    )
    pool = browser_pool.get_pool(require_tool("chromium"))
    in_flight: list[int] = []

    async def sample() -> None:
        while True:
            in_flight.append(pool.in_flight)
            await asyncio.sleep(0.02)

    sampler = asyncio.ensure_future(sample())
    outcomes = await asyncio.gather(*(probe(module, shop.url, timeout=60) for _ in range(20)))
    sampler.cancel()
    assert [o.success for o in outcomes] == [True] * 20, [o.log.text() for o in outcomes]
    assert max(in_flight) == 2  # two runs at a time (18 queued behind them) …
    assert shop.max_in_item <= 2  # … and, seen from the site, never more
    assert pool.launches == 1  # one browser process served all twenty
    procs = chromium_processes(pool)
    assert len(procs["browser"]) == 1, procs
    # Contexts are closed: renderers go back to what the idle browser keeps (<= 2).
    await wait_until(lambda: len(chromium_processes(pool).get("renderer", [])) <= 2)
    await browser_pool.close_all()
    await wait_until(lambda: chromium_processes(pool) == {}, timeout=10)
    assert pool.processes() == []


async def test_killed_browser_is_replaced_and_next_run_succeeds(shop: Shop) -> None:
    hang = browser_module([{"name": "hang", "goto": "/hang"}], step_timeout="20s")
    ok = browser_module([{"goto": "/"}, {"expect_visible": "h1"}])
    run = asyncio.ensure_future(probe(hang, shop.url, timeout=20))
    await asyncio.wait_for(shop.hang_arrived.wait(), 15)
    pool = browser_pool.get_pool(require_tool("chromium"))
    first = chromium_processes(pool)
    (browser_pid,) = first["browser"]
    os.kill(browser_pid, signal.SIGKILL)
    killed = await asyncio.wait_for(run, 15)
    assert not killed.success
    assert killed.reason == "internal"
    assert "the browser died" in killed.log.text()
    after = await probe(ok, shop.url)
    assert after.success, after.log.text()
    assert pool.launches == 2
    now = chromium_processes(pool)
    assert len(now["browser"]) == 1 and now["browser"] != [browser_pid]
    old = {pid for pids in first.values() for pid in pids}
    assert not old & {pid for pids in now.values() for pid in pids}  # nothing of the old one


async def test_exporter_links_artifacts_on_its_page_and_never_shows_the_secret(
    shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_PASSWORD", PASSWORD)
    config = tmp_path / "exporter.yml"
    config.write_text(
        "modules:\n"
        "  shop_login:\n"
        "    prober: browser\n"
        "    timeout: 20s\n"
        "    browser:\n"
        f"      step_timeout: {STEP_TIMEOUT}\n"
        f"      artifacts: {{dir: {tmp_path / 'artifacts'}, keep: 5}}\n"
        "      steps:\n"
        "        - {name: open, goto: /login}\n"
        "        - {name: user, fill: {selector: '#user', value: alice}}\n"
        "        - {name: password, fill: {selector: '#password', value: '${env:SHOP_PASSWORD}'}}\n"
        "        - {name: submit, click: '#submit'}\n"
        "        - {name: greeting, expect_text: {selector: h1, text: Welcome bob}, timeout: 1s}\n"
    )

    def exercise() -> dict[str, Any]:
        with TwinlensProcess(tmp_path, "exporter", "--config.file", str(config)) as exp:
            got: dict[str, Any] = {
                "probe": fetch(f"{exp.url}/probe?module=shop_login&target={shop.url}")
            }
            for path in ("/", "/logs?id=1", "/config", "/metrics"):
                got[path] = fetch(exp.url + path)
            for name in ("screenshot.png", "trace.zip", "../../../../etc/passwd", "/etc/passwd"):
                got[name] = fetch(f"{exp.url}/artifacts?id=1&file={urllib.parse.quote(name)}")
            got["unknown id"] = fetch(f"{exp.url}/artifacts?id=99&file=screenshot.png")
        got["process log"] = (200, exp.logs().encode())
        return got

    got = await asyncio.to_thread(exercise)
    status, body = got["probe"]
    text = body.decode()
    assert status == 200
    assert "probe_success 0" in text
    assert 'probe_failure_info{reason="assertion"} 1' in text, got["/logs?id=1"][1].decode()
    assert 'twinlens_journey_step_success{step="greeting"} 0' in text
    assert 'twinlens_journey_step_success{step="password"} 1' in text
    page = got["/"][1].decode()
    assert 'href="/artifacts?id=1&amp;file=screenshot.png"' in page
    assert 'href="/artifacts?id=1&amp;file=trace.zip"' in page
    assert got["screenshot.png"][0] == 200 and got["screenshot.png"][1].startswith(b"\x89PNG")
    assert got["trace.zip"][0] == 200
    with zipfile.ZipFile(io.BytesIO(got["trace.zip"][1])) as trace:
        entries = {name: trace.read(name) for name in trace.namelist()}
    assert b"Welcome bob" in entries["trace.trace"]  # a real trace of the failed step …
    for name, data in entries.items():  # … with the typed password and form body scrubbed
        assert PASSWORD.encode() not in data, name
    for refused in ("../../../../etc/passwd", "/etc/passwd", "unknown id"):
        assert got[refused][0] == 404, refused
    assert "step=greeting" in got["/logs?id=1"][1].decode()
    assert "${env:SHOP_PASSWORD}" in got["/config"][1].decode()
    for where in ("probe", "/", "/logs?id=1", "/config", "/metrics", "process log"):
        assert PASSWORD.encode() not in got[where][1], where
    assert any(p == "/login" and marker == "1" for p, _, marker in shop.requests)


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
