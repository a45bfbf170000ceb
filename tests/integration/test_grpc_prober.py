"""The grpc prober (h2 + hand-encoded protobuf) against a real grpcio health server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from exporter.config import Module, load_config
from exporter.probe import ProbeOutcome, run_probe
from exporter.probers.grpc import decode_health_response, encode_health_request
from twinlens.runtime.config import decode


@dataclass
class Server:
    port: int
    metadata: list[list[tuple[str, str]]] = field(default_factory=list)


class _Recorder(grpc.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, sink: list[list[tuple[str, str]]]) -> None:
        self.sink = sink

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        self.sink.append([(m.key, m.value) for m in details.invocation_metadata])
        return continuation(details)


def _start(credentials: grpc.ServerCredentials | None) -> tuple[grpc.Server, Server]:
    sink: list[list[tuple[str, str]]] = []
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=[_Recorder(sink)])
    servicer = health.HealthServicer()
    servicer.set("example", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("down", health_pb2.HealthCheckResponse.NOT_SERVING)
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    return server, Server(port, sink)


@pytest.fixture
def plain() -> Iterator[Server]:
    server, info = _start(None)
    yield info
    server.stop(None)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def secure(ca: trustme.CA) -> Iterator[Server]:
    leaf = ca.issue_cert("grpc.localhost")
    creds = grpc.ssl_server_credentials(
        [(leaf.private_key_pem.bytes(), b"".join(p.bytes() for p in leaf.cert_chain_pems))]
    )
    server, info = _start(creds)
    yield info
    server.stop(None)


def _module(**grpc_cfg: Any) -> Module:
    return decode({"prober": "grpc", "grpc": {"preferred_ip_protocol": "ip4", **grpc_cfg}}, Module)


async def _probe(module: Module, target: str, timeout: float = 5.0) -> ProbeOutcome:
    return await run_probe("m", module, target, timeout)


def test_messages_match_protobuf_encoding() -> None:
    # our hand encoding against the real protobuf classes, both ways
    for service in ("", "example", "x" * 300):
        wire = health_pb2.HealthCheckRequest(service=service).SerializeToString()
        assert encode_health_request(service) == b"\x00" + len(wire).to_bytes(4, "big") + wire
    for status in (0, 1, 2, 3):
        wire = health_pb2.HealthCheckResponse(status=status).SerializeToString()
        assert decode_health_response(b"\x00" + len(wire).to_bytes(4, "big") + wire) == status
    with pytest.raises(ValueError, match="truncated"):
        decode_health_response(b"\x00\x00\x00\x00\x05\x08")


async def test_serving_service_with_metadata(plain: Server) -> None:
    module = _module(service="example", metadata={"Authorization": ["Bearer t"], "x-a": ["1", "2"]})
    out = await _probe(module, f"127.0.0.1:{plain.port}")
    assert out.success, out.log.text()
    m = out.metrics
    assert m.get("probe_grpc_status_code") == 0
    assert m.get("probe_grpc_ssl") == 0
    assert m.get("probe_grpc_healthcheck_response", serving_status="SERVING") == 1
    assert m.get("probe_grpc_healthcheck_response", serving_status="NOT_SERVING") == 0
    check = m.get("probe_grpc_duration_seconds", phase="check")
    assert check is not None and 0 < check < out.duration
    seen = plain.metadata[-1]
    assert ("authorization", "Bearer t") in seen
    assert [v for k, v in seen if k == "x-a"] == ["1", "2"]  # one header per value


async def test_not_serving_and_unknown_service(plain: Server) -> None:
    down = await _probe(_module(service="down"), f"http://127.0.0.1:{plain.port}")
    assert (down.success, down.reason) == (False, "assertion")
    assert down.metrics.get("probe_grpc_healthcheck_response", serving_status="NOT_SERVING") == 1
    unknown = await _probe(_module(service="nope"), f"127.0.0.1:{plain.port}")
    assert (unknown.success, unknown.reason) == (False, "protocol")
    assert unknown.metrics.get("probe_grpc_status_code") == grpc.StatusCode.NOT_FOUND.value[0]
    assert all(
        unknown.metrics.get("probe_grpc_healthcheck_response", serving_status=s) == 0
        for s in ("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")
    )


async def test_tls_with_certificate_facts(secure: Server, ca: trustme.CA, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    good = _module(tls=True, tls_config={"ca_file": str(ca_file), "server_name": "grpc.localhost"})
    out = await _probe(good, f"127.0.0.1:{secure.port}")
    assert out.success, out.log.text()
    assert out.metrics.get("probe_grpc_ssl") == 1
    assert out.metrics.get("probe_tls_cert_verified") == 1
    assert out.metrics.get("probe_ssl_earliest_cert_expiry") is not None
    untrusted = await _probe(_module(tls=True), f"127.0.0.1:{secure.port}")
    assert (untrusted.success, untrusted.reason) == (False, "tls")
    assert untrusted.metrics.get("probe_tls_cert_verified") == 0


async def test_plain_client_against_tls_server_is_a_protocol_failure(secure: Server) -> None:
    out = await _probe(_module(), f"127.0.0.1:{secure.port}", timeout=2.0)
    assert out.success is False and out.reason in ("protocol", "timeout")


def test_blackbox_grpc_module_loads_and_reserved_metadata_is_refused(shared_dir: Path) -> None:
    config = load_config(str(shared_dir / "peer-tests/blackbox_exporter/config/blackbox-good.yml"))
    assert config.modules["grpc_health"].grpc.metadata["key"] == ["value1", "value2"]
    with pytest.raises(Exception, match="metadata key 'grpc-timeout' is not allowed"):
        _module(metadata={"grpc-timeout": ["1S"]})


async def test_blackbox_grpc_health_module_runs(plain: Server, shared_dir: Path) -> None:
    config = load_config(str(shared_dir / "peer-tests/blackbox_exporter/config/blackbox-good.yml"))
    out = await run_probe(
        "grpc_health", config.modules["grpc_health"], f"localhost:{plain.port}", 5
    )
    assert out.success, out.log.text()
    assert [v for k, v in plain.metadata[-1] if k == "key"] == ["value1", "value2"]
    assert ("authorization", "Bearer token") in plain.metadata[-1]
