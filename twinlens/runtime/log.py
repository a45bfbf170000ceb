"""Logging in the two formats Prometheus exporters use: logfmt (default) and JSON.

Extra fields go in ``extra={"fields": {...}}`` so they come out as key=value pairs::

    log.info("probe failed", extra={"fields": {"target": url, "reason": "timeout"}})
    # ts=2026-11-28T03:00:00.123Z level=info logger=exporter msg="probe failed" reason=timeout
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Literal

__all__ = ["LEVELS", "LogFormat", "format_logfmt_value", "setup_logging"]

LogFormat = Literal["logfmt", "json"]
LEVELS = ("debug", "info", "warn", "error")
_LEVEL_NUM = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
_LEVEL_NAME = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn"}


def format_logfmt_value(value: object) -> str:
    """Quote a value for logfmt only when it needs it."""
    text = str(value)
    if text and not any(c in text for c in ' ="\\\n\t'):
        return text
    return json.dumps(text, ensure_ascii=False)


def _timestamp(record: logging.LogRecord) -> str:
    ms = int(record.msecs)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{ms:03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ts": _timestamp(record),
        "level": _LEVEL_NAME.get(record.levelno, "error"),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    extra = getattr(record, "fields", None)
    if isinstance(extra, dict):
        out.update(extra)
    if record.exc_info:
        out["err"] = logging.Formatter().formatException(record.exc_info)
    return out


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={format_logfmt_value(v)}" for k, v in _fields(record).items())


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str, ensure_ascii=False)


def setup_logging(level: str = "info", fmt: str = "logfmt", stream: Any = None) -> None:
    """Configure the root logger once per process (called by each command's main)."""
    if level not in _LEVEL_NUM:
        raise ValueError(f"--log.level must be one of {', '.join(LEVELS)}, not {level!r}")
    if fmt not in ("logfmt", "json"):
        raise ValueError(f"--log.format must be logfmt or json, not {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(LogfmtFormatter() if fmt == "logfmt" else JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVEL_NUM[level])
    # Access logs of the web frameworks are noise at info level.
    for noisy in ("aiohttp.access", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, _LEVEL_NUM[level]))
