"""``every_address``: each A/AAAA answer probed, series labelled ``ip``, any/all policy.

This host's resolver knows no name with several addresses (``localhost`` is 127.0.0.1
only) and the tests must not edit ``/etc/hosts``, so for one test name the loop's
``getaddrinfo`` answers two loopback addresses; everything after the lookup is real:
TCP servers on 127.0.0.1 and 127.0.0.2, real probes, the real scheduler.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from exporter.config import Check, Config, Module
from exporter.every_address import run_every_address
from exporter.scheduler import Scheduler
from twinlens.runtime.config import decode

NAME = "twins.test"
ADDRESSES = ("127.0.0.1", "127.0.0.2")


@pytest.fixture
async def two_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: Any, port: Any, **kw: Any) -> Any:
        if host == NAME:
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port or 0)) for ip in ADDRESSES
            ]
        return await real(host, port, **kw)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


@asynccontextmanager
async def banner_on(*hosts: str) -> AsyncIterator[int]:
    """One TCP port number, listened on at each of ``hosts``."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    first = await asyncio.start_server(handler, hosts[0], 0)
    port = first.sockets[0].getsockname()[1]
    servers = [first] + [await asyncio.start_server(handler, h, port) for h in hosts[1:]]
    try:
        yield port
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()


def _module(policy: str, **extra: Any) -> Module:
    return decode(
        {
            "prober": "tcp",
            "every_address": policy,
            "tcp": {"preferred_ip_protocol": "ip4", "query_response": [{"expect": "^hello"}]},
            **extra,
        },
        Module,
    )


@pytest.mark.usefixtures("two_addresses")
async def test_all_and_any_policies_with_per_ip_series() -> None:
    async with banner_on(*ADDRESSES) as port:
        both = await run_every_address("m", _module("all"), f"{NAME}:{port}", 3.0)
    assert both.success, both.log.text()
    for ip in ADDRESSES:
        assert both.metrics.get("probe_success", ip=ip) == 1
        assert both.metrics.get("probe_ip_protocol", ip=ip) == 4
    assert both.metrics.get("probe_success") is None  # every sample carries its ip
    assert "--- ip=127.0.0.2" in both.log.text()

    async with banner_on(ADDRESSES[0]) as port:  # 127.0.0.2 refuses
        strict = await run_every_address("m", _module("all"), f"{NAME}:{port}", 3.0)
        lenient = await run_every_address("m", _module("any"), f"{NAME}:{port}", 3.0)
    assert (strict.success, strict.reason) == (False, "connect")
    assert strict.metrics.get("probe_success", ip="127.0.0.1") == 1
    assert strict.metrics.get("probe_failure_info", ip="127.0.0.2", reason="connect") == 1
    assert lenient.success and lenient.reason is None


@pytest.mark.usefixtures("two_addresses")
async def test_guard_checks_every_address_and_keeps_allow_hosts_working() -> None:
    async with banner_on(*ADDRESSES) as port:
        denied = await run_every_address(
            "m", _module("any", ssrf={"deny_cidrs": ["127.0.0.2/32"]}), f"{NAME}:{port}", 3.0
        )
        allowed = await run_every_address(
            "m", _module("all", ssrf={"allow_hosts": [NAME]}), f"{NAME}:{port}", 3.0
        )
    assert denied.success  # "any": 127.0.0.1 answered
    assert denied.metrics.get("probe_failure_info", ip="127.0.0.2", reason="blocked_target") == 1
    assert allowed.success, allowed.log.text()


@pytest.mark.usefixtures("two_addresses")
async def test_scheduled_check_series_carry_ip() -> None:
    config = decode(
        {
            "modules": {
                "every": {
                    "prober": "tcp",
                    "every_address": "all",
                    "tcp": {"preferred_ip_protocol": "ip4"},
                }
            },
            "checks": [],
        },
        Config,
    )
    sched = Scheduler(location="lab")
    async with banner_on(*ADDRESSES) as port:
        target = f"{NAME}:{port}"
        check = decode(
            {"name": "twins", "module": "every", "target": target, "interval": "1s"}, Check
        )
        await sched.start(Config(modules=config.modules, checks=[check]))
        try:
            for _ in range(60):
                if sched.statuses()[0].runs:
                    break
                await asyncio.sleep(0.05)
            text = sched.render()
        finally:
            await sched.stop()
    for ip in ADDRESSES:
        assert f'probe_success{{check="twins",location="lab",ip="{ip}"}} 1' in text
    assert 'twinlens_check_runs_total{check="twins",location="lab",result="success"} 1' in text
