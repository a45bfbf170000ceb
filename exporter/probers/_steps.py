"""Per-step series shared by the two journey probers (``journey`` and ``browser``).

The ``step`` label is a step name from the config, so it is bounded by the config. A step
that ran gets ``twinlens_journey_step_success`` (1 or 0) and its duration; steps after a
failed one do not run and have no series in that run, so ``== 0`` points at the one that
failed.

    >>> steps = StepResults(metrics)
    >>> steps.record("login", True, 0.120)
    >>> metrics.get("twinlens_journey_step_success", step="login")
    1.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exporter.metrics import register_metric

if TYPE_CHECKING:
    from exporter.metrics import ProbeMetrics

__all__ = ["StepResults"]

register_metric(
    "twinlens_journey_step_success",
    "Whether the journey step succeeded; steps after a failed one have no series",
)
register_metric("twinlens_journey_step_duration_seconds", "How long the journey step took")
register_metric(
    "twinlens_journey_step_http_duration_seconds",
    "Duration of the journey step's HTTP request by phase, summed over redirects",
)
register_metric(
    "twinlens_journey_step_status_code", "HTTP status code of the journey step's response"
)


class StepResults:
    """Writes step series into one probe's samples, in step order."""

    __slots__ = ("_metrics",)

    def __init__(self, metrics: ProbeMetrics) -> None:
        self._metrics = metrics

    def record(self, step: str, success: bool, duration: float) -> None:
        self._metrics.gauge("twinlens_journey_step_success", 1 if success else 0, step=step)
        self._metrics.gauge("twinlens_journey_step_duration_seconds", duration, step=step)

    def phases(self, step: str, phases: dict[str, float]) -> None:
        for phase, seconds in phases.items():
            self._metrics.gauge(
                "twinlens_journey_step_http_duration_seconds", seconds, step=step, phase=phase
            )

    def status(self, step: str, code: int) -> None:
        self._metrics.gauge("twinlens_journey_step_status_code", code, step=step)
