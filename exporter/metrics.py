"""The samples one probe produces, and the catalog of every probe metric name.

blackbox_exporter builds a fresh Prometheus registry per probe. A registry of live
``Gauge`` objects is far more machinery than a probe needs, so a probe here records plain
samples into :class:`ProbeMetrics`, and rendering is string building: cheap for ``/probe``
and, because a scheduled check renders its fragment once per run, cheap for ``/metrics``
with thousands of checks.

    >>> m = ProbeMetrics()
    >>> m.gauge("probe_http_status_code", 200)
    >>> m.gauge("probe_http_duration_seconds", 0.002, phase="connect")
    >>> m.get("probe_http_duration_seconds", phase="connect")
    0.002
"""

from __future__ import annotations

import math
from collections.abc import Iterator

__all__ = [
    "CATALOG",
    "ProbeMetrics",
    "escape_label_value",
    "format_value",
    "register_metric",
]

#: name -> help text for every metric a prober may emit (blackbox's wording where shared).
CATALOG: dict[str, str] = {
    "probe_success": "Displays whether or not the probe was a success",
    "probe_duration_seconds": "Returns how long the probe took to complete in seconds",
    "probe_failure_info": (
        "Why the probe failed: one series per failed probe, reason from a bounded set"
    ),
    "probe_dns_lookup_time_seconds": "Returns the time taken for probe dns lookup in seconds",
    "probe_ip_protocol": "Specifies whether probe ip protocol is IP4 or IP6",
    "probe_ip_addr_hash": (
        "Specifies the hash of IP address. It's useful to detect if the IP address changes."
    ),
    "probe_http_duration_seconds": "Duration of http request by phase, summed over all redirects",
    "probe_http_status_code": "Response HTTP status code",
    "probe_http_content_length": "Length of http content response",
    "probe_http_uncompressed_body_length": "Length of uncompressed response body",
    "probe_http_redirects": "The number of redirects",
    "probe_http_ssl": "Indicates if SSL was used for the final redirect",
    "probe_http_version": "Returns the version of HTTP of the probe response",
    "probe_failed_due_to_regex": "Indicates if probe failed due to regex",
    "probe_http_last_modified_timestamp_seconds": (
        "Returns the Last-Modified HTTP response header in unixtime"
    ),
    "probe_ssl_earliest_cert_expiry": "Returns last SSL chain expiry in unixtime",
    "probe_ssl_last_chain_expiry_timestamp_seconds": ("Returns last SSL chain expiry in timestamp"),
    "probe_ssl_last_chain_info": "Contains SSL leaf certificate information",
    "probe_tls_version_info": "Returns the TLS version used or NaN when unknown",
    "probe_tls_cipher_info": "Returns the TLS cipher negotiated during handshake",
    "probe_tls_cert_verified": (
        "Whether the peer certificate chain verified (certificate facts are reported either way)"
    ),
}


def register_metric(name: str, help_text: str) -> None:
    """Add a metric name to the catalog (probers in later modules declare theirs here)."""
    CATALOG.setdefault(name, help_text)


def escape_label_value(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")
    return value


def format_value(value: float) -> str:
    """Go-style sample value: ``1``, ``0.25``, ``+Inf``, ``NaN``."""
    if math.isfinite(value):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


LabelPairs = tuple[tuple[str, str], ...]


class ProbeMetrics:
    """Gauge samples of one probe, grouped by metric family in the order first set.

    Setting the same name and labels again replaces the value (last write wins *within*
    one probe, never across targets: every probe has its own instance).
    """

    __slots__ = ("_families", "failure_reason")

    def __init__(self) -> None:
        self._families: dict[str, dict[LabelPairs, float]] = {}
        self.failure_reason: str | None = None

    def gauge(self, name: str, value: float, **labels: str) -> None:
        if name not in CATALOG:
            raise KeyError(f"metric {name!r} is not in exporter.metrics.CATALOG")
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = {}
        family[tuple(labels.items())] = float(value)

    def fail(self, reason: str) -> bool:
        """Record why the probe failed (the first reason wins) and return False.

        >>> return metrics.fail("connect")
        """
        if self.failure_reason is None:
            self.failure_reason = reason
        return False

    def get(self, name: str, **labels: str) -> float | None:
        """The value of one sample, or None (like ``registry.get_sample_value``)."""
        family = self._families.get(name)
        if family is None:
            return None
        want = set(labels.items())
        for pairs, value in family.items():
            if set(pairs) == want:
                return value
        return None

    def names(self) -> list[str]:
        return list(self._families)

    def samples(self) -> Iterator[tuple[str, LabelPairs, float]]:
        for name, family in self._families.items():
            for pairs, value in family.items():
                yield name, pairs, value

    def fragments(self, extra: LabelPairs = ()) -> dict[str, str]:
        """Sample lines per family, with ``extra`` labels first (no HELP/TYPE lines).

        A scheduled check stores these once per run; ``/metrics`` joins them per family.
        """
        prefix = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in extra)
        out: dict[str, str] = {}
        for name, family in self._families.items():
            lines = []
            for pairs, value in family.items():
                inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in pairs)
                if prefix and inner:
                    inner = f"{prefix},{inner}"
                elif prefix:
                    inner = prefix
                labels = f"{{{inner}}}" if inner else ""
                lines.append(f"{name}{labels} {format_value(value)}\n")
            out[name] = "".join(lines)
        return out

    def render(self) -> str:
        """Prometheus text exposition (format 0.0.4) of this probe's samples."""
        parts = []
        for name, text in self.fragments().items():
            parts.append(f"# HELP {name} {CATALOG[name]}\n# TYPE {name} gauge\n{text}")
        return "".join(parts)
