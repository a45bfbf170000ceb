"""The dns prober against a real DNS server on loopback (dnspython wire format, UDP/TCP/DoT)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import trustme

from exporter.config import Module
from exporter.probe import ProbeOutcome, run_probe
from twinlens.runtime.config import decode

SERIAL = 2026112801
ZONE: dict[tuple[str, str], list[str]] = {
    ("example.test.", "A"): ["192.0.2.1", "192.0.2.2"],
    ("example.test.", "AAAA"): ["2001:db8::1"],
    ("example.test.", "SOA"): [
        f"ns1.example.test. hostmaster.example.test. {SERIAL} 7200 900 1209600 300"
    ],
}


@dataclass
class Seen:
    transports: list[str] = field(default_factory=list)
    rd: list[bool] = field(default_factory=list)


def _answer(wire: bytes, seen: Seen, transport: str) -> bytes:
    query = dns.message.from_wire(wire)
    seen.transports.append(transport)
    seen.rd.append(bool(query.flags & dns.flags.RD))
    response = dns.message.make_response(query)
    question = query.question[0]
    name, rdtype = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
    if not any(n == name for n, _ in ZONE):
        response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()
    data = ZONE.get((name, rdtype), [])
    if data:
        response.answer.append(dns.rrset.from_text_list(name, 300, "IN", rdtype, data))
    response.authority.append(dns.rrset.from_text(name, 3600, "IN", "NS", "ns1.example.test."))
    response.additional.append(
        dns.rrset.from_text("ns1.example.test.", 3600, "IN", "A", "192.0.2.53")
    )
    return response.to_wire()


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, seen: Seen) -> None:
        self.seen = seen
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(_answer(data, self.seen, "udp"), addr)


@asynccontextmanager
async def dns_server(tls: ssl.SSLContext | None = None) -> AsyncIterator[tuple[int, Seen]]:
    """UDP and TCP (or DoT) on the same loopback port number."""
    seen = Seen()
    loop = asyncio.get_running_loop()

    async def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (size,) = struct.unpack("!H", await reader.readexactly(2))
                reply = _answer(await reader.readexactly(size), seen, "tls" if tls else "tcp")
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(tcp, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    udp, _ = await loop.create_datagram_endpoint(lambda: _UDP(seen), local_addr=("127.0.0.1", port))
    try:
        yield port, seen
    finally:
        udp.close()
        server.close()
        await server.wait_closed()


def _module(**dns_cfg: Any) -> Module:
    cfg = {"query_name": "example.test", "query_type": "A", "preferred_ip_protocol": "ip4"}
    return decode({"prober": "dns", "dns": {**cfg, **dns_cfg}}, Module)


async def _probe(module: Module, target: str, timeout: float = 5.0) -> ProbeOutcome:
    return await run_probe("m", module, target, timeout)


async def test_udp_query_counts_sections_and_times_phases() -> None:
    async with dns_server() as (port, seen):
        out = await _probe(_module(), f"127.0.0.1:{port}")
    assert out.success, out.log.text()
    m = out.metrics
    assert (m.get("probe_dns_answer_rrs"), m.get("probe_dns_authority_rrs")) == (2, 1)
    assert m.get("probe_dns_additional_rrs") == 1
    assert m.get("probe_dns_query_succeeded") == 1
    assert m.get("probe_ip_protocol") == 4
    request = m.get("probe_dns_duration_seconds", phase="request")
    assert request is not None and 0 < request < out.duration
    assert seen.transports == ["udp"] and seen.rd == [True]


async def test_tcp_transport_and_recursion_flag() -> None:
    async with dns_server() as (port, seen):
        out = await _probe(
            _module(transport_protocol="tcp", recursion_desired=False), f"127.0.0.1:{port}"
        )
    assert out.success, out.log.text()
    assert seen.transports == ["tcp"] and seen.rd == [False]
    connect = out.metrics.get("probe_dns_duration_seconds", phase="connect")
    assert connect is not None and connect > 0


async def test_soa_serial_is_reported() -> None:
    async with dns_server() as (port, _):
        out = await _probe(_module(query_type="SOA"), f"127.0.0.1:{port}")
    assert out.success, out.log.text()
    assert out.metrics.get("probe_dns_serial") == SERIAL


async def test_rcode_must_be_valid() -> None:
    async with dns_server() as (port, _):
        nx = await _probe(_module(query_name="missing.test"), f"127.0.0.1:{port}")
        nx_ok = await _probe(
            _module(query_name="missing.test", valid_rcodes=["NXDOMAIN"]), f"127.0.0.1:{port}"
        )
    assert (nx.success, nx.reason) == (False, "protocol")
    assert nx.metrics.get("probe_dns_query_succeeded") == 1  # the query itself worked
    assert nx.metrics.get("probe_dns_answer_rrs") == 0
    assert nx_ok.success, nx_ok.log.text()


@pytest.mark.parametrize(
    ("validator", "success"),
    [
        # records are matched in Go's text form: name, ttl, class, type, data, tab-separated
        ({"fail_if_none_matches_regexp": [r"^example\.test\.\t300\tIN\tA\t192\.0\.2\.1$"]}, True),
        ({"fail_if_matches_regexp": [r"192\.0\.2\.2$"]}, False),
        ({"fail_if_not_matches_regexp": [r"192\.0\.2\.1$"]}, False),  # .2 does not match
        ({"fail_if_not_matches_regexp": [r"\tA\t192\.0\.2\."]}, True),
        ({"fail_if_all_match_regexp": [r"192\.0\.2\.1$"]}, False),  # blackbox: not all match
        ({"fail_if_all_match_regexp": [r"192\.0\.2\.\d$"]}, True),
    ],
)
async def test_answer_validators(validator: dict[str, list[str]], success: bool) -> None:
    async with dns_server() as (port, _):
        out = await _probe(_module(validate_answer_rrs=validator), f"127.0.0.1:{port}")
    assert out.success is success, out.log.text()
    if not success:
        assert out.reason == "assertion"


async def test_authority_and_additional_validators() -> None:
    async with dns_server() as (port, _):
        out = await _probe(
            _module(
                validate_authority_rrs={"fail_if_none_matches_regexp": [r"\tNS\tns1\.example"]},
                validate_additional_rrs={"fail_if_matches_regexp": [r"192\.0\.2\.53"]},
            ),
            f"127.0.0.1:{port}",
        )
    assert (out.success, out.reason) == (False, "assertion")
    assert "Additional RRs validation failed" in out.log.text()


async def test_closed_tcp_port_fails_with_connect() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = await _probe(_module(transport_protocol="tcp"), f"127.0.0.1:{port}")
    assert (out.success, out.reason) == (False, "connect")
    assert out.metrics.get("probe_dns_query_succeeded") == 0


async def test_silent_udp_server_times_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, never answers
        out = await _probe(_module(), f"127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
    assert (out.success, out.reason) == (False, "timeout")


async def test_dns_over_tls(tmp_path: Any) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("dns.localhost").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    async with dns_server(tls=server_ctx) as (port, seen):
        out = await _probe(
            _module(
                dns_over_tls=True,
                tls_config={"ca_file": str(ca_file), "server_name": "dns.localhost"},
            ),
            f"127.0.0.1:{port}",
        )
        untrusted = await _probe(_module(dns_over_tls=True), f"127.0.0.1:{port}")
    assert out.success, out.log.text()
    assert seen.transports[0] == "tls"
    assert (untrusted.success, untrusted.reason) == (False, "tls")
