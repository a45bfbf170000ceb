"""gRPC prober: the standard health check (``grpc.health.v1.Health/Check``).

blackbox_exporter's ``grpc`` module (``service``, ``tls``, ``tls_config``, ``metadata``,
``preferred_ip_protocol``) and metric names. One unary call needs little of gRPC: HTTP/2
(the pure-Python ``h2`` package, ~1 MB) and two one-field protobuf messages, encoded here
by hand. ``grpcio`` would bring a ~20 MB C++ core, its own threads and ``protobuf`` for a
single request, so it is only a test dependency (a real server for the tests).

    modules:
      grpc_health:
        prober: grpc
        grpc:
          service: example
          tls: true
          metadata: {authorization: ["Bearer token"]}

Failure reasons: ``dns``, ``blocked_target``, ``connect``, ``tls``, ``timeout``,
``protocol`` (not HTTP/2, or a gRPC status other than OK) and ``assertion`` (the service
answered but is not ``SERVING``).
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from typing import TYPE_CHECKING

import h2.config
import h2.connection
import h2.events
import h2.exceptions

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
    from exporter.config import Module
    from exporter.metrics import ProbeMetrics
    from exporter.probelog import ProbeLog

__all__ = ["SERVING_STATUS", "decode_health_response", "encode_health_request", "probe_grpc"]

for _name, _help in (
    ("probe_grpc_duration_seconds", "Duration of gRPC request by phase"),
    ("probe_grpc_ssl", "Indicates if SSL was used for the connection"),
    ("probe_grpc_status_code", "Response gRPC status code"),
    ("probe_grpc_healthcheck_response", "Response HealthCheck response"),
):
    register_metric(_name, _help)

#: grpc.health.v1.HealthCheckResponse.ServingStatus
SERVING_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
_PATH = "/grpc.health.v1.Health/Check"
_UNKNOWN_CODE = 2  # gRPC's UNKNOWN status code, when the server sent none


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_health_request(service: str) -> bytes:
    """A length-prefixed ``HealthCheckRequest{service}`` message (field 1, a string).

    >>> encode_health_request("example")
    b'\\x00\\x00\\x00\\x00\\t\\n\\x07example'
    """
    raw = service.encode()
    message = b"\x0a" + _varint(len(raw)) + raw if raw else b""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def decode_health_response(body: bytes) -> int:
    """The ``status`` (field 1) of a length-prefixed ``HealthCheckResponse``; 0 if absent.

    Raises ValueError for a truncated, compressed or malformed message.

    >>> decode_health_response(b"\\x00\\x00\\x00\\x00\\x02\\x08\\x01")
    1
    """
    if len(body) < 5:
        raise ValueError("response shorter than the 5-byte gRPC message prefix")
    if body[0] != 0:
        raise ValueError("compressed response messages are not supported")
    size = int.from_bytes(body[1:5], "big")
    message = body[5 : 5 + size]
    if len(message) != size:
        raise ValueError("truncated response message")
    pos, status = 0, 0
    while pos < len(message):
        key, pos = _read_varint(message, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(message, pos)
            if field == 1:
                status = value
        elif wire == 2:
            length, pos = _read_varint(message, pos)
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
    if pos != len(message):
        raise ValueError("truncated protobuf field")
    return status


class _Call(asyncio.Protocol):
    """One HTTP/2 connection carrying one unary call; ``done`` resolves when it ends."""

    def __init__(self) -> None:
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.transport: asyncio.Transport | None = None
        self.headers: dict[str, str] = {}
        self.trailers: dict[str, str] = {}
        self.body = bytearray()
        self.done: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self.stream_id = 1

    def send(
        self, transport: asyncio.Transport, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        self.transport = transport
        self.conn.initiate_connection()
        self.stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(self.stream_id, headers)
        self.conn.send_data(self.stream_id, body, end_stream=True)
        transport.write(self.conn.data_to_send())

    def _finish(self, error: str | None) -> None:
        if not self.done.done():
            self.done.set_result(error)

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._finish(f"HTTP/2 protocol error: {exc}")
            return
        for event in events:
            if isinstance(event, h2.events.ResponseReceived):
                self.headers.update((str(k), str(v)) for k, v in event.headers)
            elif isinstance(event, h2.events.DataReceived):
                self.body += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.TrailersReceived):
                self.trailers.update((str(k), str(v)) for k, v in event.headers)
            elif isinstance(event, h2.events.StreamEnded):
                self._finish(None)
            elif isinstance(event, h2.events.StreamReset):
                self._finish(f"stream reset by the server (error code {event.error_code})")
            elif isinstance(event, h2.events.ConnectionTerminated):
                self._finish(f"connection closed by the server (GOAWAY {event.error_code})")
        if self.transport is not None and not self.transport.is_closing():
            pending = self.conn.data_to_send()
            if pending:
                self.transport.write(pending)

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(f"connection lost: {exc}" if exc else "connection closed by the server")


def _split_target(target: str, tls: bool) -> tuple[str, int]:
    """blackbox's parsing: an optional ``http(s)://``, then ``host[:port]``; port 80/443."""
    if not target.startswith(("http://", "https://")):
        target = "http://" + target
    netloc = urllib.parse.urlsplit(target).netloc
    return split_host_port(netloc, 443 if tls else 80)


async def probe_grpc(
    target: str, module: Module, metrics: ProbeMetrics, log: ProbeLog, deadline: float
) -> bool:
    """Call ``grpc.health.v1.Health/Check`` for the module's ``service`` on ``target``."""
    cfg = module.grpc
    loop = asyncio.get_running_loop()
    metrics.gauge("probe_grpc_duration_seconds", 0, phase="resolve")
    metrics.gauge("probe_grpc_ssl", 0)
    try:
        host, port = _split_target(target, cfg.tls)
    except ValueError as exc:
        log.error("Could not parse target URL", err=str(exc))
        return metrics.fail("connect")
    transport: asyncio.Transport | None = None
    call: _Call | None = None
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
        metrics.gauge("probe_grpc_duration_seconds", where.lookup_seconds, phase="resolve")
        check_start = time.perf_counter()
        transport, call = await dial(where.ip, port, deadline=deadline, protocol_factory=_Call)
        if cfg.tls:
            transport, facts = await start_tls(
                transport,
                call,
                cfg=cfg.tls_config,
                server_hostname=cfg.tls_config.server_name or host,
                deadline=deadline,
                alpn=("h2",),
                retry_at=(where.ip, port, ""),
            )
            metrics.gauge("probe_grpc_ssl", 1)
            record_tls(metrics, facts)
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        timeout_ms = max(int((deadline - loop.time()) * 1000), 1)
        headers = [
            (":method", "POST"),
            (":scheme", "https" if cfg.tls else "http"),
            (":path", _PATH),
            (":authority", authority),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("grpc-timeout", f"{timeout_ms}m"),
            ("user-agent", "twinlens-grpc-health"),
        ]
        headers += [(k.lower(), v) for k, values in cfg.metadata.items() for v in values]
        log.info("Calling gRPC health check", address=authority, service=cfg.service)
        call.send(transport, headers, encode_health_request(cfg.service))
        error = await call.done
        metrics.gauge(
            "probe_grpc_duration_seconds", time.perf_counter() - check_start, phase="check"
        )
    except TLSHandshakeError as exc:
        if exc.facts is not None:
            record_tls(metrics, exc.facts)
        log.error("TLS handshake failed", err=str(exc))
        return metrics.fail(exc.reason)
    except NetError as exc:
        log.error("Error connecting to the gRPC server", err=str(exc))
        return metrics.fail(exc.reason)
    finally:
        if transport is not None:
            transport.abort()
    return _verdict(call, error, metrics, log)


def _verdict(call: _Call, error: str | None, metrics: ProbeMetrics, log: ProbeLog) -> bool:
    fields = {**call.headers, **call.trailers}
    status_text = fields.get("grpc-status")
    code = int(status_text) if status_text and status_text.isdigit() else _UNKNOWN_CODE
    serving: str | None = None
    if error is None and code == 0 and fields.get(":status") == "200":
        try:
            serving = SERVING_STATUS.get(decode_health_response(bytes(call.body)), "UNKNOWN")
        except ValueError as exc:
            error = f"bad health check response: {exc}"
    metrics.gauge("probe_grpc_status_code", code)
    for name in SERVING_STATUS.values():
        metrics.gauge(
            "probe_grpc_healthcheck_response", 1 if name == serving else 0, serving_status=name
        )
    if error is not None:
        log.error("gRPC call failed", err=error)
        return metrics.fail("protocol")
    if code != 0 or serving is None:
        log.error(
            "gRPC call failed",
            http_status=fields.get(":status", ""),
            grpc_status=code,
            grpc_message=urllib.parse.unquote(fields.get("grpc-message", "")),
        )
        return metrics.fail("protocol")
    if serving != "SERVING":
        log.error("Service is not serving", serving_status=serving)
        return metrics.fail("assertion")
    log.info("Service is serving")
    return True
