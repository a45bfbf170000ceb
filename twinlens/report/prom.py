"""A small Prometheus HTTP API client for reports: deadlines, clear errors, a progress bar.

Only the two read endpoints a report needs (``/api/v1/query`` and ``/api/v1/query_range``),
sent as POST forms so long label matchers never hit URL limits. Every request has a
deadline (``--timeout``), passed to Prometheus as well so it stops evaluating when we stop
waiting::

    >>> prom = Prometheus("http://localhost:9090", timeout=60)
    >>> prom.instant('up{job="twinlens"}', at=1793491200)
    [{'metric': {...}, 'value': [1793491200, '1']}]
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, TextIO

import msgspec

from twinlens import __version__
from twinlens.report.errors import PrometheusError, QueryTimeout

__all__ = [
    "MAX_POINTS",
    "Progress",
    "Prometheus",
    "default_progress_stream",
    "promql_duration",
    "promql_string",
]

#: Prometheus refuses range queries of more than 11,000 points per series; stay below.
MAX_POINTS = 10_000
_READ_CHUNK = 1 << 16


def promql_string(text: str) -> str:
    """``text`` as a double-quoted PromQL string literal.

    >>> promql_string('a"b')
    '"a\\\\"b"'
    """
    return json.dumps(text, ensure_ascii=False)


def promql_duration(seconds: float) -> str:
    """A PromQL range duration, in whole milliseconds when needed.

    >>> promql_duration(3600), promql_duration(59.999)
    ('3600s', '59999ms')
    """
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


class Progress:
    """A one-line progress bar on a terminal (stderr); silent when ``stream`` is None.

    The total is known up front because the report plans all its queries first.
    """

    width = 30

    def __init__(self, total: int, stream: TextIO | None) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream
        self._shown = False

    def advance(self, label: str) -> None:
        self.done = min(self.done + 1, self.total)
        if self.stream is None:
            return
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\rquerying Prometheus [{bar}] {self.done}/{self.total} {label:<40.40}")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self.stream is not None and self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False


def default_progress_stream(enabled: bool | None) -> TextIO | None:
    """stderr when asked, or by default when stderr is a terminal (never into a pipe)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return sys.stderr if enabled else None


class Prometheus:
    """Read-only access to one Prometheus (or a compatible API: Thanos, Mimir, VictoriaMetrics)."""

    def __init__(self, url: str, timeout: float) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise PrometheusError(
                f"--prometheus must be an http(s) URL such as http://localhost:9090, not {url!r}"
            )
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.warnings: list[str] = []

    def instant(self, expr: str, at: float) -> list[dict[str, Any]]:
        """The vector ``expr`` evaluates to at time ``at``."""
        data = self._call("query", {"query": expr, "time": _ts(at)})
        return _result(data, "vector", expr)

    def samples(self, selector: str, window: float, at: float) -> list[dict[str, Any]]:
        """Raw samples of ``selector`` in ``[at - window, at]`` (a range-vector query)."""
        expr = f"{selector}[{promql_duration(window)}]"
        data = self._call("query", {"query": expr, "time": _ts(at)})
        return _result(data, "matrix", expr)

    def range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """The matrix ``expr`` gives at ``start, start+step, … ≤ end``."""
        if (end - start) / step >= MAX_POINTS + 1:
            raise ValueError("range query too long; split it (see MAX_POINTS)")
        params = {"query": expr, "start": _ts(start), "end": _ts(end), "step": _ts(step)}
        data = self._call("query_range", params)
        return _result(data, "matrix", expr)

    def _call(self, endpoint: str, params: dict[str, str]) -> Any:
        params = {**params, "timeout": promql_duration(self.timeout)}
        body = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(
            f"{self.url}/api/v1/{endpoint}",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                "User-Agent": f"twinlens-report/{__version__}",
            },
        )
        deadline = time.monotonic() + self.timeout
        status, raw = self._send(request, deadline, params["query"])
        try:
            doc = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            raise PrometheusError(
                f"{self.url} answered HTTP {status} with something that is not the Prometheus "
                "API (is --prometheus the address of Prometheus itself?)"
            ) from None
        if not isinstance(doc, dict) or doc.get("status") != "success":
            error = doc.get("error", "unknown error") if isinstance(doc, dict) else doc
            kind = doc.get("errorType", "") if isinstance(doc, dict) else ""
            if kind == "timeout":
                raise QueryTimeout(
                    f"Prometheus gave up on a query after --timeout "
                    f"{promql_duration(self.timeout)}: {params['query']}"
                )
            raise PrometheusError(f"Prometheus refused the query {params['query']!r}: {error}")
        self.warnings.extend(str(w) for w in doc.get("warnings", []) if w not in self.warnings)
        return doc.get("data")

    def _send(
        self, request: urllib.request.Request, deadline: float, expr: str
    ) -> tuple[int, bytes]:
        def timed_out() -> QueryTimeout:
            return QueryTimeout(
                f"no answer from {self.url} within --timeout "
                f"{promql_duration(self.timeout)} (query: {expr})"
            )

        def left() -> float:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise timed_out()
            return remaining

        try:
            with urllib.request.urlopen(request, timeout=left()) as resp:
                return resp.status, self._read(resp, left)
        except urllib.error.HTTPError as exc:
            # Prometheus answers 400/422/503 with a JSON error body worth showing.
            try:
                return exc.code, self._read(exc, left)
            finally:
                exc.close()
        except TimeoutError:
            raise timed_out() from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise timed_out() from None
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {exc.reason}") from None
        except OSError as exc:
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {exc}") from None

    @staticmethod
    def _read(resp: Any, left: Any) -> bytes:
        """Read the body in chunks so a slowly dripping server still meets the deadline."""
        parts: list[bytes] = []
        while True:
            left()
            chunk = resp.read(_READ_CHUNK)
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)


def _ts(value: float) -> str:
    return f"{value:.3f}"


def _result(data: Any, kind: str, expr: str) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or data.get("resultType") != kind:
        got = data.get("resultType") if isinstance(data, dict) else type(data).__name__
        raise PrometheusError(f"expected a {kind} from {expr!r}, got {got}")
    result = data.get("result")
    if not isinstance(result, list):
        raise PrometheusError(f"malformed answer to {expr!r}: no result list")
    return result
