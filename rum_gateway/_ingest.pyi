from collections.abc import MutableMapping
from typing import Any

from rum_gateway.metrics import RumMetrics
from rum_gateway.schema import Beacon

class Recorder:
    def __init__(self, metrics: RumMetrics, slow: Any) -> None: ...
    def accept(
        self, pipeline: Any, body: bytes, facts: Any, country: str, region: str
    ) -> tuple[str, str] | None: ...
    def record(
        self,
        beacon: Beacon,
        app: Any,
        device: str,
        browser: str,
        country: str,
        region: str,
        connection: str,
    ) -> None: ...

class RequestReader:
    def __init__(self, pipeline: Any, synthetic_header: bytes, max_key: int) -> None: ...
    def __call__(
        self, scope: MutableMapping[str, Any], now: float
    ) -> tuple[Any, tuple[int, str, str] | None, float, bytes | None]: ...
