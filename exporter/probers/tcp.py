"""TCP prober: connect, optionally TLS, then a line-based query/response dialogue.

blackbox_exporter's ``tcp`` module, key for key: ``query_response`` steps with ``expect``
(a regex read line by line until it matches), ``send`` (with ``${1}`` / ``${name}``
expansion from the last match), ``starttls`` (upgrade in place, as SMTP or IMAP do), and
``labels`` (``probe_expect_info``); ``tls: true`` for TLS from the first byte.

    modules:
      smtp_starttls:
        prober: tcp
        tcp:
          query_response:
            - expect: "^220 "
            - send: "EHLO prober\\r"
            - expect: "^250-STARTTLS"
            - send: "STARTTLS\\r"
            - expect: "^220"
            - starttls: true

Failure reasons: ``dns``, ``blocked_target``, ``connect``, ``tls``, ``protocol`` (an
``expect`` never matched before the peer closed) and ``timeout``.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from exporter.metrics import register_metric
from exporter.net import (
    NetError,
    TLSHandshakeError,
    dial,
    record_tls,
    resolve_target,
    split_host_port,
    start_tls,
)

if TYPE_CHECKING:
    from exporter.config import Module, QueryResponse
    from exporter.metrics import ProbeMetrics
    from exporter.probelog import ProbeLog

__all__ = ["expand", "probe_tcp"]

register_metric("probe_expect_info", "Explicit content matched")

#: Longest line read while waiting for an ``expect`` (Go's bufio.Scanner default).
MAX_LINE = 64 * 1024

_TEMPLATE = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")


def expand(template: str, match: re.Match[str]) -> str:
    """Go's ``Regexp.Expand``: ``$1``, ``${1}``, ``$name``, ``${name}``; ``$$`` is ``$``.

    A missing group expands to nothing, and ``$1x`` means the group named ``1x``, as in Go.

    >>> expand("PONG ${1}", re.search(r"PING (\\S+)", "PING abc"))
    'PONG abc'
    """

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(2)
        try:
            value = match.group(int(name) if name.isdigit() else name)
        except (IndexError, re.error):
            return ""
        return value or ""

    return _TEMPLATE.sub(sub, template)


class _Lines(asyncio.Protocol):
    """Buffers bytes and hands out lines (``\\n``-terminated, ``\\r`` trimmed, as Go's
    Scanner). It stays the protocol after STARTTLS, so reads continue decrypted."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.closed = False
        self.error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def readline(self) -> bytes | None:
        """The next line, or None at end of stream; ValueError past :data:`MAX_LINE`."""
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 1]
                return line.removesuffix(b"\r")
            if len(self.buffer) > MAX_LINE:
                raise ValueError(f"line longer than {MAX_LINE} bytes")
            if self.closed:
                if self.buffer:
                    line = bytes(self.buffer)
                    self.buffer.clear()
                    return line.removesuffix(b"\r")
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter


async def probe_tcp(
    target: str, module: Module, metrics: ProbeMetrics, log: ProbeLog, deadline: float
) -> bool:
    """Connect to ``host:port`` and run the module's query/response dialogue."""
    cfg = module.tcp
    metrics.gauge("probe_failed_due_to_regex", 0)
    try:
        host, port = split_host_port(target)
    except ValueError as exc:
        log.error("Error splitting target address and port", err=str(exc))
        return metrics.fail("connect")
    server_name = cfg.tls_config.server_name or host
    transport: asyncio.Transport | None = None
    try:
        where = await resolve_target(
            host,
            ip_protocol=cfg.preferred_ip_protocol,
            fallback=cfg.ip_protocol_fallback,
            guard=module.ssrf,
            deadline=deadline,
            metrics=metrics,
            log=log,
        )
        log.info("Dialing TCP", address=where.ip, port=port, tls=cfg.tls)
        transport, lines = await dial(
            where.ip,
            port,
            deadline=deadline,
            protocol_factory=_Lines,
            source_ip=cfg.source_ip_address,
        )
        if cfg.tls:
            transport, facts = await start_tls(
                transport,
                lines,
                cfg=cfg.tls_config,
                server_hostname=server_name,
                deadline=deadline,
                retry_at=(where.ip, port, cfg.source_ip_address),
            )
            record_tls(metrics, facts)
        log.info("Successfully dialed")
        for i, step in enumerate(cfg.query_response):
            log.debug("Processing query response entry", entry_number=i)
            ok, transport = await _step(
                step, transport, lines, metrics, log, module, server_name, deadline
            )
            if not ok:
                return False
        return True
    except TLSHandshakeError as exc:
        if exc.facts is not None:
            record_tls(metrics, exc.facts)
        log.error("TLS Handshake (client) failed", err=str(exc))
        return metrics.fail(exc.reason)
    except NetError as exc:
        log.error("Error dialing TCP", err=str(exc))
        return metrics.fail(exc.reason)
    finally:
        if transport is not None:
            transport.abort()


async def _step(
    step: QueryResponse,
    transport: asyncio.Transport,
    lines: _Lines,
    metrics: ProbeMetrics,
    log: ProbeLog,
    module: Module,
    server_name: str,
    deadline: float,
) -> tuple[bool, asyncio.Transport]:
    """One query_response entry; (ok, the transport to use from now on)."""
    send = step.send
    if step.expect is not None:
        match = None
        while match is None:
            try:
                raw = await lines.readline()
            except ValueError as exc:
                log.error("Error reading from connection", err=str(exc))
                return metrics.fail("protocol"), transport
            if raw is None:
                metrics.gauge("probe_failed_due_to_regex", 1)
                log.error(
                    "Regexp did not match before the connection closed",
                    regexp=step.expect.source,
                    err=str(lines.error) if lines.error else "EOF",
                )
                return metrics.fail("protocol"), transport
            line = raw.decode("utf-8", "replace")
            log.debug("Read line", line=line)
            match = step.expect.search(line)
        log.info("Regexp matched", regexp=step.expect.source, line=line)
        metrics.gauge("probe_failed_due_to_regex", 0)
        send = expand(send, match)
        if step.labels:
            values = {label.name: expand(label.value, match) for label in step.labels}
            metrics.gauge("probe_expect_info", 1, **values)
    if send:
        log.debug("Sending line", line=send)
        transport.write(send.encode() + b"\n")
    if step.starttls:
        log.info("Upgrading the connection to TLS (STARTTLS)")
        # Not retry_at: a fresh connection would need the plain-text dialogue replayed.
        transport, facts = await start_tls(
            transport,
            lines,
            cfg=module.tcp.tls_config,
            server_hostname=server_name,
            deadline=deadline,
        )
        log.info("TLS Handshake (client) succeeded")
        record_tls(metrics, facts)
    return True, transport
