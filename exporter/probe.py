"""Run one probe: the single path shared by ``/probe``, scheduled checks and ``twinlens probe``.

The runner owns what every probe has in common: the hard deadline, ``probe_success``,
``probe_duration_seconds``, ``probe_failure_info{reason}`` and turning a prober bug into a
failed probe with reason ``internal`` rather than a crashed request.
"""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec

from exporter.config import FAILURE_REASONS, Module
from exporter.metrics import ProbeMetrics
from exporter.probelog import ProbeLog
from exporter.probers import get_prober

__all__ = ["ProbeOutcome", "run_probe", "run_single_probe"]

log = logging.getLogger("exporter.probe")


class ProbeOutcome(msgspec.Struct):
    """What one probe produced: verdict, samples and its own log."""

    module: str
    target: str
    success: bool
    reason: str | None
    duration: float
    started: float  # wall clock, seconds since the epoch
    metrics: ProbeMetrics
    log: ProbeLog


async def run_probe(module_name: str, module: Module, target: str, timeout: float) -> ProbeOutcome:
    """Probe ``target`` with ``module`` within ``timeout`` seconds; never raises for bad targets.

    A module with ``every_address`` probes each address of the target's host (samples
    labelled ``ip``); every caller (``/probe``, checks, ``twinlens probe``) gets that here.
    """
    if module.every_address:
        from exporter.every_address import run_every_address

        return await run_every_address(module_name, module, target, timeout)
    return await run_single_probe(module_name, module, target, timeout)


async def run_single_probe(
    module_name: str, module: Module, target: str, timeout: float
) -> ProbeOutcome:
    """One probe of one address (see :func:`run_probe`)."""
    metrics = ProbeMetrics()
    plog = ProbeLog()
    started = time.time()
    t0 = time.perf_counter()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(timeout, 0.0)
    plog.info("Beginning probe", probe=module.prober, timeout_seconds=round(timeout, 3))
    try:
        prober = get_prober(module.prober)
        async with asyncio.timeout_at(deadline):
            success = await prober(target, module, metrics, plog, deadline)
    except TimeoutError:
        plog.error("Probe timed out", timeout_seconds=round(timeout, 3))
        success = metrics.fail("timeout")
    except Exception as exc:  # a prober bug: a failed probe, not a failed scrape
        log.exception("prober raised", extra={"fields": {"module": module_name, "target": target}})
        plog.error("Internal error in prober", err=repr(exc))
        metrics.failure_reason = "internal"
        success = False
    duration = time.perf_counter() - t0
    reason = None
    if not success:
        reason = metrics.failure_reason or "internal"
        if reason not in FAILURE_REASONS:  # keep the label bounded whatever a prober says
            reason = "internal"
        metrics.gauge("probe_failure_info", 1, reason=reason)
    metrics.gauge("probe_duration_seconds", duration)
    metrics.gauge("probe_success", 1 if success else 0)
    if success:
        plog.info("Probe succeeded", duration_seconds=round(duration, 6))
    else:
        plog.error("Probe failed", reason=reason, duration_seconds=round(duration, 6))
    return ProbeOutcome(
        module=module_name,
        target=target,
        success=success,
        reason=reason,
        duration=duration,
        started=started,
        metrics=metrics,
        log=plog,
    )
