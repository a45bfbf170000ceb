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

    __slots__ = ("_artifacts", "_lines", "_t0")

    def __init__(self) -> None:
        self._t0 = time.time()
        self._lines: list[str] = []
        self._artifacts: list[str] = []

    def _add(self, level: str, msg: str, fields: dict[str, object]) -> None:
        ts = time.strftime("%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}"
        kv = "".join(f" {k}={format_logfmt_value(v)}" for k, v in fields.items())
        self._lines.append(f"ts={ts} level={level} msg={format_logfmt_value(msg)}{kv}")

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
        return list(self._lines)

    def text(self) -> str:
        return "\n".join(self._lines) + ("\n" if self._lines else "")

    def attach(self, path: str) -> None:
        """Keep a file with this probe's log (a failed browser run's screenshot, trace)."""
        self._artifacts.append(path)

    @property
    def artifacts(self) -> list[str]:
        return list(self._artifacts)
