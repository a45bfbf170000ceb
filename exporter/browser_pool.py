"""The one Chromium behind every browser journey: shared, bounded, restarted, reaped.

A browser costs ~1.5 s and ~150 MB to start, a context ~20 ms: so one browser process per
executable, launched on first use, and a fresh context (cookies, storage, cache) per run::

    pool = get_pool("/usr/bin/chromium")
    async with pool.slot(limit=2):                  # at most 2 runs of this module at once
        async with pool.context(viewport=...) as ctx:   # always closed, even on cancel
            page = await ctx.new_page()

Rules:

- *Bounded concurrency.* A run starts only while fewer than its module's ``limit`` runs
  are in flight in this pool, so the busiest module sets the ceiling and a module with
  ``max_concurrency: 1`` never runs beside another browser run.
- *Cancellation-safe.* Launching and context creation run in their own tasks: a run cut by
  its deadline never leaves a half-launched browser or an orphaned context behind.
- *Restarted when it dies.* A crashed or killed browser is noticed (``disconnected``), the
  processes it left are killed, and the next run launches a new one.
- *Reaped.* Chromium is launched as a session leader with a marker in its environment;
  :meth:`BrowserPool.processes` finds every process of it (renderers, zygotes, GPU, the
  crash handler that re-parents itself to init) so a restart or :meth:`close` kills them all.
- *Closed when idle* (``idle_timeout``), and when the event loop shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from twinlens.runtime.chromium import CHROMIUM_ARGS
from twinlens.runtime.version import __version__

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Playwright

__all__ = [
    "LAUNCH_ARGS",
    "MARKER_ENV",
    "SYNTHETIC_HEADER",
    "SYNTHETIC_TOKEN",
    "BrowserPool",
    "BrowserUnavailable",
    "close_all",
    "get_pool",
]

log = logging.getLogger("exporter.browser")

#: Headless, no sandbox (containers run as root), nothing phoning home during a probe.
LAUNCH_ARGS = CHROMIUM_ARGS
#: Set in Chromium's environment so its processes can be found (and reaped) by pool.
MARKER_ENV = "TWINLENS_BROWSER_POOL"
#: Appended to the user agent of every synthetic browser run (the RUM gateway drops them).
SYNTHETIC_TOKEN = f"TwinlensSynthetic/{__version__}"
#: Sent on every request of a synthetic run, cross-origin ones included.
SYNTHETIC_HEADER = ("X-Twinlens-Synthetic", "1")

_LAUNCH_TIMEOUT = 30.0
_CLOSE_TIMEOUT = 5.0


class BrowserUnavailable(Exception):
    """Chromium cannot be started (not installed, crashed at launch, Playwright missing)."""


class BrowserPool:
    """One Chromium for ``executable``, shared by every run on this event loop."""

    def __init__(self, executable: str, *, idle_timeout: float = 300.0) -> None:
        self.executable = executable
        self.idle_timeout = idle_timeout
        self.marker = uuid.uuid4().hex
        self.launches = 0  # how many browsers this pool has started (restarts show here)
        self.in_flight = 0
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self._user_agent = ""
        self._launching: asyncio.Task[Browser] | None = None
        self._cond = asyncio.Condition()
        self._background: set[asyncio.Task[Any]] = set()
        self._keeper: asyncio.Task[None] | None = None
        self._idle_since = asyncio.get_running_loop().time()
        self._closed = False

    # --- concurrency ---------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def slot(self, limit: int) -> AsyncIterator[None]:
        """Wait until fewer than ``limit`` runs are in flight, then hold one slot."""
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < max(limit, 1))
            self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self._idle_since = asyncio.get_running_loop().time()
            # Notify from a task: a cancelled run may not be able to take the lock now.
            self._spawn(self._notify())

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    # --- the browser ---------------------------------------------------------------------

    @property
    def user_agent(self) -> str:
        """Chromium's own user agent plus :data:`SYNTHETIC_TOKEN` (known after launch)."""
        return self._user_agent

    async def browser(self) -> Browser:
        """The running browser, launching (or relaunching after a crash) when needed."""
        if self._closed:
            raise BrowserUnavailable("the browser pool is closed")
        if self._browser is not None and self._browser.is_connected():
            return self._browser
        if self._launching is None or self._launching.done():
            self._launching = asyncio.get_running_loop().create_task(self._launch())
        # Shielded: a run cancelled while waiting must not cancel the launch others wait for.
        return await asyncio.shield(self._launching)

    async def _launch(self) -> Browser:
        if self._browser is not None:  # it died: clear what is left of it first
            log.warning("browser disconnected; restarting it", extra={"fields": self._fields()})
            self._browser = None
            await self._reap()
        try:
            from playwright.async_api import async_playwright
        except ImportError:
            raise BrowserUnavailable(
                "Playwright is not installed: pip install 'twinlens[browser]'"
            ) from None
        try:
            if self._pw is None:
                self._pw = await async_playwright().start()
            browser = await self._pw.chromium.launch(
                executable_path=self.executable,
                args=list(LAUNCH_ARGS),
                env={**os.environ, MARKER_ENV: self.marker},
                timeout=_LAUNCH_TIMEOUT * 1000,
            )
        except Exception as exc:
            await self._stop_playwright()
            await self._reap()
            raise BrowserUnavailable(f"cannot start {self.executable}: {exc}") from exc
        self.launches += 1
        try:
            self._user_agent = await self._default_user_agent(browser)
        except Exception as exc:
            await browser.close()
            raise BrowserUnavailable(
                f"{self.executable} started but does not answer: {exc}"
            ) from exc
        self._browser = browser
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self._keep())
        log.info(
            "browser started",
            extra={"fields": {**self._fields(), "version": browser.version}},
        )
        return browser

    @staticmethod
    async def _default_user_agent(browser: Browser) -> str:
        context = await browser.new_context()
        try:
            page = await context.new_page()
            ua = str(await page.evaluate("navigator.userAgent"))
        finally:
            await context.close()
        return f"{ua} {SYNTHETIC_TOKEN}"

    @contextlib.asynccontextmanager
    async def context(self, **options: Any) -> AsyncIterator[BrowserContext]:
        """A fresh browser context, closed on the way out whatever happens.

        ``options`` go to Playwright's ``new_context``; the user agent defaults to
        :attr:`user_agent`.
        """
        browser = await self.browser()
        options.setdefault("user_agent", self._user_agent)
        creating = asyncio.get_running_loop().create_task(browser.new_context(**options))
        try:
            ctx = await asyncio.shield(creating)
        except asyncio.CancelledError:
            creating.add_done_callback(self._close_orphan)
            raise
        try:
            yield ctx
        finally:
            closing = self._spawn(self._close_context(ctx))
            await asyncio.shield(closing)

    def _close_orphan(self, task: asyncio.Task[BrowserContext]) -> None:
        if not task.cancelled() and task.exception() is None:
            self._spawn(self._close_context(task.result()))

    async def _close_context(self, ctx: BrowserContext) -> None:
        try:
            await asyncio.wait_for(ctx.close(), _CLOSE_TIMEOUT)
        except Exception as exc:  # a wedged browser: restart it rather than leak it
            log.warning(
                "closing a browser context failed; restarting the browser",
                extra={"fields": {**self._fields(), "err": str(exc) or type(exc).__name__}},
            )
            await self._close_browser()

    def crashed(self) -> bool:
        """Did the browser die (so the run that saw errors should not blame the page)?"""
        return self._browser is not None and not self._browser.is_connected()

    # --- processes -----------------------------------------------------------------------

    def processes(self) -> list[int]:
        """Every live process of this pool's Chromium (Linux ``/proc``; elsewhere ``[]``)."""
        return _pool_processes(self.marker)

    async def _reap(self) -> None:
        """Kill what a dead browser left: re-parented crash handlers, renderers."""
        for _ in range(20):
            pids = self.processes()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.05)

    # --- lifecycle -----------------------------------------------------------------------

    async def _keep(self) -> None:
        """Close the browser after ``idle_timeout`` without runs, and when the loop ends."""
        loop = asyncio.get_running_loop()
        try:
            while not self._closed:
                wake = self._idle_since + self.idle_timeout
                await asyncio.sleep(max(wake - loop.time(), 0.05))
                idle = loop.time() - self._idle_since >= self.idle_timeout
                if idle and self.in_flight == 0 and self._browser is not None:
                    log.info("browser idle; closing it", extra={"fields": self._fields()})
                    await self._close_browser()
                    await self._stop_playwright()
                    return
        except asyncio.CancelledError:
            # The event loop is shutting down (asyncio.run / Runner cancels every task).
            await self._close_browser()
            raise

    async def _close_browser(self) -> None:
        browser, self._browser = self._browser, None
        if browser is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(browser.close(), _CLOSE_TIMEOUT)
        await self._reap()

    async def _stop_playwright(self) -> None:
        pw, self._pw = self._pw, None
        if pw is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pw.stop(), _CLOSE_TIMEOUT)

    async def close(self) -> None:
        """Close the browser and Playwright; later runs get :class:`BrowserUnavailable`."""
        self._closed = True
        if self._launching is not None and not self._launching.done():
            with contextlib.suppress(BaseException):
                await self._launching
        pending = list(self._background)
        if pending:
            await asyncio.wait(pending, timeout=_CLOSE_TIMEOUT)
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(BaseException):
                await self._keeper
        await self._close_browser()
        await self._stop_playwright()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _fields(self) -> dict[str, object]:
        return {"executable": self.executable, "launches": self.launches}


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _pool_processes(marker: str) -> list[int]:
    """Processes carrying ``MARKER_ENV=marker`` and every process in their sessions.

    Chromium's zygote scrubs its children's environment, so renderers are found by session:
    Playwright starts the browser as a session leader and the children stay in it.
    """
    if not os.path.isdir("/proc/self"):
        return []
    needle = f"{MARKER_ENV}={marker}".encode()
    marked: set[int] = set()
    sessions: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            stat = _read(f"/proc/{pid}/stat").decode(errors="replace")
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] == "Z":
                continue  # a zombie is already dead; its parent reaps it
            sessions[pid] = int(fields[3])
            if needle in _read(f"/proc/{pid}/environ").split(b"\0"):
                marked.add(pid)
        except (OSError, ValueError, IndexError):
            continue
    leaders = {pid for pid in marked if sessions.get(pid) == pid}
    return sorted(pid for pid, sid in sessions.items() if pid in marked or sid in leaders)


# --- one pool per executable per event loop ---------------------------------------------------

_pools: dict[int, tuple[asyncio.AbstractEventLoop, dict[str, BrowserPool]]] = {}


def get_pool(executable: str) -> BrowserPool:
    """The pool for ``executable`` on the running event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    for key, (other, _) in list(_pools.items()):
        if other.is_closed():
            del _pools[key]
    _, pools = _pools.setdefault(id(loop), (loop, {}))
    pool = pools.get(executable)
    if pool is None or pool._closed:
        pool = pools[executable] = BrowserPool(executable)
    return pool


async def close_all() -> None:
    """Close every pool of the running event loop (exporter shutdown, tests)."""
    loop = asyncio.get_running_loop()
    entry = _pools.pop(id(loop), None)
    if entry is not None:
        for pool in entry[1].values():
            await pool.close()
