"""Config reload that never leaves a process without a working config.

The new config is built completely (read, decoded, validated) before it replaces the old
one; on any error the old one stays and the ``*_config_last_reload_successful`` gauge drops
to 0 until a good config is loaded. Listeners run after a swap, with ``(old, new)``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge

from twinlens.runtime.config import ConfigError

__all__ = ["Reloader"]

T = TypeVar("T")
log = logging.getLogger("twinlens.config")


class Reloader(Generic[T]):
    """Holds the current config of one process and swaps it only for a valid one.

    >>> r = Reloader("blackbox.yml", load_exporter_config, registry, "twinlens_exporter")
    >>> r.reload()      # None when swapped, else the error text (old config kept)
    """

    def __init__(
        self,
        path: str | None,
        loader: Callable[[str | None], T],
        registry: CollectorRegistry,
        prefix: str,
    ) -> None:
        self.path = path
        self._loader = loader
        self._lock = threading.Lock()
        self._listeners: list[Callable[[T, T], None]] = []
        self._ok = Gauge(
            f"{prefix}_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful.",
            registry=registry,
        )
        self._ts = Gauge(
            f"{prefix}_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload.",
            registry=registry,
        )
        self._reloads = Counter(
            f"{prefix}_config_reloads",
            "Configuration reload attempts by result.",
            ["result"],
            registry=registry,
        )
        for result in ("success", "failure"):
            self._reloads.labels(result)
        self.current: T = loader(path)  # the first load raises: a bad start-up config is fatal
        self._ok.set(1)
        self._ts.set(time.time())
        self.last_error: str | None = None

    def on_change(self, listener: Callable[[T, T], None]) -> None:
        """Call ``listener(old, new)`` after every successful swap."""
        self._listeners.append(listener)

    def reload(self) -> str | None:
        """Load the file again; return None on success or the reason it was refused."""
        with self._lock:
            try:
                new = self._loader(self.path)
            except ConfigError as exc:
                return self._refused(str(exc))
            except Exception as exc:  # a bug in a validator must not kill the process
                log.exception("unexpected error while loading config")
                return self._refused(f"internal error: {exc}")
            old, self.current = self.current, new
            self._ok.set(1)
            self._ts.set(time.time())
            self._reloads.labels("success").inc()
            for listener in self._listeners:
                listener(old, new)
            self.last_error = None
            log.info("config reloaded", extra={"fields": {"file": self.path}})
            return None

    def _refused(self, message: str) -> str:
        self._ok.set(0)
        self._reloads.labels("failure").inc()
        self.last_error = message
        log.error(
            "config reload refused, keeping the previous config",
            extra={"fields": {"file": self.path, "err": message}},
        )
        return message

    def install_sighup(self, loop: asyncio.AbstractEventLoop) -> None:
        """Reload on SIGHUP (in a worker thread, so a slow load never blocks the loop)."""

        def on_hup() -> None:
            loop.run_in_executor(None, self.reload)

        loop.add_signal_handler(signal.SIGHUP, on_hup)
