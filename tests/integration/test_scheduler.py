"""Schedule correctness with real probes against real TCP servers on loopback.

Intervals are 1 s so each test lasts a few seconds; tolerances are the issue's (± 1 run).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from exporter.config import Check, Config, Module
from exporter.history import ProbeHistory
from exporter.scheduler import Scheduler, offset_fraction
from twinlens.runtime.config import decode

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def tcp_server(handler: Handler) -> AsyncIterator[int]:
    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def _banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"hello\n")
    await writer.drain()


async def _hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


MODULES = {
    "banner": {"prober": "tcp", "tcp": {"query_response": [{"expect": "^hello"}]}},
    "connect": {"prober": "tcp"},
}


def _config(checks: list[dict[str, Any]]) -> Config:
    return decode({"modules": MODULES, "checks": checks}, Config)


def _check(name: str, port: int, module: str = "banner", **kw: Any) -> dict[str, Any]:
    return {"name": name, "module": module, "target": f"127.0.0.1:{port}", "interval": "1s", **kw}


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def _value(text: str, name: str, **labels: str) -> float | None:
    return _samples(text).get((name, frozenset(labels.items())))


async def _until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_n_checks_run_n_t_over_i_times_at_their_offsets() -> None:
    history = ProbeHistory(limit=1000, failed_limit=10)
    sched = Scheduler(location="lab", history=history)
    names = [f"sched-{i}" for i in range(10)]
    async with tcp_server(_banner) as port:
        await sched.start(_config([_check(n, port) for n in names]))
        try:
            # A window of whole intervals, starting where no check has a slot nearby, so
            # counting by start time is exact: each check has one slot per interval.
            phases = sorted(offset_fraction(n) for n in names)
            gaps = [(b - a, a) for a, b in zip(phases, [*phases[1:], phases[0] + 1], strict=True)]
            width, after = max(gaps)
            start_phase = (after + width / 2) % 1.0
            now = time.time()
            t0 = now - (now % 1.0) + start_phase
            t0 = t0 + 1.0 if t0 < now + 0.2 else t0
            t1 = t0 + 3.0
            await asyncio.sleep(t1 - time.time() + 0.3)
        finally:
            await sched.stop()
    entries = [e for e in history.recent() if t0 <= e.started < t1]
    per_check = {n: sum(1 for e in entries if e.check == n) for n in names}
    assert abs(len(entries) - 3 * len(names)) <= 1, per_check
    assert all(2 <= c <= 4 for c in per_check.values()), per_check
    assert all(e.success for e in entries)
    # Each run started at its check's own phase: offset + k * interval (a few ms late at most)
    for e in entries:
        assert e.check is not None
        drift = (e.started - offset_fraction(e.check)) % 1.0
        assert min(drift, 1.0 - drift) < 0.15, (e.check, drift)


async def test_concurrency_cap_holds() -> None:
    active = peak = 0

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            await asyncio.sleep(0.3)
        finally:
            active -= 1  # before answering: the client's slot frees only after this
        writer.write(b"hello\n")
        await writer.drain()

    sched = Scheduler(location="lab", max_concurrency=3)
    async with tcp_server(slow) as port:
        await sched.start(_config([_check(f"slow-{i}", port) for i in range(12)]))
        try:
            await asyncio.sleep(3.5)
        finally:
            await sched.stop()
    assert peak == 3  # demand is ~3.6 attempts at once (12 x 0.3 s per second): capped at 3
    for s in sched.statuses():
        # every slot that passed either ran or was counted as skipped
        assert 2 <= s.runs + s.skipped <= 4, s
        assert s.failures == 0, s


async def test_a_hanging_target_delays_no_other_check() -> None:
    history = ProbeHistory(limit=1000, failed_limit=100)
    sched = Scheduler(location="lab", max_concurrency=4, history=history)
    fast = [f"fast-{i}" for i in range(6)]
    async with tcp_server(_banner) as port, tcp_server(_hang) as hang_port:
        checks = [_check(n, port) for n in fast]
        checks.append(_check("hung", hang_port, timeout="900ms"))
        await sched.start(_config(checks))
        try:
            await asyncio.sleep(3.2)
        finally:
            await sched.stop()
    statuses = {s.name: s for s in sched.statuses()}
    hung = statuses["hung"]
    assert hung.last_success is False and hung.last_reason == "timeout"
    assert 2 <= hung.runs <= 4 and hung.skipped == 0
    for name in fast:
        s = statuses[name]
        assert 2 <= s.runs <= 4 and s.skipped == 0 and s.failures == 0, s
    # ... and each of their runs started at its own phase while "hung" hung. Waiting on
    # the hung one would make them up to its 900 ms timeout late; the bound leaves room
    # for the event loop stalling on a loaded box (250 ms seen in a full parallel run).
    for e in history.recent():
        if e.check in fast:
            drift = (e.started - offset_fraction(e.check)) % 1.0
            assert min(drift, 1.0 - drift) < 0.4, (e.check, drift)


async def test_retries_are_counted_in_attempts_never_hidden() -> None:
    flaky_calls = 0

    async def flaky(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal flaky_calls
        flaky_calls += 1
        if flaky_calls % 2 == 1:
            writer.write(b"busy\n")  # odd attempts fail the expect: reason "protocol"
        else:
            writer.write(b"hello\n")
        await writer.drain()

    history = ProbeHistory(limit=1000, failed_limit=1000)
    sched = Scheduler(location="lab", history=history)
    closed = _closed_port()
    async with tcp_server(flaky) as port:
        await sched.start(
            _config(
                [
                    _check("flaky", port, retries={"count": 1, "backoff": "50ms"}),
                    _check("down", closed, "connect", retries={"count": 2, "backoff": "10ms"}),
                    _check(
                        "down-no-retry",
                        closed,
                        "connect",
                        retries={"count": 2, "reasons": ["timeout"]},
                    ),
                ]
            )
        )
        try:
            await _until(lambda: all(s.runs >= 2 for s in sched.statuses()))
            text = sched.render()
        finally:
            await sched.stop()
    s = _samples(text)

    def get(name: str, check: str, **labels: str) -> float:
        return s[(name, frozenset({"check": check, "location": "lab", **labels}.items()))]

    runs = get("twinlens_check_runs_total", "flaky", result="success")
    assert runs >= 2
    assert get("twinlens_check_runs_total", "flaky", result="failure") == 0
    assert get("twinlens_check_attempts_total", "flaky", result="failure") == runs
    assert get("twinlens_check_attempts_total", "flaky", result="success") == runs
    down = get("twinlens_check_runs_total", "down", result="failure")
    assert get("twinlens_check_attempts_total", "down", result="failure") == 3 * down
    assert get("twinlens_check_failures_total", "down", reason="connect") == down
    # retries.reasons does not list "connect": one attempt per run
    no_retry = get("twinlens_check_runs_total", "down-no-retry", result="failure")
    assert get("twinlens_check_attempts_total", "down-no-retry", result="failure") == no_retry
    # failed attempts that were retried are in the history too, with their reason
    flaky_failed = [e for e in history.failed() if e.check == "flaky"]
    assert len(flaky_failed) == runs and {e.reason for e in flaky_failed} == {"protocol"}
    last = next(st for st in sched.statuses() if st.name == "down")
    assert last.last_failed_id is not None
    entry = history.get(last.last_failed_id)
    assert entry is not None and entry.check == "down" and entry.reason == "connect"


async def test_overrunning_runs_skip_slots_and_every_slot_is_accounted() -> None:
    sched = Scheduler(location="lab")
    async with tcp_server(_hang) as port:
        # two 800 ms attempts per run: each run outlasts its 1 s interval
        check = _check("slowpoke", port, timeout="800ms", retries={"count": 1, "backoff": "0s"})
        await sched.start(_config([check]))
        first_slot = time.time()
        try:
            await _until(lambda: sched.statuses()[0].skipped >= 1, timeout=8)
            status = sched.statuses()[0]
            elapsed = time.time() - first_slot
        finally:
            await sched.stop()
    assert status.runs >= 1 and status.skipped >= 1
    # runs + skipped + the run in flight = slots passed (±1 for the window edges)
    assert abs(status.runs + status.skipped + 1 - elapsed) <= 1.5


async def test_reload_keeps_counters_of_unchanged_checks_and_drops_removed_series() -> None:
    sched = Scheduler(location="lab")
    async with tcp_server(_banner) as port:
        keep, gone = _check("keep", port), _check("gone", port)
        retimed = _check("retimed", port)
        await sched.start(_config([keep, gone, retimed]))
        try:
            await _until(lambda: all(s.runs >= 2 for s in sched.statuses()))
            before = {s.name: s.runs for s in sched.statuses()}
            sched.apply(
                _config(
                    [
                        keep,
                        {**retimed, "timeout": "500ms"},  # same series: counters kept
                        _check("new", port),
                    ]
                )
            )
            text = sched.render()
            after = {s.name: s.runs for s in sched.statuses()}
            await _until(lambda: next(s for s in sched.statuses() if s.name == "new").runs >= 1)
            later = {s.name: s.runs for s in sched.statuses()}
        finally:
            await sched.stop()
    assert set(after) == {"keep", "retimed", "new"}
    assert after["keep"] >= before["keep"] >= 2
    assert after["retimed"] >= before["retimed"] >= 2
    assert after["new"] == 0
    assert later["keep"] >= after["keep"]
    assert 'check="gone"' not in text
    assert (
        _value(text, "twinlens_check_runs_total", check="keep", location="lab", result="success")
        == (after["keep"])
    )
    assert (
        _value(text, "twinlens_check_runs_total", check="new", location="lab", result="success")
        == 0
    )


async def test_changed_target_starts_a_new_series() -> None:
    sched = Scheduler(location="lab")
    async with tcp_server(_banner) as port, tcp_server(_banner) as other:
        await sched.start(_config([_check("moving", port)]))
        try:
            await _until(lambda: sched.statuses()[0].runs >= 1)
            sched.apply(_config([_check("moving", other)]))
            status = sched.statuses()[0]
            text = sched.render()
        finally:
            await sched.stop()
    assert status.runs == 0 and status.target == f"127.0.0.1:{other}"
    assert f'target="127.0.0.1:{port}"' not in text


def test_check_and_module_types_are_the_configs() -> None:
    # the integration tests above use the real config decoder, not hand-built structs
    config = _config([_check("x", 1)])
    assert isinstance(config.checks[0], Check)
    assert isinstance(config.modules["banner"], Module)
