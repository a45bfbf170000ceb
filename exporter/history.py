"""Recent probes, kept for the web page: a ring for all probes and one for failures.

Failures get their own ring so a flood of successes cannot push the one failed probe
you are looking for at 3am out of memory. Each entry keeps its probe log, reachable at
``/logs?id=N``.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque

import msgspec

from exporter.probe import ProbeOutcome
from exporter.probelog import ProbeLog

__all__ = ["HistoryEntry", "ProbeHistory"]


class HistoryEntry(msgspec.Struct, frozen=True):
    id: int
    module: str
    target: str
    success: bool
    reason: str | None
    duration: float
    started: float
    probe_log: ProbeLog
    check: str | None = None  # set for scheduled checks
    artifacts: tuple[str, ...] = ()  # files kept with the log (a failed browser run's screenshot)

    @property
    def log(self) -> str:
        """The probe's log as text, formatted when asked for (``/logs``), not per probe."""
        return self.probe_log.text()


class ProbeHistory:
    """Bounded history; ``add`` returns the entry id used in log links.

    >>> h = ProbeHistory(limit=100)
    >>> entry_id = h.add(outcome)
    >>> h.get(entry_id).log
    """

    def __init__(self, limit: int = 100, failed_limit: int = 100) -> None:
        self._all: deque[HistoryEntry] = deque(maxlen=max(limit, 1))
        self._failed: deque[HistoryEntry] = deque(maxlen=max(failed_limit, 1))
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, outcome: ProbeOutcome, check: str | None = None) -> int:
        entry = HistoryEntry(
            id=next(self._ids),
            module=outcome.module,
            target=outcome.target,
            success=outcome.success,
            reason=outcome.reason,
            duration=outcome.duration,
            started=outcome.started,
            probe_log=outcome.log,
            check=check,
            artifacts=tuple(outcome.log.artifacts),
        )
        with self._lock:
            self._all.append(entry)
            if not entry.success:
                self._failed.append(entry)
        return entry.id

    def recent(self) -> list[HistoryEntry]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._all))

    def failed(self) -> list[HistoryEntry]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._failed))

    def get(self, entry_id: int) -> HistoryEntry | None:
        with self._lock:
            for ring in (self._all, self._failed):
                for entry in ring:
                    if entry.id == entry_id:
                        return entry
        return None
