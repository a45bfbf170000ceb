"""The exporter's web endpoints (aiohttp): a thin adapter around :func:`run_probe`.

``/probe`` follows blackbox_exporter exactly: the same query parameters (``target``,
``module``, ``debug``, ``hostname``), the same ``X-Prometheus-Scrape-Timeout-Seconds``
handling and error texts, a fresh set of samples per probe. Around it: ``/metrics`` (the
exporter itself, plus every scheduled check's series), ``/-/healthy``, ``/-/ready``,
``POST /-/reload``, ``/config`` (secrets redacted), ``/logs?id=N`` and ``/`` (recent probes,
failed ones kept apart, and scheduled checks).
"""

from __future__ import annotations

import asyncio
import gc
import html
import importlib
import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Protocol

import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from exporter.config import Config, Module, load_config
from exporter.history import HistoryEntry, ProbeHistory
from exporter.probe import ProbeOutcome, run_probe
from twinlens.runtime.config import to_builtins
from twinlens.runtime.reload import Reloader
from twinlens.runtime.selfmetrics import new_registry, render

if TYPE_CHECKING:
    from collections.abc import Sequence


class _CheckStatus(Protocol):
    name: str
    module: str
    target: str
    last_success: bool | None
    last_reason: str | None
    last_run: float | None
    last_failed_id: int | None


class Scheduler(Protocol):
    """What the web layer needs of :class:`exporter.scheduler.Scheduler`."""

    async def start(self, config: Config) -> None: ...
    def apply(self, config: Config) -> None: ...
    async def stop(self) -> None: ...
    def render(self) -> str: ...
    def render_chunks(self, chunk_bytes: int = ...) -> list[bytes]: ...
    def statuses(self) -> Sequence[_CheckStatus]: ...


__all__ = ["ExporterState", "build_app", "probe_timeout"]

log = logging.getLogger("exporter.web")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Keys whose values never leave the process (``/config``, debug output).
SECRET_KEYS = frozenset(
    {"password", "credentials", "bearer_token", "client_secret", "key", "secret", "token"}
)


class ExporterState:
    """Everything the handlers share: config, history, scheduler, self-metrics."""

    def __init__(
        self,
        config_path: str | None,
        *,
        timeout_offset: float = 0.5,
        location: str = "default",
        shard: tuple[int, int] = (0, 1),
        max_concurrency: int = 64,
        history_limit: int = 100,
    ) -> None:
        self.registry: CollectorRegistry = new_registry("exporter")
        self.reloader: Reloader[Config] = Reloader(
            config_path, load_config, self.registry, "twinlens_exporter"
        )
        self.timeout_offset = timeout_offset
        self.location = location
        self.shard = shard
        self.max_concurrency = max_concurrency
        self.history = ProbeHistory(limit=history_limit, failed_limit=history_limit)
        self.scheduler: Scheduler | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # set on startup
        self.ready = False
        self._probes = Counter(
            "twinlens_exporter_probes",
            "Probes answered on /probe, by module and result.",
            ["module", "result"],
            registry=self.registry,
        )
        self.reloader.on_change(self._config_changed)

    @property
    def config(self) -> Config:
        return self.reloader.current

    async def start(self) -> None:
        await self._sync_scheduler(self.config)
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        if self.scheduler is not None:
            await self.scheduler.stop()
        pools = sys.modules.get("exporter.browser_pool")  # loaded only if a browser probe ran
        if pools is not None:
            await pools.close_all()

    async def _sync_scheduler(self, config: Config) -> None:
        if self.scheduler is None:
            if not config.checks:
                return  # blackbox-only use: no scheduler at all
            # Imported on first use: a blackbox-only exporter never loads the scheduler.
            scheduler_cls = importlib.import_module("exporter.scheduler").Scheduler
            self.scheduler = scheduler_cls(
                location=self.location,
                shard=self.shard,
                max_concurrency=self.max_concurrency,
                history=self.history,
            )
            await self.scheduler.start(config)
        else:
            self.scheduler.apply(config)
        # The config and one state per check live until the next reload: move them out of
        # the collector's sight, so full collections stay short with thousands of checks
        # instead of pausing every check's start.
        gc.freeze()

    def _config_changed(self, old: Config, new: Config) -> None:
        # Reloads run in a worker thread; the scheduler lives on the event loop. Wait for
        # the swap so that a reload answered "ok" has really applied the new checks.
        if self.loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._sync_scheduler(new), self.loop)
        future.result(timeout=30)

    def count_probe(self, module: str, success: bool) -> None:
        self._probes.labels(module, "success" if success else "failure").inc()


def probe_timeout(header: str | None, module: Module, offset: float) -> float:
    """blackbox's rule: the scrape timeout header (default 120 s) minus ``offset``, capped by
    the module's own ``timeout`` when that is set and smaller.

    >>> probe_timeout("10", Module(prober="http"), 0.5)
    9.5
    """
    seconds = float(header) if header else 0.0
    if seconds == 0:
        seconds = 120.0
    limit = seconds - offset
    if 0 < module.timeout < limit or limit < 0:
        return float(module.timeout)
    return limit


def redact(value: Any) -> Any:
    """A config as plain data with secret values replaced by ``<secret>``."""
    if isinstance(value, dict):
        return {k: ("<secret>" if k in SECRET_KEYS and v else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    return redact(to_builtins(value))


def _text(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/plain")


# --- handlers ---------------------------------------------------------------------------------


async def handle_probe(request: web.Request) -> web.Response:
    state: ExporterState = request.app["state"]
    query = request.rel_url.query
    config = state.config
    module_name = query.get("module") or "http_2xx"
    module = config.modules.get(module_name)
    if module is None:
        return _text(f'Unknown module "{module_name}"\n', 400)
    target = query.get("target", "")
    if not target:
        return _text("Target parameter is missing\n", 400)
    try:
        timeout = probe_timeout(
            request.headers.get("X-Prometheus-Scrape-Timeout-Seconds"),
            module,
            state.timeout_offset,
        )
    except ValueError:
        return _text("Failed to parse timeout from Prometheus header\n", 500)
    module = module.with_hostname(query.get("hostname", ""))
    outcome = await run_probe(module_name, module, target, timeout)
    state.history.add(outcome)
    state.count_probe(module_name, outcome.success)
    if query.get("debug", "").lower() == "true":
        return _text(_debug_output(outcome, module))
    return web.Response(
        body=outcome.metrics.render().encode(), headers={"Content-Type": CONTENT_TYPE}
    )


def _debug_output(outcome: ProbeOutcome, module: Module) -> str:
    module_yaml = yaml.safe_dump(_plain(module), sort_keys=False)
    return (
        f"Logs for the probe:\n{outcome.log.text()}\n\n"
        f"Metrics that would have been returned:\n{outcome.metrics.render()}\n\n"
        f"Module configuration:\n{module_yaml}"
    )


async def handle_metrics(request: web.Request) -> web.StreamResponse:
    state: ExporterState = request.app["state"]
    own = render(state.registry)
    if state.scheduler is None:
        return web.Response(body=own, headers={"Content-Type": CONTENT_TYPE})
    # With thousands of checks the text is tens of MB: built in small chunks in a worker
    # thread and streamed, so rendering never holds the loop (probes keep starting on time).
    chunks = await asyncio.to_thread(state.scheduler.render_chunks)
    response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE})
    await response.prepare(request)
    await response.write(own)
    for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


async def handle_healthy(request: web.Request) -> web.Response:
    return _text("Healthy\n")


async def handle_ready(request: web.Request) -> web.Response:
    state: ExporterState = request.app["state"]
    if not state.ready:
        return _text("Not ready\n", 503)
    return _text("Ready\n")


async def handle_reload(request: web.Request) -> web.Response:
    state: ExporterState = request.app["state"]
    error = await asyncio.get_running_loop().run_in_executor(None, state.reloader.reload)
    if error is not None:
        return _text(f"failed to reload config: {error}\n", 500)
    return _text("config reloaded\n")


async def handle_config(request: web.Request) -> web.Response:
    state: ExporterState = request.app["state"]
    return _text(yaml.safe_dump(_plain(state.config), sort_keys=False))


async def handle_logs(request: web.Request) -> web.Response:
    state: ExporterState = request.app["state"]
    try:
        entry = state.history.get(int(request.rel_url.query.get("id", "")))
    except ValueError:
        entry = None
    if entry is None:
        return _text("Probe not found (it may have aged out of the history)\n", 404)
    head = f"{entry.module} {entry.target}"
    if entry.check:
        head = f"check {entry.check}: {head}"
    files = "".join(
        f"\nartifact: /artifacts?id={entry.id}&file={os.path.basename(p)}" for p in entry.artifacts
    )
    return _text(f"{head}\n\n{entry.log}{files}")


_ARTIFACT_TYPES = {".png": "image/png", ".zip": "application/zip"}


async def handle_artifact(request: web.Request) -> web.StreamResponse:
    """A file a probe kept (``/artifacts?id=N&file=screenshot.png``). Only files named in
    that history entry are served: the query never becomes a path (no traversal)."""
    state: ExporterState = request.app["state"]
    query = request.rel_url.query
    try:
        entry = state.history.get(int(query.get("id", "")))
    except ValueError:
        entry = None
    name = query.get("file", "")
    paths = [p for p in (entry.artifacts if entry else ()) if os.path.basename(p) == name]
    if not paths or not await asyncio.to_thread(os.path.isfile, paths[0]):
        return _text("Artifact not found (it may have aged out of the history or retention)\n", 404)
    content_type = _ARTIFACT_TYPES.get(os.path.splitext(name)[1], "application/octet-stream")
    return web.FileResponse(paths[0], headers={"Content-Type": content_type})


# --- the page ----------------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>twinlens exporter</title>
<style>
body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}}
.ok{{color:#17803d}}.bad{{color:#c5221f;font-weight:600}}code{{font-size:13px}}
</style></head><body>
<h1>twinlens exporter</h1>
<p><a href="/metrics">Metrics</a> · <a href="/config">Configuration</a> ·
<a href="/probe?target=prometheus.io&amp;module=http_2xx&amp;debug=true">Example probe (debug)</a>
· location <code>{location}</code></p>
{checks}
<h2>Recent failed probes</h2>
{failed}
<h2>Recent probes</h2>
{recent}
</body></html>
"""


def _ago(ts: float | None) -> str:
    if not ts:
        return "never"
    return f"{max(time.time() - ts, 0):.0f}s ago"


def _history_table(entries: list[HistoryEntry]) -> str:
    if not entries:
        return "<p>None yet.</p>"
    rows = []
    for e in entries:
        verdict = (
            '<span class="ok">success</span>'
            if e.success
            else (f'<span class="bad">failed: {html.escape(e.reason or "")}</span>')
        )
        rows.append(
            f"<tr><td>{html.escape(e.check or '')}</td><td>{html.escape(e.module)}</td>"
            f"<td><code>{html.escape(e.target)}</code></td><td>{verdict}</td>"
            f"<td>{e.duration:.3f}s</td><td>{_ago(e.started)}</td>"
            f'<td><a href="/logs?id={e.id}">log</a>{_artifact_links(e)}</td></tr>'
        )
    return (
        "<table><tr><th>Check</th><th>Module</th><th>Target</th><th>Result</th>"
        "<th>Duration</th><th>When</th><th>Log</th></tr>" + "".join(rows) + "</table>"
    )


def _artifact_links(e: HistoryEntry) -> str:
    names = [html.escape(os.path.basename(p), quote=True) for p in e.artifacts]
    return "".join(f' · <a href="/artifacts?id={e.id}&amp;file={n}">{n}</a>' for n in names)


def _checks_table(state: ExporterState) -> str:
    if state.scheduler is None:
        return ""
    rows = []
    for s in state.scheduler.statuses():
        if s.last_success is None:
            verdict = "pending"
        elif s.last_success:
            verdict = '<span class="ok">up</span>'
        else:
            verdict = f'<span class="bad">down: {html.escape(s.last_reason or "")}</span>'
        link = f'<a href="/logs?id={s.last_failed_id}">last failure</a>' if s.last_failed_id else ""
        rows.append(
            f"<tr><td>{html.escape(s.name)}</td><td>{html.escape(s.module)}</td>"
            f"<td><code>{html.escape(s.target)}</code></td><td>{verdict}</td>"
            f"<td>{_ago(s.last_run)}</td><td>{link}</td></tr>"
        )
    return (
        "<h2>Scheduled checks</h2><table><tr><th>Check</th><th>Module</th><th>Target</th>"
        "<th>Last result</th><th>Last run</th><th>Log</th></tr>" + "".join(rows) + "</table>"
    )


async def handle_index(request: web.Request) -> web.Response:
    state: ExporterState = request.app["state"]
    page = _PAGE.format(
        location=html.escape(state.location),
        checks=_checks_table(state),
        failed=_history_table(state.history.failed()),
        recent=_history_table(state.history.recent()),
    )
    return web.Response(text=page, content_type="text/html")


def build_app(state: ExporterState) -> web.Application:
    """The aiohttp application; ``state.start()`` runs on startup, ``stop()`` on cleanup."""
    app = web.Application()
    app["state"] = state

    async def on_startup(app: web.Application) -> None:
        state.loop = asyncio.get_running_loop()
        await state.start()

    async def on_cleanup(app: web.Application) -> None:
        await state.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_get("/", handle_index)
    app.router.add_get("/probe", handle_probe)
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_get("/-/healthy", handle_healthy)
    app.router.add_get("/-/ready", handle_ready)
    app.router.add_post("/-/reload", handle_reload)
    app.router.add_put("/-/reload", handle_reload)
    app.router.add_get("/config", handle_config)
    app.router.add_get("/logs", handle_logs)
    app.router.add_get("/artifacts", handle_artifact)
    return app
