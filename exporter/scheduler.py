"""Scheduled checks: each on its own clock, counted exactly, rendered cheaply.

blackbox_exporter only probes when scraped, so uptime depends on the scrape interval and a
failure between scrapes is lost. Here every check runs on its own schedule, and every run
and every attempt is *counted*, so ``increase()`` of the run counters gives exact uptime
whatever the scrape interval::

    scheduler = Scheduler(location="eu-west", shard=(0, 2), history=history)
    await scheduler.start(config)      # run config.checks of shard 0 of 2
    scheduler.apply(new_config)        # reload: add, remove, change checks
    text = scheduler.render()          # every check's series, Prometheus text format
    await scheduler.stop()

Scheduling rules (documented in README "Scheduled checks"):

- A check runs in *slots* ``offset + k * interval`` on the wall clock. ``offset`` is a
  stable fraction of the interval from a hash of the check name, so checks spread over
  the interval (no thundering herd) and keep their phase across restarts and locations.
- A run never overlaps itself and must *start* before the next slot: a slot whose run
  could not start in time (a concurrency slot did not free up, or the previous run was
  still going) is counted in ``twinlens_check_skipped_total``. Every slot that passes is
  therefore either a run or a skip.
- At most ``max_concurrency`` attempts are in flight in the process; retries release
  their concurrency slot while they back off.

Rendering is string joining: each run re-renders its own check's lines once, into one
dict per metric family, and ``render()`` joins those dicts. It only reads, so it may run
in a worker thread (``await asyncio.to_thread(scheduler.render)``) so a scrape of 10,000
checks never holds the event loop that starts probes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Iterable, Iterator

import msgspec

from exporter.config import Check, Config, Module
from exporter.history import ProbeHistory
from exporter.metrics import CATALOG, LabelPairs, escape_label_value, format_value
from exporter.probe import ProbeOutcome, run_probe

__all__ = [
    "DURATION_BUCKETS",
    "LAG_BUCKETS",
    "CheckStatus",
    "Scheduler",
    "effective_timeout",
    "offset_fraction",
    "shard_of",
]

log = logging.getLogger("exporter.scheduler")

#: ``twinlens_check_duration_seconds`` buckets, shared with the dashboards (do not change).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
#: ``twinlens_scheduler_start_lag_seconds`` buckets: how late runs start after their slot.
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)
#: Checks per piece when rendering: small pieces keep each GIL-holding ``join`` short.
_PIECE_CHECKS = 256
#: Share of the interval used as the timeout when neither the check nor its module sets one.
DEFAULT_TIMEOUT_SHARE = 0.8

# Families a check renders itself: name -> (type, help). Order is the output order.
_CHECK_FAMILIES: dict[str, tuple[str, str]] = {
    "twinlens_check_info": (
        "gauge",
        "A scheduled check: its target, module and prober. Always 1.",
    ),
    "twinlens_check_runs_total": (
        "counter",
        "Check runs by final result after retries (success or failure); uptime is success / all.",
    ),
    "twinlens_check_attempts_total": (
        "counter",
        "Check attempts by result, retries included, so retries never hide failures.",
    ),
    "twinlens_check_failures_total": (
        "counter",
        "Failed check runs (final result) by failure reason.",
    ),
    "twinlens_check_duration_seconds": (
        "histogram",
        "Duration of the attempt that decided each check run.",
    ),
    "twinlens_check_last_run_timestamp_seconds": (
        "gauge",
        "When the last run of the check finished, in seconds since the epoch.",
    ),
    "twinlens_check_interval_seconds": ("gauge", "The check's configured interval."),
    "twinlens_check_skipped_total": (
        "counter",
        "Scheduled runs that could not start before the next slot "
        "(previous run still going, or no concurrency slot free).",
    ),
}
_SCHEDULER_FAMILIES: dict[str, tuple[str, str]] = {
    "twinlens_scheduler_checks": ("gauge", "Checks scheduled by this process (its shard)."),
    "twinlens_scheduler_in_flight": ("gauge", "Check attempts running now."),
    "twinlens_scheduler_start_lag_seconds": (
        "histogram",
        "How late check runs started after their scheduled slot.",
    ),
}


# --- pure helpers --------------------------------------------------------------------------


def _digest(name: str) -> bytes:
    # sha256, not hash(): Python salts str hashes per process, and shards and offsets must
    # agree between processes, restarts and locations.
    return hashlib.sha256(name.encode("utf-8")).digest()


def shard_of(name: str, shards: int) -> int:
    """The 0-based shard of check ``name`` among ``shards``: stable across processes.

    >>> shard_of("homepage", 1)
    0
    """
    return int.from_bytes(_digest(name)[:8], "big") % shards


def offset_fraction(name: str) -> float:
    """Where in its interval check ``name`` runs, in [0, 1): stable, independent of shard.

    >>> 0 <= offset_fraction("homepage") < 1
    True
    """
    return int.from_bytes(_digest(name)[8:16], "big") / 2.0**64


def effective_timeout(check: Check, module: Module) -> float:
    """The check's timeout: its own, else its module's, else 80 % of the interval.

    Never more than the interval, so a run can finish before the next slot.

    >>> effective_timeout(Check(name="a", module="m", target="t", interval=Duration(10)),
    ...                   Module(prober="tcp"))
    8.0
    """
    if check.timeout is not None and check.timeout > 0:
        timeout = float(check.timeout)
    elif module.timeout > 0:
        timeout = float(module.timeout)
    else:
        timeout = DEFAULT_TIMEOUT_SHARE * check.interval
    return min(timeout, float(check.interval))


def _first_slot(check: Check, now_wall: float) -> float:
    """The next wall-clock slot ``offset + k * interval`` at or after ``now_wall``."""
    interval = float(check.interval)
    offset = offset_fraction(check.name) * interval
    k = math.ceil((now_wall - offset) / interval)
    return offset + k * interval


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{escape_label_value(v)}"' for k, v in pairs)


class _Histogram:
    """Counts per bucket (not cumulative) plus sum; renders Prometheus's cumulative lines."""

    __slots__ = ("bounds", "counts", "le", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.le = [format_value(float(b)) for b in bounds] + ["+Inf"]
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
                break
        else:
            self.counts[-1] += 1
        self.sum += value

    def render(self, name: str, labels: str) -> str:
        sep = "," if labels else ""
        lines = []
        total = 0
        for le, count in zip(self.le, self.counts, strict=True):
            total += count
            lines.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {total}\n')
        suffix = f"{{{labels}}}" if labels else ""
        lines.append(f"{name}_sum{suffix} {format_value(self.sum)}\n")
        lines.append(f"{name}_count{suffix} {total}\n")
        return "".join(lines)


# --- per-check state -----------------------------------------------------------------------


class CheckStatus(msgspec.Struct, frozen=True):
    """One check as the web page shows it.

    ``last_success`` is None until the first run finishes; ``last_failed_id`` is the
    history id (``/logs?id=N``) of the most recent failed run, if any is still kept.
    """

    name: str
    module: str
    target: str
    location: str
    prober: str
    interval: float
    timeout: float
    labels: dict[str, str]
    last_success: bool | None
    last_reason: str | None
    last_run: float | None
    last_duration: float | None
    last_failed_id: int | None
    runs: int
    failures: int
    skipped: int


def _identity(check: Check, module: Module) -> tuple[object, ...]:
    """What makes a check's series the same series: counters survive other changes."""
    return (check.module, check.target, tuple(sorted(check.labels.items())), module.prober)


class _CheckState:
    """Counters and pre-rendered lines of one check; mutated only on the event loop."""

    def __init__(self, check: Check, module: Module, location: str) -> None:
        self.runs = {"success": 0, "failure": 0}
        self.attempts = {"success": 0, "failure": 0}
        self.failures: dict[str, int] = {}
        self.duration = _Histogram(DURATION_BUCKETS)
        self.skipped = 0
        self.last_success: bool | None = None
        self.last_reason: str | None = None
        self.last_run: float | None = None
        self.last_duration: float | None = None
        self.last_failed_id: int | None = None
        self.probe_lines: dict[str, str] = {}
        self.task: asyncio.Task[None] | None = None
        self.configure(check, module, location)

    def configure(self, check: Check, module: Module, location: str) -> None:
        self.check = check
        self.module = module
        self.location = location
        self.identity = _identity(check, module)
        self.timeout = effective_timeout(check, module)
        self.extra: LabelPairs = (
            ("check", check.name),
            ("location", location),
            *sorted(check.labels.items()),
        )
        self.extra_keys = frozenset(k for k, _ in self.extra)
        self.base = _labels(self.extra)

    # Recording -----------------------------------------------------------------------

    def record_attempt(self, success: bool) -> None:
        self.attempts["success" if success else "failure"] += 1

    def record_run(self, outcome: ProbeOutcome, finished: float, history_id: int | None) -> None:
        result = "success" if outcome.success else "failure"
        self.runs[result] += 1
        if not outcome.success:
            reason = outcome.reason or "internal"
            self.failures[reason] = self.failures.get(reason, 0) + 1
            self.last_failed_id = history_id
        self.duration.observe(outcome.duration)
        self.last_success = outcome.success
        self.last_reason = outcome.reason
        self.last_run = finished
        self.last_duration = outcome.duration
        self.probe_lines = self._probe_lines(outcome)

    def _probe_lines(self, outcome: ProbeOutcome) -> dict[str, str]:
        metrics = outcome.metrics
        if not any(k in self.extra_keys for _, pairs, _ in metrics.samples() for k, _ in pairs):
            return metrics.fragments(self.extra)
        # A check label named like one of the probe's own labels (a user's query_response
        # label, say): the probe's label wins, so no sample carries a label twice.
        out: dict[str, str] = {}
        for name, pairs, value in metrics.samples():
            own = {k for k, _ in pairs}
            labels = _labels([*(p for p in self.extra if p[0] not in own), *pairs])
            out[name] = out.get(name, "") + f"{name}{{{labels}}} {format_value(value)}\n"
        return out

    # Rendering -----------------------------------------------------------------------

    def lines(self) -> dict[str, str]:
        """Every family's lines for this check (scheduler families first, then probe_*)."""
        b = self.base
        check = self.check
        info = _labels(
            (
                ("target", check.target),
                ("module", check.module),
                ("prober", self.module.prober),
            )
        )
        out = {
            "twinlens_check_info": f"twinlens_check_info{{{b},{info}}} 1\n",
            "twinlens_check_runs_total": "".join(
                f'twinlens_check_runs_total{{{b},result="{r}"}} {n}\n' for r, n in self.runs.items()
            ),
            "twinlens_check_attempts_total": "".join(
                f'twinlens_check_attempts_total{{{b},result="{r}"}} {n}\n'
                for r, n in self.attempts.items()
            ),
            "twinlens_check_duration_seconds": self.duration.render(
                "twinlens_check_duration_seconds", b
            ),
            "twinlens_check_interval_seconds": (
                f"twinlens_check_interval_seconds{{{b}}} {format_value(check.interval)}\n"
            ),
            "twinlens_check_skipped_total": f"twinlens_check_skipped_total{{{b}}} {self.skipped}\n",
        }
        if self.failures:
            out["twinlens_check_failures_total"] = "".join(
                f'twinlens_check_failures_total{{{b},reason="{r}"}} {n}\n'
                for r, n in sorted(self.failures.items())
            )
        if self.last_run is not None:
            out["twinlens_check_last_run_timestamp_seconds"] = (
                f"twinlens_check_last_run_timestamp_seconds{{{b}}} {format_value(self.last_run)}\n"
            )
        out.update(self.probe_lines)
        return out

    def status(self) -> CheckStatus:
        return CheckStatus(
            name=self.check.name,
            module=self.check.module,
            target=self.check.target,
            location=self.location,
            prober=self.module.prober,
            interval=float(self.check.interval),
            timeout=self.timeout,
            labels=dict(self.check.labels),
            last_success=self.last_success,
            last_reason=self.last_reason,
            last_run=self.last_run,
            last_duration=self.last_duration,
            last_failed_id=self.last_failed_id,
            runs=self.runs["success"] + self.runs["failure"],
            failures=self.runs["failure"],
            skipped=self.skipped,
        )


# --- the scheduler -------------------------------------------------------------------------


class Scheduler:
    """Runs the checks of one location (and shard) and keeps their series.

    Every method is called on the event loop that ran :meth:`start`, except
    :meth:`render` and :meth:`statuses`, which only read and may run in a worker thread.
    """

    def __init__(
        self,
        *,
        location: str,
        shard: tuple[int, int] = (0, 1),
        max_concurrency: int = 64,
        history: ProbeHistory | None = None,
    ) -> None:
        index, count = shard
        if not 0 <= index < count:
            raise ValueError(f"shard must be i/n with 0 <= i < n, not {index}/{count}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {max_concurrency}")
        if not location or len(location) > 128:
            raise ValueError("location must be 1-128 characters")
        self.location = location
        self.shard = (index, count)
        self.max_concurrency = max_concurrency
        self.history = history
        self._states: dict[str, _CheckState] = {}
        # family -> check name -> that check's lines; render() joins each inner dict.
        self._families: dict[str, dict[str, str]] = {name: {} for name in _CHECK_FAMILIES}
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._retired: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight = 0
        self._lag = _Histogram(LAG_BUCKETS)
        self._base = _labels((("location", location),))

    # Lifecycle -------------------------------------------------------------------------

    async def start(self, config: Config) -> None:
        """Begin running ``config.checks`` (those enabled and in this shard)."""
        if self._loop is not None:
            raise RuntimeError("Scheduler.start() called twice; use apply() to reload")
        self._loop = asyncio.get_running_loop()
        self.apply(config)

    def apply(self, config: Config) -> None:
        """Switch to ``config``'s checks: add new ones, drop removed ones, restart changed ones.

        A check whose series identity (module name, target, labels, prober) is unchanged
        keeps its counters even when its interval, timeout, retries or module settings
        change; it is rescheduled. A check whose identity changed starts from zero and its
        old series disappear, as do those of removed checks.
        """
        if self._loop is None:
            raise RuntimeError("Scheduler.apply() before start()")
        wanted: dict[str, tuple[Check, Module]] = {}
        for check in config.checks:
            if check.enabled and shard_of(check.name, self.shard[1]) == self.shard[0]:
                wanted[check.name] = (check, config.modules[check.module])
        for name in list(self._states):
            if name not in wanted:
                self._remove(name)
        added = changed = 0
        for name, (check, module) in wanted.items():
            state = self._states.get(name)
            if state is not None and state.check == check and state.module == module:
                continue  # untouched: its task keeps running, its counters keep counting
            if state is not None and state.identity == _identity(check, module):
                self._retire(state)
                state.configure(check, module, self.location)
                changed += 1
            else:
                if state is not None:
                    self._remove(name)
                state = self._states[name] = _CheckState(check, module, self.location)
                added += 1
            self._publish(state)
            state.task = self._loop.create_task(self._run_forever(state), name=f"check:{name}")
        log.info(
            "scheduled checks applied",
            extra={
                "fields": {
                    "checks": len(self._states),
                    "added": added,
                    "changed": changed,
                    "shard": f"{self.shard[0]}/{self.shard[1]}",
                    "location": self.location,
                }
            },
        )

    async def stop(self) -> None:
        """Cancel every run and wait for them, so no task outlives the scheduler."""
        for state in self._states.values():
            self._retire(state)
        retired = list(self._retired)
        if retired:
            await asyncio.gather(*retired, return_exceptions=True)
        self._retired.clear()

    def _retire(self, state: _CheckState) -> None:
        task, state.task = state.task, None
        if task is not None and not task.done():
            task.cancel()
            self._retired.add(task)
            task.add_done_callback(self._retired.discard)

    def _remove(self, name: str) -> None:
        state = self._states.pop(name)
        self._retire(state)
        for family in list(self._families.values()):
            family.pop(name, None)

    # Output ----------------------------------------------------------------------------

    def _publish(self, state: _CheckState) -> None:
        """Store ``state``'s lines per family: the only per-run rendering work."""
        name = state.check.name
        lines = state.lines()
        families = self._families
        for family, text in lines.items():
            target = families.get(family)
            if target is None:
                target = families[family] = {}
            target[name] = text
        for family, by_check in families.items():
            if family not in lines and name in by_check:
                del by_check[name]

    def _pieces(self) -> Iterator[str]:
        """The exposition text in pieces of a few hundred checks' lines each."""
        for family, (kind, help_text) in _SCHEDULER_FAMILIES.items():
            yield f"# HELP {family} {help_text}\n# TYPE {family} {kind}\n"
            if family == "twinlens_scheduler_checks":
                yield f"{family}{{{self._base}}} {len(self._states)}\n"
            elif family == "twinlens_scheduler_in_flight":
                yield f"{family}{{{self._base}}} {self._in_flight}\n"
            else:
                yield self._lag.render(family, self._base)
        for family, by_check in list(self._families.items()):
            texts = list(by_check.values())  # one C-level copy: safe against the loop
            if not texts:
                continue
            kind, help_text = _CHECK_FAMILIES.get(family, ("gauge", CATALOG.get(family, "")))
            yield f"# HELP {family} {help_text}\n# TYPE {family} {kind}\n"
            for i in range(0, len(texts), _PIECE_CHECKS):
                yield "".join(texts[i : i + _PIECE_CHECKS])

    def render(self) -> str:
        """Every check's series and the scheduler's own, Prometheus text format 0.0.4.

        Cheap (joins of lines rendered at run time) and read-only, so it may run in a
        worker thread while probes keep starting on the event loop.
        """
        return "".join(self._pieces())

    def render_chunks(self, chunk_bytes: int = 1 << 20) -> list[bytes]:
        """:meth:`render` as encoded chunks of about ``chunk_bytes``, for a streaming reply.

        With 10,000 checks the text is ~33 MB; one ``join``/``encode`` of that holds the GIL
        for tens of milliseconds, stalling the event loop even from a worker thread. Built
        in small pieces instead, the loop keeps starting probes on time::

            chunks = await asyncio.to_thread(scheduler.render_chunks)
            for chunk in chunks:
                await response.write(chunk)
        """
        chunks: list[bytes] = []
        pending: list[str] = []
        size = 0
        for piece in self._pieces():
            pending.append(piece)
            size += len(piece)
            if size >= chunk_bytes:
                chunks.append("".join(pending).encode())
                pending, size = [], 0
        if pending:
            chunks.append("".join(pending).encode())
        return chunks

    def statuses(self) -> list[CheckStatus]:
        """Every scheduled check with its last result, sorted by name (for the web page)."""
        return [s.status() for _, s in sorted(list(self._states.items()))]

    # Running ---------------------------------------------------------------------------

    async def _run_forever(self, state: _CheckState) -> None:
        loop = asyncio.get_running_loop()
        interval = float(state.check.interval)
        now_wall, now_loop = time.time(), loop.time()
        slot = now_loop + (_first_slot(state.check, now_wall) - now_wall)
        while True:
            delay = slot - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            next_slot = slot + interval
            now = loop.time()
            if now >= next_slot:
                # The previous run outlasted whole slots: each is a run that did not happen.
                missed = int((now - slot) // interval)
                state.skipped += missed
                self._publish(state)
                slot += missed * interval
                continue
            try:
                async with asyncio.timeout_at(next_slot):
                    await self._semaphore.acquire()
            except TimeoutError:
                state.skipped += 1
                self._publish(state)
                log.warning(
                    "check run skipped: no concurrency slot before the next run",
                    extra={"fields": {"check": state.check.name, "limit": self.max_concurrency}},
                )
                slot = next_slot
                continue
            self._lag.observe(max(loop.time() - slot, 0.0))
            try:
                await self._run_once(state, holding=True)
            except Exception:  # a bug here must not silently end this check's schedule
                log.exception("check run failed", extra={"fields": {"check": state.check.name}})
            slot = next_slot

    async def _attempt(self, state: _CheckState, *, holding: bool) -> ProbeOutcome:
        if not holding:
            await self._semaphore.acquire()
        self._in_flight += 1
        check = state.check
        try:
            return await run_probe(check.module, state.module, check.target, state.timeout)
        finally:
            self._in_flight -= 1
            self._semaphore.release()

    async def _run_once(self, state: _CheckState, *, holding: bool) -> None:
        """One run: attempts with retries, then the final result counted and published."""
        retries = state.check.retries
        outcome = await self._attempt(state, holding=holding)
        attempt = 1
        while True:
            state.record_attempt(outcome.success)
            retry = (
                not outcome.success
                and attempt <= retries.count
                and (not retries.on or outcome.reason in retries.on)
            )
            if not retry:
                break
            # The failed attempt stays visible in the history, not only in the counters.
            if self.history is not None:
                self.history.add(outcome, check=state.check.name)
            self._publish(state)
            await asyncio.sleep(float(retries.backoff))
            outcome = await self._attempt(state, holding=False)
            attempt += 1
        history_id = None
        if self.history is not None:
            history_id = self.history.add(outcome, check=state.check.name)
        state.record_run(outcome, time.time(), history_id)
        self._publish(state)
