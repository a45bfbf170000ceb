"""Recording an accepted beacon: the compiled recorder when it is built, else Python.

``pip install`` builds :mod:`rum_gateway._record` (Cython) beside this file; it does in
one pass what :func:`~rum_gateway.observations.to_observations` and
:meth:`~rum_gateway.metrics.RumMetrics.record` do, about five times faster. Where it
could not be built (no C compiler), or with ``TWINLENS_PURE_PYTHON=1``, the gateway
records through those two functions: same figures, more CPU per beacon::

    record = recorder(metrics)
    record(beacon, app, device, browser, country, region, connection)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

from rum_gateway.dimensions import RouteResolver
from rum_gateway.metrics import Client, RumMetrics
from rum_gateway.observations import ApiCallLabels, to_observations
from rum_gateway.schema import Beacon

__all__ = ["AppRules", "Record", "compiled_available", "recorder"]

#: Set to 1 to record in Python even where the compiled recorder is built.
PURE_ENV = "TWINLENS_PURE_PYTHON"


class AppRules(Protocol):
    """What recording needs of one configured app."""

    @property
    def name(self) -> str: ...
    @property
    def routes(self) -> RouteResolver: ...
    @property
    def api_calls(self) -> ApiCallLabels: ...


#: ``record(beacon, app, device, browser, country, region, connection)``
Record = Callable[[Beacon, AppRules, str, str, str, str, str], None]


def compiled_available() -> bool:
    """Whether the compiled recorder was built for this Python."""
    try:
        from rum_gateway import _record  # noqa: F401
    except ImportError:
        return False
    return True


def recorder(metrics: RumMetrics, *, pure: bool | None = None) -> Record:
    """How to record into ``metrics``: compiled unless ``pure`` (default: the
    ``TWINLENS_PURE_PYTHON`` environment variable) or not built."""
    if pure is None:
        pure = os.environ.get(PURE_ENV, "") == "1"
    if not pure and compiled_available():
        from rum_gateway._record import Recorder

        return Recorder(metrics).record

    def record(
        beacon: Beacon,
        app: AppRules,
        device: str,
        browser: str,
        country: str,
        region: str,
        connection: str,
    ) -> None:
        observations = to_observations(beacon, app.routes, app.api_calls, app.name)
        metrics.record(observations, Client(device, browser, country, region, connection))

    return record
