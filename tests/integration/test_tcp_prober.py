"""The tcp prober against real TCP and TLS servers on loopback (port 0)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509

from exporter.config import Module
from exporter.probe import ProbeOutcome, run_probe
from twinlens.runtime.config import decode

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def tcp_server(handler: Handler, ssl_ctx: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0, ssl=ssl_ctx)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def _module(**tcp: Any) -> Module:
    return decode({"prober": "tcp", "tcp": {"preferred_ip_protocol": "ip4", **tcp}}, Module)


async def _probe(module: Module, target: str, timeout: float = 5.0) -> ProbeOutcome:
    return await run_probe("m", module, target, timeout)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    return ctx


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _leaf_not_after(ca: trustme.CA) -> float:
    # trustme issues a fresh leaf per call, but every leaf of one CA expires at the same time
    leaf = ca.issue_cert("localhost").cert_chain_pems[0].bytes()
    return x509.load_pem_x509_certificate(leaf).not_valid_after_utc.timestamp()


async def test_connect_success_reports_address_facts() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async with tcp_server(handler) as port:
        out = await _probe(_module(), f"127.0.0.1:{port}")
    assert out.success, out.log.text()
    m = out.metrics
    assert m.get("probe_success") == 1
    assert m.get("probe_ip_protocol") == 4
    assert m.get("probe_ip_addr_hash") == 3668918509.0
    assert m.get("probe_failed_due_to_regex") == 0


async def test_refused_connection_fails_with_connect() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    out = await _probe(_module(), f"127.0.0.1:{port}")
    assert (out.success, out.reason) == (False, "connect")
    assert out.metrics.get("probe_failure_info", reason="connect") == 1
    assert "connection refused" in out.log.text()


async def test_missing_port_is_a_failed_probe_not_a_crash() -> None:
    out = await _probe(_module(), "127.0.0.1")
    assert (out.success, out.reason) == (False, "connect")
    assert "missing port" in out.log.text()


async def test_irc_ping_pong_expands_groups_and_labels() -> None:
    received: list[str] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"NOTICE * :hello\r\nPING :tok42\r\n")
        received.append((await reader.readline()).decode())
        writer.write(b":srv 001 prober :Welcome v2.5\r\n")
        await writer.drain()
        await reader.read()

    module = _module(
        query_response=[
            {"send": "NICK prober"},
            {"expect": "^PING :([^ ]+)", "send": "PONG ${1}"},
            {
                "expect": r"^:[^ ]+ 001 .* v(?P<major>\d+)\.(\d+)",
                "labels": [{"name": "version", "value": "${major}.${2}"}],
            },
        ]
    )
    async with tcp_server(handler) as port:
        out = await _probe(module, f"127.0.0.1:{port}")
    assert out.success, out.log.text()
    # the first send ran before the first expect; the server read "NICK" line first
    assert received == ["NICK prober\n"]
    assert out.metrics.get("probe_expect_info", version="2.5") == 1


async def test_expect_not_matched_before_close_fails_with_regex_flag() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-1.99-old\r\n")
        await writer.drain()

    module = _module(query_response=[{"expect": "^SSH-2.0-"}])
    async with tcp_server(handler) as port:
        out = await _probe(module, f"127.0.0.1:{port}")
    assert (out.success, out.reason) == (False, "protocol")
    assert out.metrics.get("probe_failed_due_to_regex") == 1


async def test_silent_server_times_out_at_the_deadline() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    module = _module(query_response=[{"expect": "^220"}])
    async with tcp_server(handler) as port:
        out = await _probe(module, f"127.0.0.1:{port}", timeout=0.5)
    assert (out.success, out.reason) == (False, "timeout")
    assert 0.45 <= out.duration < 3.0
    assert out.metrics.get("probe_failed_due_to_regex") == 0


async def test_starttls_upgrades_and_reports_certificate(
    ca: trustme.CA, server_ctx: ssl.SSLContext, ca_file: str
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mail ESMTP\r\n")
        assert (await reader.readline()).startswith(b"EHLO")
        writer.write(b"250-mail\r\n250-STARTTLS\r\n250 OK\r\n")
        assert await reader.readline() == b"STARTTLS\r\n"
        writer.write(b"220 go ahead\r\n")
        await writer.drain()
        await writer.start_tls(server_ctx)
        writer.write(b"220 secure mail\r\n")
        await writer.drain()
        await reader.read()

    module = _module(
        query_response=[
            {"expect": "^220 "},
            {"send": "EHLO prober\r"},
            {"expect": "^250-STARTTLS"},
            {"send": "STARTTLS\r"},
            {"expect": "^220"},
            {"starttls": True},
            {"expect": "^220 secure"},
        ],
        tls_config={"ca_file": ca_file, "server_name": "localhost"},
    )
    async with tcp_server(handler) as port:
        out = await _probe(module, f"127.0.0.1:{port}")
    assert out.success, out.log.text()
    m = out.metrics
    assert m.get("probe_ssl_earliest_cert_expiry") == _leaf_not_after(ca)
    assert m.get("probe_tls_cert_verified") == 1
    assert {p[0][1] for n, p, _ in m.samples() if n == "probe_tls_version_info"} == {"TLS 1.3"}


async def test_tls_from_first_byte_verifies_against_configured_ca(
    ca: trustme.CA, server_ctx: ssl.SSLContext, ca_file: str
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"+OK POP3 ready\r\n")
        await writer.drain()
        await reader.read()

    good = _module(
        tls=True,
        query_response=[{"expect": r"^\+OK"}],
        tls_config={"ca_file": ca_file, "server_name": "localhost"},
    )
    untrusted = _module(tls=True, query_response=[{"expect": r"^\+OK"}])
    async with tcp_server(handler, server_ctx) as port:
        ok = await _probe(good, f"127.0.0.1:{port}")
        bad = await _probe(untrusted, f"127.0.0.1:{port}")
    assert ok.success, ok.log.text()
    assert ok.metrics.get("probe_tls_cert_verified") == 1
    # Verification failed, yet the certificate facts are reported (second, unverified look)
    assert (bad.success, bad.reason) == (False, "tls")
    assert bad.metrics.get("probe_tls_cert_verified") == 0
    assert bad.metrics.get("probe_ssl_earliest_cert_expiry") == _leaf_not_after(ca)


async def test_ssrf_guard_blocks_before_connecting() -> None:
    connected: list[bool] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.append(True)

    module = decode(
        {"prober": "tcp", "ssrf": {"deny_cidrs": ["127.0.0.0/8"]}, "tcp": {}},
        Module,
    )
    async with tcp_server(handler) as port:
        out = await _probe(module, f"127.0.0.1:{port}")
    assert (out.success, out.reason) == (False, "blocked_target")
    assert connected == []


def test_blackbox_good_config_tcp_modules_decode(shared_dir: Path) -> None:
    from exporter.config import load_config

    config = load_config(str(shared_dir / "peer-tests/blackbox_exporter/config/blackbox-good.yml"))
    irc = config.modules["irc_banner"].tcp.query_response
    assert [q.send for q in irc if q.send][:2] == [
        "NICK prober",
        "USER prober prober prober :prober",
    ]
