"""The per-probe log: what a person reads at 3am to learn why one probe failed.

Each probe gets its own :class:`ProbeLog`; it is shown by ``/probe?debug=true``, kept with
the probe in the recent-probes history on ``/``, and never shared between probes.
"""

from __future__ import annotations

import time

from twinlens.runtime.log import format_logfmt_value

__all__ = ["ProbeLog"]


class ProbeLog:
    """Timestamped logfmt lines for one probe.

    >>> log = ProbeLog()
    >>> log.info("Resolving target address", target="example.com")
    """

    __slots__ = ("_artifacts", "_records", "_t0")

    def __init__(self) -> None:
        self._t0 = time.time()
        self._records: list[tuple[float, str, str, dict[str, object]]] = []
        self._artifacts: list[str] = []

    def _add(self, level: str, msg: str, fields: dict[str, object]) -> None:
        # Formatting waits until someone reads the log: most probes' logs are never read,
        # and formatting every line up front was a quarter of /probe's CPU.
        self._records.append((time.time(), level, msg, fields))

    @staticmethod
    def _format(record: tuple[float, str, str, dict[str, object]]) -> str:
        when, level, msg, fields = record
        ts = time.strftime("%H:%M:%S", time.gmtime(when)) + f".{int(when * 1000) % 1000:03d}"
        kv = "".join(f" {k}={format_logfmt_value(v)}" for k, v in fields.items())
        return f"ts={ts} level={level} msg={format_logfmt_value(msg)}{kv}"

    def debug(self, msg: str, **fields: object) -> None:
        self._add("debug", msg, fields)

    def info(self, msg: str, **fields: object) -> None:
        self._add("info", msg, fields)

    def warn(self, msg: str, **fields: object) -> None:
        self._add("warn", msg, fields)

    def error(self, msg: str, **fields: object) -> None:
        self._add("error", msg, fields)

    @property
    def lines(self) -> list[str]:
        return [self._format(r) for r in self._records]

    def text(self) -> str:
        lines = self.lines
        return "\n".join(lines) + ("\n" if lines else "")

    def attach(self, path: str) -> None:
        """Keep a file with this probe's log (a failed browser run's screenshot, trace)."""
        self._artifacts.append(path)

    @property
    def artifacts(self) -> list[str]:
        return list(self._artifacts)
