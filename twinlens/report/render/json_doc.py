"""``--format json``: the report model itself, for scripts and archives (schema_version 1)."""

from __future__ import annotations

import msgspec

from twinlens.report.model import Report

__all__ = ["render_json"]


def render_json(report: Report) -> str:
    """Indented JSON; times RFC 3339 UTC, durations in seconds, shares 0..1, null = no data."""
    return msgspec.json.format(msgspec.json.encode(report), indent=2).decode() + "\n"
