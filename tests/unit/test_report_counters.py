"""Exact counter increases per step: resets, gaps, series born mid-period (pure)."""

from __future__ import annotations

import pytest

from twinlens.report.counters import CounterDeltas, counter_deltas, exact_increase


@pytest.mark.parametrize(
    ("values", "baseline", "expected"),
    [
        ([10, 11, 13], 10, [0, 1, 2]),
        # a gap: the increase across it lands on the first step with data again
        ([10, None, None, 14], 9, [1, 0, 0, 4]),
        # a restart: the counter starts again from 0 and the new value is the increase
        ([10, 11, 1, 2], 10, [0, 1, 1, 1]),
        # no value before the period: the series was created inside it, from 0
        ([None, 1, 1, 2], None, [0, 1, 0, 1]),
    ],
)
def test_counter_deltas(
    values: list[float | None], baseline: float | None, expected: list[float]
) -> None:
    assert counter_deltas(values, baseline) == expected


def test_resets_are_reported_with_the_value_before() -> None:
    tracker = CounterDeltas({"a": 50.0})
    assert tracker.delta("a", 52.0, 0) == 2
    assert tracker.delta("a", 3.0, 1) == 3
    assert tracker.delta("b", 7.0, 1) == 7  # first seen: not a reset
    assert tracker.resets == [("a", 1, 52.0)]


@pytest.mark.parametrize(
    ("before", "samples", "expected"),
    [
        (10, [11, 12], 2),
        (10, [11, 0, 1], 2),  # one run, restart, one run: the last value alone says 1
        (10, [0, 5, 0, 2], 7),  # two restarts in one step
        (10, [], 0),
    ],
)
def test_exact_increase(before: float, samples: list[float], expected: float) -> None:
    assert exact_increase(before, samples) == expected


def test_feed_matches_delta_one_value_at_a_time() -> None:
    values = [5.0, 6.0, 9.0, 2.0, 2.0, 4.0, 1.0]
    steps = [0, 1, 3, 4, 5, 8, 9]
    one = CounterDeltas({"k": 5.0})
    expected = [(i, one.delta("k", v, i)) for i, v in zip(steps, values, strict=True)]
    batch = CounterDeltas({"k": 5.0})
    got: list[tuple[int, float]] = []
    batch.feed("k", steps[:3], values[:3], lambda i, d: got.append((i, d)))
    batch.feed("k", steps[3:], values[3:], lambda i, d: got.append((i, d)))  # next chunk
    assert got == expected == [(0, 0), (1, 1), (3, 3), (4, 2), (5, 0), (8, 2), (9, 1)]
    assert batch.resets == one.resets == [("k", 4, 9.0), ("k", 9, 4.0)]
    fresh = CounterDeltas()
    fresh.feed("new", [2], [3.0], lambda i, d: got.append((i, d)))
    assert got[-1] == (2, 3.0)  # first seen: counted from 0
