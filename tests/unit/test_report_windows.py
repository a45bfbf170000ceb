"""Maintenance windows: expansion, clipping and the step mask (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from twinlens.report.config import MaintenanceWindow
from twinlens.report.period import Period
from twinlens.report.windows import named_checks, occurrences, segments, step_mask
from twinlens.runtime.config import Duration

DAY = datetime(2026, 11, 14, tzinfo=UTC)
PERIOD = Period(DAY, datetime(2026, 11, 15, tzinfo=UTC), 60)  # 1440 one-minute steps


def at(hour: int, minute: int = 0, day: int = 14) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_one_off_window_masks_exactly_its_minutes() -> None:
    w = MaintenanceWindow(name="db", start=at(2), end=at(3, 30), checks=["api"])
    occs = occurrences([w], PERIOD)
    assert [(o.name, o.end - o.start, o.checks) for o in occs] == [("db", 5400.0, ("api",))]
    mask = step_mask(occs, PERIOD, "api")
    assert sum(mask) == 90
    assert mask[119] == 0 and mask[120] == 1 and mask[209] == 1 and mask[210] == 0
    # scoped: other checks and the "every check" mask are untouched
    assert sum(step_mask(occs, PERIOD, "homepage")) == 0
    assert sum(step_mask(occs, PERIOD, None)) == 0


def test_a_window_off_the_step_grid_covers_every_step_it_touches() -> None:
    w = MaintenanceWindow(start=at(2, 0), end=at(2, 1), checks=[])
    shifted = MaintenanceWindow(start=datetime(2026, 11, 14, 2, 0, 30, tzinfo=UTC), end=at(2, 1))
    assert sum(step_mask(occurrences([w], PERIOD), PERIOD, "x")) == 1
    assert sum(step_mask(occurrences([shifted], PERIOD), PERIOD, "x")) == 1
    straddling = MaintenanceWindow(start=at(2, 0), duration=Duration(90))
    assert sum(step_mask(occurrences([straddling], PERIOD), PERIOD, "x")) == 2


def test_repeating_window_expands_and_clips_to_the_period() -> None:
    # 1 hour every 6 hours from 23:30 the day before: the first and last occurrences are
    # cut at the period's edges.
    w = MaintenanceWindow(
        name="patch", start=at(23, 30, day=13), duration=Duration(3600), every=Duration(6 * 3600)
    )
    occs = occurrences([w], PERIOD)
    spans = [(o.start - PERIOD.start_ts, o.end - PERIOD.start_ts) for o in occs]
    assert spans == [
        (0.0, 1800.0),
        (5.5 * 3600, 6.5 * 3600),
        (11.5 * 3600, 12.5 * 3600),
        (17.5 * 3600, 18.5 * 3600),
        (23.5 * 3600, 24 * 3600),
    ]
    assert sum(step_mask(occs, PERIOD, None)) == 30 + 3 * 60 + 30


def test_windows_outside_the_period_are_ignored() -> None:
    before = MaintenanceWindow(start=at(22, day=13), end=at(0))
    after = MaintenanceWindow(start=at(0, day=15), duration=Duration(60))
    assert occurrences([before, after], PERIOD) == []


def test_segments_are_the_stretches_between_windows() -> None:
    assert segments(bytearray([1, 0, 0, 1, 1, 0])) == [(1, 2), (5, 5)]
    assert segments(bytearray(3)) == [(0, 2)]
    assert segments(bytearray([1, 1])) == []


def test_named_checks() -> None:
    ws = [
        MaintenanceWindow(start=at(1), end=at(2), checks=["b", "a"]),
        MaintenanceWindow(start=at(3), end=at(4), checks=["a"]),
        MaintenanceWindow(start=at(5), end=at(6)),
    ]
    assert named_checks(occurrences(ws, PERIOD)) == ["a", "b"]


def test_query_plan_follows_the_windows() -> None:
    from twinlens.report.collect import Options, plan_queries
    from twinlens.report.config import ReportConfig
    from twinlens.report.period import month_period

    period = month_period("2026-10", 60)  # 31 days: 31 one-day chunks per counter
    db = MaintenanceWindow(start=datetime(2026, 10, 14, 2, tzinfo=UTC), duration=Duration(3600))
    scoped = MaintenanceWindow(
        start=datetime(2026, 10, 20, tzinfo=UTC), duration=Duration(60), checks=["api"]
    )
    counters = 2 * (1 + 31)  # runs and failure reasons: start value + chunks
    rum = 5 + 2 + 1  # five vitals, LCP and INP by region, page views
    plain = Options("http://p", period)
    assert plan_queries(plain, ReportConfig()) == counters + 1 + rum
    # latency: every check either side of db; api also around its own window (3 stretches)
    config = ReportConfig(maintenance=[db, scoped])
    assert plan_queries(plain, config) == counters + 2 + 3 + rum
    assert plan_queries(Options("http://p", period, rum=False), config) == counters + 5
