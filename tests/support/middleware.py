"""Reading the backend middleware's metrics back in tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry

__all__ = ["DURATION", "assert_in_flight_counted", "counts"]

DURATION = "http_server_request_duration_seconds"


def counts(registry: CollectorRegistry) -> dict[tuple[str, str, str], float]:
    """(route, method, status) -> request count, from the exposition samples."""
    return {
        (
            s.labels["http_route"],
            s.labels["http_request_method"],
            s.labels["http_response_status_code"],
        ): s.value
        for family in registry.collect()
        if family.name == DURATION
        for s in family.samples
        if s.name == f"{DURATION}_count"
    }


async def assert_in_flight_counted(
    registry: CollectorRegistry,
    call: Callable[[str, str], Awaitable[int]],
    release: asyncio.Event,
    path: str = "/slow",
) -> None:
    """A held ``GET path`` shows in ``http_server_active_requests`` until it is answered."""
    pending = asyncio.create_task(call("GET", path))
    deadline = time.monotonic() + 10
    active = {"http_request_method": "GET"}
    while registry.get_sample_value("http_server_active_requests", active) != 1:
        assert time.monotonic() < deadline, "active gauge never reached 1"
        await asyncio.sleep(0.01)
    release.set()
    assert await pending == 200
    assert registry.get_sample_value("http_server_active_requests", active) == 0
