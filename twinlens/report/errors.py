"""Why a report could not be made, written out once for the whole package.

Every error carries a message meant for the person running ``twinlens report``: what went
wrong and what to do about it. The command prints it and exits 1; nothing is written.
"""

from __future__ import annotations

__all__ = ["PrometheusError", "QueryTimeout", "ReportError"]


class ReportError(Exception):
    """A report that cannot be produced (bad period, bad config, Prometheus trouble)."""


class PrometheusError(ReportError):
    """Prometheus could not be reached, or refused or failed a query."""


class QueryTimeout(PrometheusError):
    """A query did not complete within ``--timeout``."""
