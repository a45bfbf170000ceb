"""One prober per module, one signature, one table.

Every prober is a plain async function::

    async def probe_http(target: str, module: Module, metrics: ProbeMetrics,
                         log: ProbeLog, deadline: float) -> bool

``deadline`` is an absolute ``loop.time()``. A failed probe is data: the prober records
its samples, calls ``metrics.fail(reason)`` (a reason from ``FAILURE_REASONS``), logs why
to ``log`` and returns False. It raises only for bugs; the runner reports those as
``internal``. Probers are imported when first used, so ``import exporter`` stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exporter.config import Module
    from exporter.metrics import ProbeMetrics
    from exporter.probelog import ProbeLog

__all__ = ["PROBERS", "ProbeFn", "get_prober"]

ProbeFn = Callable[[str, "Module", "ProbeMetrics", "ProbeLog", float], Awaitable[bool]]

#: prober kind -> "module:function"
PROBERS: dict[str, str] = {
    "http": "exporter.probers.http:probe_http",
    "tcp": "exporter.probers.tcp:probe_tcp",
    "dns": "exporter.probers.dns:probe_dns",
    "icmp": "exporter.probers.icmp:probe_icmp",
    "grpc": "exporter.probers.grpc:probe_grpc",
    "journey": "exporter.probers.journey:probe_journey",
    "browser": "exporter.probers.browser:probe_browser",
}

_loaded: dict[str, ProbeFn] = {}


def get_prober(kind: str) -> ProbeFn:
    """The probe function for ``kind`` (KeyError for an unknown kind)."""
    fn = _loaded.get(kind)
    if fn is None:
        module_name, _, attr = PROBERS[kind].partition(":")
        fn = _loaded[kind] = getattr(importlib.import_module(module_name), attr)
    return fn
