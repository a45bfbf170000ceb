"""Scheduler pieces that need no network: shards, offsets, timeouts, counting, rendering."""

from __future__ import annotations

import asyncio
import itertools
import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import Check, Config, Module, Retries
from exporter.history import ProbeHistory
from exporter.metrics import ProbeMetrics
from exporter.probe import ProbeOutcome
from exporter.probelog import ProbeLog
from exporter.scheduler import (
    DURATION_BUCKETS,
    Scheduler,
    _CheckState,
    _first_slot,
    effective_timeout,
    offset_fraction,
    shard_of,
)
from twinlens.runtime.config import Duration


def _check(name: str = "c", **kw: object) -> Check:
    kw.setdefault("module", "m")
    kw.setdefault("target", "127.0.0.1:9")
    return Check(name=name, **kw)  # type: ignore[arg-type]


def _outcome(success: bool, duration: float, reason: str | None = None) -> ProbeOutcome:
    metrics = ProbeMetrics()
    metrics.gauge("probe_success", 1 if success else 0)
    metrics.gauge("probe_duration_seconds", duration)
    if reason:
        metrics.gauge("probe_failure_info", 1, reason=reason)
    return ProbeOutcome(
        module="m",
        target="t",
        success=success,
        reason=reason,
        duration=duration,
        started=0.0,
        metrics=metrics,
        log=ProbeLog(),
    )


def _families(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Parse exposition text with prometheus_client's parser: proves the format is valid."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            assert key not in out.setdefault(sample.name, {}), f"duplicate {sample}"
            out[sample.name][key] = sample.value
    return out


# --- shards and offsets --------------------------------------------------------------------


def test_shard_is_stable_across_processes() -> None:
    # sha256-based, so these never change between runs, hosts or Python versions.
    assert [shard_of(f"check-{i}", 3) for i in range(8)] == [
        shard_of(f"check-{i}", 3) for i in range(8)
    ]
    assert shard_of("homepage", 2) == 1
    assert shard_of("api-health", 2) == 0
    assert shard_of("anything", 1) == 0


def test_shards_partition_and_balance() -> None:
    names = [f"check-{i}" for i in range(3000)]
    counts = [0, 0, 0]
    for name in names:
        counts[shard_of(name, 3)] += 1
    assert sum(counts) == 3000
    assert all(900 <= c <= 1100 for c in counts), counts


def test_offsets_spread_over_the_interval() -> None:
    fractions = sorted(offset_fraction(f"check-{i}") for i in range(200))
    assert all(0 <= f < 1 for f in fractions)
    gaps = [b - a for a, b in itertools.pairwise(fractions)]
    assert max(gaps) < 0.1  # no big hole: runs are spread, not bunched
    # 10 equal bins of the interval each hold some checks
    bins = [0] * 10
    for f in fractions:
        bins[int(f * 10)] += 1
    assert min(bins) >= 8, bins


def test_offset_does_not_follow_shard() -> None:
    # Within one shard offsets still spread: offset and shard use different hash bits.
    in_shard = [offset_fraction(f"c{i}") for i in range(400) if shard_of(f"c{i}", 2) == 0]
    assert min(in_shard) < 0.1 and max(in_shard) > 0.9


def test_first_slot_is_next_phase_point() -> None:
    check = _check("phase", interval=Duration(30))
    offset = offset_fraction("phase") * 30
    for now in (1_700_000_000.0, 1_700_000_013.7, 1_700_000_029.99):
        slot = _first_slot(check, now)
        assert now <= slot < now + 30
        assert math.isclose((slot - offset) / 30, round((slot - offset) / 30), abs_tol=1e-6)


# --- timeouts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check_timeout", "module_timeout", "interval", "expected"),
    [
        (None, 0, 10, 8.0),  # neither: 80 % of the interval
        (None, 5, 10, 5.0),  # the module's
        (2, 5, 10, 2.0),  # the check's own wins
        (None, 30, 10, 10.0),  # capped at the interval
    ],
)
def test_effective_timeout(
    check_timeout: float | None, module_timeout: float, interval: float, expected: float
) -> None:
    check = _check(
        interval=Duration(interval),
        timeout=None if check_timeout is None else Duration(check_timeout),
    )
    module = Module(prober="tcp", timeout=Duration(module_timeout))
    assert effective_timeout(check, module) == expected


# --- counting and rendering one check ------------------------------------------------------


def test_check_state_counts_runs_attempts_reasons_and_histogram() -> None:
    state = _CheckState(_check("web", labels={"team": "shop"}), Module(prober="tcp"), "eu")
    # run 1: fail (connect), retry succeeds -> 2 attempts, run success
    state.record_attempt(False)
    state.record_attempt(True)
    state.record_run(_outcome(True, 0.02), finished=1000.5, history_id=None)
    # run 2: one failed attempt, final failure with reason timeout
    state.record_attempt(False)
    state.record_run(_outcome(False, 3.0, "timeout"), finished=1010.25, history_id=7)
    fam = _families("".join(_header(n) + t for n, t in state.lines().items()))
    base = (("check", "web"), ("location", "eu"), ("team", "shop"))

    def key(*extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((*base, *extra)))

    assert fam["twinlens_check_runs_total"] == {
        key(("result", "success")): 1,
        key(("result", "failure")): 1,
    }
    assert fam["twinlens_check_attempts_total"] == {
        key(("result", "success")): 1,
        key(("result", "failure")): 2,
    }
    assert fam["twinlens_check_failures_total"] == {key(("reason", "timeout")): 1}
    assert fam["twinlens_check_duration_seconds_count"] == {key(): 2}
    assert fam["twinlens_check_duration_seconds_sum"] == {key(): 3.02}
    buckets = fam["twinlens_check_duration_seconds_bucket"]
    assert buckets[key(("le", "0.01"))] == 0
    assert buckets[key(("le", "0.025"))] == 1
    assert buckets[key(("le", "2.5"))] == 1
    assert buckets[key(("le", "5"))] == 2
    assert buckets[key(("le", "+Inf"))] == 2
    assert len(buckets) == len(DURATION_BUCKETS) + 1
    assert fam["twinlens_check_last_run_timestamp_seconds"] == {key(): 1010.25}
    assert fam["probe_success"] == {key(): 0}
    assert fam["probe_failure_info"] == {key(("reason", "timeout")): 1}
    assert fam["twinlens_check_info"] == {
        key(("target", "127.0.0.1:9"), ("module", "m"), ("prober", "tcp")): 1
    }
    status = state.status()
    assert (status.last_success, status.last_reason, status.last_failed_id) == (
        False,
        "timeout",
        7,
    )
    assert (status.runs, status.failures) == (2, 1)


def test_check_label_colliding_with_probe_label_is_never_doubled() -> None:
    state = _CheckState(_check("x", labels={"phase": "blue"}), Module(prober="http"), "eu")
    metrics = ProbeMetrics()
    metrics.gauge("probe_http_duration_seconds", 0.1, phase="connect")
    metrics.gauge("probe_success", 1)
    outcome = _outcome(True, 0.1)
    outcome.metrics = metrics
    state.record_run(outcome, finished=1.0, history_id=None)
    fam = _families("".join(_header(n) + t for n, t in state.lines().items()))
    # the probe's own phase label wins; the check label stays on the other series
    assert fam["probe_http_duration_seconds"] == {
        (("check", "x"), ("location", "eu"), ("phase", "connect")): 0.1
    }
    assert fam["probe_success"] == {(("check", "x"), ("location", "eu"), ("phase", "blue")): 1}


def _header(name: str) -> str:
    from exporter.scheduler import _CHECK_FAMILIES

    kind = _CHECK_FAMILIES.get(name, ("gauge", ""))[0]
    return f"# TYPE {name} {kind}\n"


# --- the scheduler's series without running probes -----------------------------------------


def _config(*checks: Check) -> Config:
    return Config(modules={"m": Module(prober="tcp", timeout=Duration(1))}, checks=list(checks))


async def test_apply_shards_disables_adds_and_removes_series() -> None:
    names = [f"c{i}" for i in range(20)]
    # An hour's interval: nothing runs during the test, we look at the series only.
    hour = Duration(3600)
    checks = [_check(n, interval=hour) for n in names] + [
        _check("off", interval=hour, enabled=False)
    ]
    sched = Scheduler(location="lab", shard=(1, 2), history=ProbeHistory())
    await sched.start(_config(*checks))
    try:
        mine = sorted(n for n in names if shard_of(n, 2) == 1)
        assert [s.name for s in sched.statuses()] == mine
        fam = _families(sched.render())
        assert {dict(k)["check"] for k in fam["twinlens_check_info"]} == set(mine)
        assert fam["twinlens_scheduler_checks"] == {(("location", "lab"),): len(mine)}
        first = mine[0]
        me = (("check", first), ("location", "lab"))
        assert fam["twinlens_check_runs_total"][(*me, ("result", "failure"))] == 0
        assert fam["twinlens_check_interval_seconds"][me] == 3600
        # No run yet: no probe_* series, no last-run timestamp, no failures
        assert "probe_success" not in fam
        assert "twinlens_check_last_run_timestamp_seconds" not in fam
        # remove one, change one's target (new identity), keep the rest
        kept = [c for c in checks if c.name != mine[0]]
        kept = [
            _check(c.name, interval=hour, target="127.0.0.1:10") if c.name == mine[1] else c
            for c in kept
        ]
        sched.apply(_config(*kept))
        fam = _families(sched.render())
        info = {dict(k)["check"]: dict(k)["target"] for k in fam["twinlens_check_info"]}
        assert set(info) == set(mine[1:])
        assert info[mine[1]] == "127.0.0.1:10"
        assert not any(dict(k)["check"] == mine[0] for k in fam["twinlens_check_runs_total"])
    finally:
        await sched.stop()
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("check:")]
    assert tasks == []


async def test_render_text_has_help_and_type_once_per_family() -> None:
    sched = Scheduler(location="lab")
    await sched.start(_config(*(_check(f"c{i}", interval=Duration(3600)) for i in range(3))))
    try:
        text = sched.render()
    finally:
        await sched.stop()
    assert text.count("# TYPE twinlens_check_runs_total counter\n") == 1
    assert text.count("# TYPE twinlens_check_duration_seconds histogram\n") == 1
    assert text.count("twinlens_check_info{") == 3
    assert text.endswith("\n")


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="shard"):
        Scheduler(location="x", shard=(2, 2))
    with pytest.raises(ValueError, match="max_concurrency"):
        Scheduler(location="x", max_concurrency=0)


def test_retries_config_is_bounded() -> None:
    with pytest.raises(ValueError, match="unknown failure reason"):
        Retries(on=["flaky"])


async def test_render_chunks_equal_render_and_stay_small() -> None:
    sched = Scheduler(location="lab")
    checks = [_check(f"c{i:04d}", interval=Duration(3600)) for i in range(600)]
    await sched.start(_config(*checks))
    try:
        chunks = sched.render_chunks(chunk_bytes=64 * 1024)
        text = sched.render()
        biggest_piece = max(len(p) for p in sched._pieces())
    finally:
        await sched.stop()
    assert b"".join(chunks) == text.encode()
    assert len(chunks) > 3
    # a chunk ends once it passes the size: at most one piece (256 checks' lines) beyond it
    assert max(len(c) for c in chunks) < 64 * 1024 + biggest_piece
