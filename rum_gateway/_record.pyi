from typing import Any

from rum_gateway.metrics import RumMetrics
from rum_gateway.schema import Beacon

class Recorder:
    def __init__(self, metrics: RumMetrics) -> None: ...
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
