"""Finding the real tools (Prometheus, Alertmanager, Chromium, Node, blackbox_exporter).

With ``CI=true`` a missing tool fails the test: CI must never pass by skipping. Elsewhere
it skips with the reason, so a developer without Chromium can still run the rest.
"""

from __future__ import annotations

import os
import shutil

import pytest

from twinlens.runtime.chromium import CHROMIUM_CANDIDATES

__all__ = ["in_ci", "require_tool"]

#: tool -> names to look for on PATH, in order
_CANDIDATES = {
    "prometheus": ("prometheus",),
    "promtool": ("promtool",),
    "alertmanager": ("prometheus-alertmanager", "alertmanager"),
    "blackbox_exporter": ("prometheus-blackbox-exporter", "blackbox_exporter"),
    "chromium": CHROMIUM_CANDIDATES,
    "node": ("node",),
    "wrk": ("wrk",),
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(tool: str) -> str:
    """Absolute path of ``tool``; fail under CI, skip elsewhere, when it is missing."""
    for name in _CANDIDATES.get(tool, (tool,)):
        path = shutil.which(name)
        if path:
            return path
    message = f"{tool} not found on PATH (Debian package: see .ci/run)"
    if in_ci():
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)
    raise AssertionError("unreachable")
