"""Finding and launching the system's Chromium: one list of flags for every caller.

The browser prober, the demo's traffic generator and the browser tests all drive Debian's
``chromium`` through Playwright; they launch it the same way, so the flags live here.

    >>> await pw.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_ARGS))
"""

from __future__ import annotations

import os
import shutil

__all__ = ["CHROMIUM_ARGS", "CHROMIUM_CANDIDATES", "find_chromium"]

#: Names looked up on PATH when no executable is configured, in order.
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: Headless, no sandbox (containers and CI run as root), nothing phoning home: on a closed
#: network Chromium's background connections fail by the dozen without the last four.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def find_chromium(configured: str = "") -> str | None:
    """``configured`` if it is executable, else the first candidate on PATH, else None."""
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None
