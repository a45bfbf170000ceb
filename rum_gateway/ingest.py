"""The beacon path's two hot steps: compiled when built, else Python.

``pip install`` builds :mod:`rum_gateway._ingest` (Cython) beside this file. Its
``RequestReader`` does what :meth:`rum_gateway.app.Pipeline.read_request` does (headers
→ facts, client place, rate limit); its ``Recorder`` what
:meth:`rum_gateway.app.Gateway.accept` does (decode, check, then record: what
:func:`~rum_gateway.observations.to_observations` then
:meth:`~rum_gateway.metrics.RumMetrics.record` do, in one pass): most of the gateway's
own work per beacon. Where it could not be built (no C compiler), or with
``TWINLENS_PURE_PYTHON=1``, the gateway runs the Python code: same answers and figures,
more CPU per beacon::

    read = request_reader(pipeline, ...)   # facts, where, wait, length = read(scope, now)
    record, accept = recorder(metrics, gateway.accept)
    accept(pipeline, body, facts, country, region)  # None: recorded; else (reason, detail)
"""

from __future__ import annotations

import os
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol

from rum_gateway.dimensions import RouteResolver
from rum_gateway.metrics import Client, RumMetrics
from rum_gateway.observations import ApiCallLabels, to_observations
from rum_gateway.schema import Beacon

if TYPE_CHECKING:
    from rum_gateway.app import Pipeline

__all__ = [
    "Accept",
    "AppRules",
    "Record",
    "RequestReader",
    "compiled_available",
    "compiled_in_use",
    "recorder",
    "request_reader",
]

#: Set to 1 to run the Python code even where the compiled one is built.
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


#: ``accept(pipeline, body, facts, country, region)`` → None (recorded) or (reason, detail)
Accept = Callable[[Any, bytes, Any, str, str], tuple[str, str] | None]

#: ``read(scope, now)`` → (facts, (rate-limit key, country, region) or None, seconds to
#: wait for a token or 0.0, Content-Length)
RequestReader = Callable[
    [MutableMapping[str, Any], float],
    tuple[Any, tuple[int, str, str] | None, float, bytes | None],
]


def compiled_available() -> bool:
    """Whether :mod:`rum_gateway._ingest` was built for this Python."""
    try:
        from rum_gateway import _ingest  # noqa: F401
    except ImportError:
        return False
    return True


def compiled_in_use(pure: bool | None = None) -> bool:
    """Whether the compiled code runs: built, and not turned off by ``pure`` (default:
    the ``TWINLENS_PURE_PYTHON`` environment variable)."""
    if pure is None:
        pure = os.environ.get(PURE_ENV, "") == "1"
    return not pure and compiled_available()


def request_reader(
    pipeline: Pipeline, synthetic_header: bytes, max_key: int, *, pure: bool | None = None
) -> RequestReader:
    """How ``pipeline`` reads a beacon request's headers: compiled unless ``pure``
    (default: the ``TWINLENS_PURE_PYTHON`` environment variable) or not built."""
    if compiled_in_use(pure):
        from rum_gateway._ingest import RequestReader as Compiled

        return Compiled(pipeline, synthetic_header, max_key)
    return pipeline.read_request


def recorder(
    metrics: RumMetrics, accept: Accept, *, pure: bool | None = None
) -> tuple[Record, Accept]:
    """How to record into ``metrics``: compiled unless ``pure`` (as above) or not built.

    ``accept`` is the gateway's Python ``accept`` (decode, check, then ``record``).
    Returns ``(record, accept)``: compiled, the compiled ``accept`` calls the given one
    back for anything but a beacon it records; in Python, ``accept`` as given.
    """
    if compiled_in_use(pure):
        from rum_gateway._ingest import Recorder

        compiled = Recorder(metrics, accept)
        return compiled.record, compiled.accept

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

    return record, accept
