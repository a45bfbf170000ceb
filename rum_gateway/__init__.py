"""Real-user monitoring gateway: browser beacons in, bounded Prometheus histograms out.

The public surface, imported lazily so that ``import rum_gateway`` loads nothing heavy::

    from rum_gateway import create_app, load_config
    app = create_app("gateway.yml")        # an ASGI app; serve it with uvicorn
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Beacon", "Config", "create_app", "decode_beacon", "load_config"]

_WHERE = {
    "Beacon": "rum_gateway.schema",
    "decode_beacon": "rum_gateway.schema",
    "Config": "rum_gateway.config",
    "load_config": "rum_gateway.config",
    "create_app": "rum_gateway.app",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'rum_gateway' has no attribute {name!r}")
