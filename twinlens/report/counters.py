"""Exact counter increases per step, with resets, gaps and series born mid-period.

Prometheus's ``increase()`` extrapolates to the window edges, which is right for rates and
wrong for "how many runs failed". The report instead asks for each counter's last value in
every step (``last_over_time(x[step-1ms])``, absent when the step has no sample) and takes
differences itself:

- a value lower than the previous one is a counter reset (the process restarted): the
  increase is the new value (runs since the restart), and the step is noted in
  ``resets`` so the caller can fetch its raw samples and count, with
  :func:`exact_increase`, the runs that happened in the step before the restart too;
- after a gap (steps with no sample) the difference to the last value seen before the gap
  is attributed to the first step with data again: the exporter kept counting while
  Prometheus could not see it, and those runs are real;
- a series with no value before the period and none earlier in it starts from 0: the
  exporter creates counters at 0, and a failure reason appears first with its first count.

>>> counter_deltas([5, 6, None, 9, 2], baseline=5)
[0.0, 1.0, 0.0, 3.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence

__all__ = ["CounterDeltas", "counter_deltas", "exact_increase"]


class CounterDeltas:
    """Per-series state for feeding step values in time order, chunk after chunk."""

    def __init__(self, baseline: Mapping[Hashable, float] | None = None) -> None:
        self._last: dict[Hashable, float] = dict(baseline or {})
        #: (key, step, value before the step) for every reset seen, in feeding order
        self.resets: list[tuple[Hashable, int, float]] = []

    def delta(self, key: Hashable, value: float, step: int = -1) -> float:
        """Increase of series ``key`` since its previous value, given its value now."""
        last = self._last.get(key)
        self._last[key] = value
        if last is None:
            return value
        if value < last:
            self.resets.append((key, step, last))
            return value
        return value - last

    def feed(
        self,
        key: Hashable,
        steps: Sequence[int],
        values: Sequence[float],
        sink: Callable[[int, float], None],
    ) -> None:
        """``sink(step, increase)`` for a run of one series' values, in time order.

        The same as calling :meth:`delta` for each, with the state kept in locals: a
        month of one-minute steps is 44,640 values a series.
        """
        last = self._last.get(key)
        resets = self.resets
        for i, value in zip(steps, values, strict=True):
            if last is None:
                sink(i, value)
            elif value < last:
                resets.append((key, i, last))
                sink(i, value)
            else:
                sink(i, value - last)
            last = value
        if last is not None:
            self._last[key] = last


def exact_increase(before: float, samples: Sequence[float]) -> float:
    """Increase from ``before`` through every raw sample of one step, resets included.

    >>> exact_increase(10, [11, 0, 1])   # one run, a restart, one more run
    2.0
    """
    total, last = 0.0, float(before)
    for v in samples:
        total += v if v < last else v - last
        last = float(v)
    return total


def counter_deltas(values: Sequence[float | None], baseline: float | None = None) -> list[float]:
    """Increase per step of one series (``None`` = no sample in that step)."""
    tracker = CounterDeltas({} if baseline is None else {"s": baseline})
    return [0.0 if v is None else tracker.delta("s", float(v)) for v in values]
