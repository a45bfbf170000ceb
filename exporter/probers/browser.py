"""The browser prober: a scripted journey in real headless Chromium, with lab Web Vitals.

Each run gets a fresh browser context from the shared :mod:`exporter.browser_pool`, marks
itself synthetic (user agent token and header on every request, so the RUM gateway leaves
it out), injects the RUM SDK's ``web-vitals`` build, and runs the module's steps in order
(``goto``, ``click``, ``fill``, ``press``, ``wait_for``, ``expect_text``,
``expect_visible``, ``expect_url``, ``script``). The first failing step ends the run:

- its own timeout elapsed (element never appeared): reason ``step``;
- an ``expect_*`` or a script ``assert`` failed: ``assertion``;
- the run's deadline cut it: ``timeout``; a navigation error: ``dns``, ``connect``,
  ``tls``; a ``goto`` answered >= 400: ``http_status``; the browser died: ``internal``.

With ``artifacts.dir`` set, a failed run keeps a screenshot and a Playwright trace there
(linked from ``/``), the oldest beyond ``artifacts.keep`` deleted. The run's deadline keeps
a reserve for that, so the files are written before the probe's hard deadline.

    >>> await probe_browser("https://shop.example.com/", module, metrics, log, deadline)
    True
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import inspect
import ipaddress
import math
import os
import re
import shutil
import time
import urllib.parse
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playwright.async_api import Error as PlaywrightError

from exporter import browser_pool, net
from exporter.journey_config import BrowserProbe, BrowserStep, find_chromium
from exporter.metrics import register_metric
from exporter.probers._steps import StepResults
from exporter.templating import Scrubber, SecretUnavailable, compile_template

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page

    from exporter.config import Module, SSRFGuard
    from exporter.metrics import ProbeMetrics
    from exporter.probelog import ProbeLog

__all__ = ["VITALS", "probe_browser", "vitals_script_path"]

#: web-vitals name -> (metric, factor to base units)
VITALS = {
    "LCP": ("probe_browser_web_vital_lcp_seconds", 0.001),
    "FCP": ("probe_browser_web_vital_fcp_seconds", 0.001),
    "TTFB": ("probe_browser_web_vital_ttfb_seconds", 0.001),
    "INP": ("probe_browser_web_vital_inp_seconds", 0.001),
    "CLS": ("probe_browser_web_vital_cls", 1.0),
}
for _name, (_metric, _) in VITALS.items():
    register_metric(
        _metric,
        f"Lab {_name} of the journey's slowest page, measured with web-vitals"
        + (" (unitless)" if _name == "CLS" else ""),
    )
register_metric("probe_browser_js_errors", "Uncaught JavaScript errors during the browser run")

#: The RUM SDK's build of web-vitals for probes (``make sdk``); exporter and rum_gateway are
#: siblings both in a checkout and in site-packages.
_VITALS_SCRIPT = (
    Path(__file__).resolve().parents[2]
    / "rum_gateway"
    / "sdk"
    / "dist"
    / "twinlens-probe-vitals.js"
)
_BINDING = "__twinlensProbeVital"
_SNAPSHOT = "() => window.__twinlensProbeVitals ? window.__twinlensProbeVitals.snapshot() : null"
_ARTIFACT_DIR = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
#: Navigation errors Chromium reports, mapped onto the probe failure reasons.
_NET_REASONS = (
    ("ERR_BLOCKED_BY_CLIENT", "blocked_target"),
    ("ERR_NAME_NOT_RESOLVED", "dns"),
    ("ERR_NAME_RESOLUTION_FAILED", "dns"),
    ("ERR_CONNECTION_REFUSED", "connect"),
    ("ERR_CONNECTION_RESET", "connect"),
    ("ERR_CONNECTION_CLOSED", "connect"),
    ("ERR_ADDRESS_UNREACHABLE", "connect"),
    ("ERR_CONNECTION_TIMED_OUT", "timeout"),
    ("ERR_TIMED_OUT", "timeout"),
    ("ERR_CERT_", "tls"),
    ("ERR_SSL_", "tls"),
)
_MAX_LOGGED_JS_ERRORS = 5
_MAX_MESSAGE = 300


def vitals_script_path() -> Path:
    """Where the probe's web-vitals bundle is expected (built by ``make sdk``)."""
    override = os.environ.get("TWINLENS_PROBE_VITALS_JS")
    return Path(override) if override else _VITALS_SCRIPT


class _Guard:
    """The module's SSRF guard on every request of a run (navigations, scripts, images):
    the name rules, then every address the host resolves to, once per host per run.
    Chromium resolves again itself, so an answer that changes in between is not caught."""

    def __init__(self, guard: SSRFGuard, log: ProbeLog) -> None:
        self._guard = guard
        self._log = log
        self._verdicts: dict[str, str | None] = {}

    async def blocked(self, url: str) -> str | None:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        if parts.scheme not in ("http", "https", "ws", "wss") or not host:
            return None
        if host in self._verdicts:
            return self._verdicts[host]
        why = net.check_ssrf(self._guard, host)
        if why is None:
            for ip in await _addresses(host):
                why = net.check_ssrf(self._guard, host, ip)
                if why is not None:
                    break
        self._verdicts[host] = why
        if why is not None:
            self._log.error("Request blocked by the SSRF guard", host=host, err=why)
        return why


async def _addresses(host: str) -> list[str]:
    literal = host.strip("[]")
    try:
        ipaddress.ip_address(literal)
        return [literal]
    except ValueError:
        pass
    try:
        async with asyncio.timeout(2.0):
            infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except (OSError, TimeoutError, UnicodeError):
        return []  # the browser's own lookup fails the same way, with its own error
    return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})


class _StepFailed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class _Run:
    """What one run collects while its steps execute."""

    def __init__(self, scrub: Scrubber) -> None:
        self.scrub = scrub
        self.vitals: dict[tuple[str, str], float] = {}  # (document, name) -> latest value
        self.js_errors: list[str] = []

    def on_vital(self, _source: Any, payload: Any) -> None:
        try:
            doc, name, value = str(payload["doc"]), str(payload["name"]), float(payload["value"])
        except (KeyError, TypeError, ValueError):
            return  # a page cannot feed us anything but numbers for known names
        if name in VITALS and math.isfinite(value) and value >= 0:
            self.vitals[(doc, name)] = value

    def on_error(self, error: Any) -> None:
        self.js_errors.append(str(getattr(error, "error", error)))

    def worst(self) -> dict[str, float]:
        """Each vital's value on the journey's slowest page (the largest across documents)."""
        out: dict[str, float] = {}
        for (_, name), value in self.vitals.items():
            out[name] = max(out.get(name, value), value)
        return out


async def probe_browser(
    target: str, module: Module, metrics: ProbeMetrics, log: ProbeLog, deadline: float
) -> bool:
    cfg = module.browser
    if cfg is None:  # the config refuses this; keep mypy and a hand-built Module honest
        log.error("No browser: section in the module")
        return metrics.fail("internal")
    loop = asyncio.get_running_loop()
    names = cfg.step_names()
    results = StepResults(metrics)
    scrub = Scrubber()
    if "://" not in target:
        target = "http://" + target
    total = max(deadline - loop.time(), 0.0)
    reserve = min(3.0, total * 0.25) if cfg.artifacts.dir else min(1.0, total * 0.1)
    run_deadline = deadline - reserve
    try:
        variables, headers = _render_setup(cfg, target, scrub)
    except SecretUnavailable as exc:
        log.error("Cannot read a secret; no step run", err=str(exc))
        return metrics.fail("step")
    executable = find_chromium(cfg.executable)
    if executable is None:
        log.error("No Chromium found", looked_for="chromium, chromium-browser, google-chrome")
        return metrics.fail("internal")
    pool = browser_pool.get_pool(executable)
    run = _Run(scrub)
    script = _vitals_script(cfg, log)
    log.info("Waiting for a browser slot", in_flight=pool.in_flight, limit=cfg.max_concurrency)
    async with pool.slot(cfg.max_concurrency):
        try:
            context_cm = pool.context(
                viewport={"width": cfg.viewport.width, "height": cfg.viewport.height},
                ignore_https_errors=cfg.ignore_https_errors,
                **({"user_agent": _with_token(cfg.user_agent)} if cfg.user_agent else {}),
            )
            async with context_cm as ctx:
                return await _run_steps(
                    cfg, ctx, pool, run, names, results, target, variables, headers,
                    script, module.ssrf, metrics, log, run_deadline, deadline,
                )  # fmt: skip
        except browser_pool.BrowserUnavailable as exc:
            log.error("Browser unavailable", err=str(exc))
            return metrics.fail("internal")
        except PlaywrightError as exc:  # the browser died while the run was being set up
            log.error("Browser failed", err=_short(scrub(str(exc))), crashed=pool.crashed())
            return metrics.fail("internal")


def _render_setup(
    cfg: BrowserProbe, target: str, scrub: Scrubber
) -> tuple[dict[str, str], dict[str, str]]:
    base = {"target": target}
    variables = dict(base)
    for name, value in cfg.variables.items():
        variables[name] = compile_template(value).render(base, scrub)
    headers = {k: compile_template(v).render(variables, scrub) for k, v in cfg.headers.items()}
    return variables, headers


def _with_token(user_agent: str) -> str:
    token = browser_pool.SYNTHETIC_TOKEN
    return user_agent if token in user_agent else f"{user_agent} {token}"


_script_cache: dict[str, tuple[float, str]] = {}


def _vitals_script(cfg: BrowserProbe, log: ProbeLog) -> str | None:
    if not cfg.vitals:
        return None
    path = vitals_script_path()
    try:
        mtime = path.stat().st_mtime
        cached = _script_cache.get(str(path))
        if cached is None or cached[0] != mtime:
            cached = _script_cache[str(path)] = (mtime, path.read_text(encoding="utf-8"))
        return cached[1]
    except OSError:
        log.warn("Web Vitals not measured: probe script missing (run make sdk)", path=str(path))
        return None


async def _run_steps(
    cfg: BrowserProbe,
    ctx: BrowserContext,
    pool: browser_pool.BrowserPool,
    run: _Run,
    names: list[str],
    results: StepResults,
    target: str,
    variables: dict[str, str],
    headers: dict[str, str],
    script: str | None,
    ssrf: SSRFGuard,
    metrics: ProbeMetrics,
    log: ProbeLog,
    run_deadline: float,
    deadline: float,
) -> bool:
    loop = asyncio.get_running_loop()
    marker = {**headers, browser_pool.SYNTHETIC_HEADER[0]: browser_pool.SYNTHETIC_HEADER[1]}
    guard = _Guard(ssrf, log)

    async def mark(route: Any) -> None:
        # Added by interception, not extraHTTPHeaders: a header added that way turns every
        # cross-origin fetch into a CORS preflight the site's API may refuse.
        try:
            if await guard.blocked(route.request.url):
                await route.abort("blockedbyclient")
                return
            await route.fallback(headers={**await route.request.all_headers(), **marker})
        except Exception:  # the page is gone (navigation, close): nothing to continue
            return

    log.info("Browser context ready", browser_launches=pool.launches)
    await ctx.route("**/*", mark)
    ctx.on("weberror", run.on_error)
    if script is not None:
        await ctx.expose_binding(_BINDING, run.on_vital)
        await ctx.add_init_script(script=script)
    if cfg.artifacts.dir and cfg.artifacts.trace:
        await ctx.tracing.start(screenshots=True, snapshots=True)
    page = await ctx.new_page()
    failure: _StepFailed | None = None
    for step, name in zip(cfg.steps, names, strict=True):
        own = float(step.timeout or cfg.step_timeout)
        left = run_deadline - loop.time()
        limit = min(own, left)
        cut_by_run = left <= own
        log.info("Step started", step=name, action=step.action, timeout_seconds=round(limit, 3))
        t0 = time.perf_counter()
        try:
            if limit <= 0:
                raise _StepFailed("timeout", "no time left before the probe deadline")
            # Playwright enforces ``limit`` itself; the outer bound covers scripts and a
            # wedged browser, with a little slack so Playwright's clearer error wins.
            async with asyncio.timeout(limit + 0.5):
                await _do_step(step, page, target, variables, run.scrub, limit)
        except Exception as exc:
            failure = _classify(exc, cut_by_run, pool)
        duration = time.perf_counter() - t0
        results.record(name, failure is None, duration)
        if failure is not None:
            log.error(
                "Step failed",
                step=name,
                action=step.action,
                reason=failure.reason,
                err=_short(run.scrub(str(failure))),
                duration_seconds=round(duration, 3),
            )
            break
        log.info("Step succeeded", step=name, duration_seconds=round(duration, 3))
    crashed = pool.crashed()
    if script is not None and not crashed:
        await _collect_vitals(page, run, run_deadline, deadline)
    for name, value in run.worst().items():
        metric, factor = VITALS[name]
        metrics.gauge(metric, value * factor)
    metrics.gauge("probe_browser_js_errors", len(run.js_errors))
    for message in run.js_errors[:_MAX_LOGGED_JS_ERRORS]:
        log.warn("JavaScript error", err=_short(run.scrub(message)))
    if failure is None and cfg.fail_on_js_error and run.js_errors:
        log.error("JavaScript errors and fail_on_js_error is set", count=len(run.js_errors))
        failure = _StepFailed("assertion", f"{len(run.js_errors)} JavaScript error(s)")
    if failure is None:
        if cfg.artifacts.dir and cfg.artifacts.trace:
            with contextlib.suppress(Exception):
                await ctx.tracing.stop()
        return True
    if cfg.artifacts.dir and not crashed:
        await _keep_artifacts(cfg, ctx, page, run.scrub, log, deadline)
    return metrics.fail(failure.reason)


async def _do_step(
    step: BrowserStep,
    page: Page,
    target: str,
    variables: dict[str, str],
    scrub: Scrubber,
    limit: float,
) -> None:
    from playwright.async_api import expect

    ms = limit * 1000

    def render(text: str) -> str:
        return compile_template(text).render(variables, scrub)

    if step.goto is not None:
        url = urllib.parse.urljoin(target, render(step.goto))
        response = await page.goto(url, timeout=ms, wait_until="load")
        if response is not None and response.status >= 400:
            raise _StepFailed("http_status", f"{scrub(url)} answered {response.status}")
    elif step.click is not None:
        await page.locator(step.click).first.click(timeout=ms)
    elif step.fill is not None:
        await page.locator(step.fill.selector).first.fill(render(step.fill.value), timeout=ms)
    elif step.press is not None:
        if step.press.selector:
            await page.locator(step.press.selector).first.press(step.press.key, timeout=ms)
        else:
            await page.keyboard.press(step.press.key)
    elif step.wait_for is not None:
        wait = step.wait_for
        if wait.selector:
            await page.locator(wait.selector).first.wait_for(state=wait.state, timeout=ms)
        elif wait.url is not None:
            await page.wait_for_url(wait.url.pattern, timeout=ms)
        elif wait.load_state is not None:
            await page.wait_for_load_state(wait.load_state, timeout=ms)
    elif step.expect_text is not None:
        locator = page.locator(step.expect_text.selector).first
        if step.expect_text.matches is not None:
            await expect(locator).to_contain_text(step.expect_text.matches.pattern, timeout=ms)
        else:
            await expect(locator).to_contain_text(render(step.expect_text.text), timeout=ms)
    elif step.expect_visible is not None:
        await expect(page.locator(step.expect_visible).first).to_be_visible(timeout=ms)
    elif step.expect_url is not None:
        await expect(page).to_have_url(step.expect_url.pattern, timeout=ms)
    elif step.script is not None:
        page.set_default_timeout(ms)
        fn = _load_script(step.script.file, step.script.function)
        if len(inspect.signature(fn).parameters) >= 2:
            await fn(page, target)
        else:
            await fn(page)


_scripts: dict[tuple[str, str], tuple[int, Callable[..., Awaitable[Any]]]] = {}


def _load_script(file: str, function: str) -> Callable[..., Awaitable[Any]]:
    """The script's function, loaded once per file version (edits apply without reload)."""
    mtime = os.stat(file).st_mtime_ns
    cached = _scripts.get((file, function))
    if cached is not None and cached[0] == mtime:
        return cached[1]
    name = f"twinlens_journey_script_{abs(hash((file, mtime)))}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise _StepFailed("step", f"cannot load script {file}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, function, None)
    if not inspect.iscoroutinefunction(fn):
        raise _StepFailed("step", f"{file}: {function} is not an async function")
    _scripts[(file, function)] = (mtime, fn)
    return fn


def _classify(exc: BaseException, cut_by_run: bool, pool: browser_pool.BrowserPool) -> _StepFailed:
    """A step's exception as a failure reason and a message for the probe log."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    if isinstance(exc, _StepFailed):
        return exc
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if pool.crashed():
        return _StepFailed("internal", f"the browser died during the step: {first_line}")
    if isinstance(exc, PlaywrightTimeout | TimeoutError):
        if cut_by_run:
            return _StepFailed("timeout", f"the probe deadline ran out: {first_line}")
        return _StepFailed("step", first_line)
    if isinstance(exc, AssertionError):
        return _StepFailed("assertion", _expect_message(exc))
    if isinstance(exc, SecretUnavailable):
        return _StepFailed("step", str(exc))
    if isinstance(exc, PlaywrightError):
        for code, reason in _NET_REASONS:
            if code in first_line:
                return _StepFailed(reason, first_line)
    return _StepFailed("step", f"{type(exc).__name__}: {first_line}")


def _expect_message(exc: AssertionError) -> str:
    """Playwright's assertion text without its call log (which may echo typed values)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith(("Call log", "  - "))]
    return " ".join(kept[:3]) or "assertion failed"


async def _collect_vitals(page: Page, run: _Run, run_deadline: float, deadline: float) -> None:
    """Read the current document's values after its next frames (a paint just before the
    journey ended still counts); values of earlier documents came through the binding."""
    loop = asyncio.get_running_loop()
    budget = min(1.5, max(deadline - loop.time() - 0.2, 0.0))
    if budget <= 0:
        return
    try:
        async with asyncio.timeout(budget):
            snap = await page.evaluate(_SNAPSHOT)
    except Exception:
        return  # a hung or navigating page: the binding's values stand
    if isinstance(snap, dict) and isinstance(snap.get("values"), dict):
        for name, value in snap["values"].items():
            run.on_vital(None, {"doc": snap.get("doc"), "name": name, "value": value})


async def _keep_artifacts(
    cfg: BrowserProbe,
    ctx: BrowserContext,
    page: Page,
    scrub: Scrubber,
    log: ProbeLog,
    deadline: float,
) -> None:
    """Screenshot + trace of the failed run into a new folder; prune the oldest."""
    loop = asyncio.get_running_loop()
    root = Path(cfg.artifacts.dir)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = root / f"{stamp}-{os.urandom(4).hex()}"
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        log.warn("Cannot keep failure artifacts", err=str(exc))
        return
    saved = []
    try:
        async with asyncio.timeout_at(deadline - 0.05):
            shot = folder / "screenshot.png"
            with contextlib.suppress(Exception):
                left = max(deadline - loop.time() - 0.1, 0.1)
                await page.screenshot(path=str(shot), timeout=min(left, 2.0) * 1000)
                saved.append(shot)
            if cfg.artifacts.trace:
                trace = folder / "trace.zip"
                with contextlib.suppress(Exception):
                    await ctx.tracing.stop(path=str(trace))
                    if scrub:  # the trace records typed values and request bodies
                        await asyncio.to_thread(_scrub_zip, trace, scrub)
                    saved.append(trace)
    except TimeoutError:
        log.warn("Out of time while keeping failure artifacts")
    for path in saved:
        log.attach(str(path))
        log.info("Kept failure artifact", file=str(path))
    _prune(root, cfg.artifacts.keep)


def _scrub_zip(path: Path, scrub: Scrubber) -> None:
    """Rewrite a trace with the run's secrets replaced; delete it if that fails."""
    tmp = path.with_suffix(".tmp")
    try:
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                dst.writestr(info, scrub.scrub_bytes(src.read(info)))
        tmp.replace(path)
    except Exception:
        path.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
        raise


def _prune(root: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` run folders this prober created in ``root``."""
    try:
        runs = sorted(p for p in root.iterdir() if p.is_dir() and _ARTIFACT_DIR.match(p.name))
    except OSError:
        return
    for old in runs[: max(len(runs) - keep, 0)]:
        shutil.rmtree(old, ignore_errors=True)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
