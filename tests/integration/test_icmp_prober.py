"""The icmp prober: real echo requests to 127.0.0.1 and ::1.

Raw ICMP sockets need root or CAP_NET_RAW; unprivileged datagram ICMP sockets need the
group in ``net.ipv4.ping_group_range``. A test skips only when the kernel forbids its kind
of socket, and says why.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from exporter.config import ICMPProbe, Module
from exporter.metrics import ProbeMetrics
from exporter.probe import run_probe
from exporter.probelog import ProbeLog
from exporter.probers.icmp import open_icmp_socket, ping
from twinlens.runtime.config import decode


def _module(**icmp: Any) -> Module:
    return decode({"prober": "icmp", "icmp": icmp}, Module)


def _require_socket(version: int, privileged: bool) -> None:
    try:
        open_icmp_socket(version, privileged=privileged, cfg=ICMPProbe()).close()
    except PermissionError as exc:
        groups = Path("/proc/sys/net/ipv4/ping_group_range").read_text().strip()
        kind = (
            "raw (needs root or CAP_NET_RAW)"
            if privileged
            else (f"datagram (net.ipv4.ping_group_range is {groups!r})")
        )
        pytest.skip(f"kernel forbids {kind} ICMPv{version} sockets: {exc}")
    except OSError as exc:  # e.g. no IPv6 on this host
        pytest.skip(f"ICMPv{version} sockets unavailable: {exc}")


def _default_ttl(version: int) -> int:
    path = (
        "/proc/sys/net/ipv4/ip_default_ttl"
        if version == 4
        else ("/proc/sys/net/ipv6/conf/lo/hop_limit")
    )
    return int(Path(path).read_text())


@pytest.mark.parametrize(("target", "version"), [("127.0.0.1", 4), ("::1", 6)])
async def test_several_packets_report_loss_and_rtt_stats(target: str, version: int) -> None:
    _require_socket(version, privileged=True)
    module = _module(preferred_ip_protocol=f"ip{version}", packets=4, interval="20ms")
    out = await run_probe("m", module, target, 3.0)
    assert out.success, out.log.text()
    m = out.metrics
    assert (m.get("probe_icmp_packets_sent"), m.get("probe_icmp_packets_received")) == (4, 4)
    lo, avg, hi = (m.get(f"probe_icmp_rtt_{s}_seconds") for s in ("min", "avg", "max"))
    assert lo is not None and avg is not None and hi is not None
    assert 0 < lo <= avg <= hi < 1
    stddev = m.get("probe_icmp_rtt_stddev_seconds")
    assert stddev is not None and 0 <= stddev <= hi - lo
    assert m.get("probe_icmp_duration_seconds", phase="rtt") == avg
    assert m.get("probe_icmp_reply_hop_limit") == _default_ttl(version)
    assert m.get("probe_ip_protocol") == version
    # four packets 20 ms apart, and no waiting once every reply is in
    assert 0.06 <= out.duration < 1.0


async def test_concurrent_probes_never_take_each_others_replies() -> None:
    _require_socket(4, privileged=True)
    module = _module(preferred_ip_protocol="ip4", packets=3, interval="10ms")
    outs = await asyncio.gather(*(run_probe("m", module, "127.0.0.1", 3.0) for _ in range(6)))
    assert [o.metrics.get("probe_icmp_packets_received") for o in outs] == [3] * 6


async def test_options_payload_ttl_dont_fragment() -> None:
    _require_socket(4, privileged=True)
    module = _module(preferred_ip_protocol="ip4", payload_size=1200, ttl=5, dont_fragment=True)
    out = await run_probe("m", module, "127.0.0.1", 3.0)
    assert out.success, out.log.text()
    assert out.metrics.get("probe_icmp_packets_received") == 1


async def test_unprivileged_datagram_socket() -> None:
    _require_socket(4, privileged=False)
    metrics, log = ProbeMetrics(), ProbeLog()
    loop = asyncio.get_running_loop()
    ok = await ping(
        "127.0.0.1",
        4,
        ICMPProbe(packets=2),
        privileged=False,
        metrics=metrics,
        log=log,
        deadline=loop.time() + 3,
    )
    assert ok, log.text()
    assert metrics.get("probe_icmp_packets_received") == 2


async def test_address_family_and_guard_failures() -> None:
    no_v6 = _module(preferred_ip_protocol="ip6", ip_protocol_fallback=False)
    out = await run_probe("m", no_v6, "127.0.0.1", 2.0)
    assert (out.success, out.reason) == (False, "dns")
    guarded = decode({"prober": "icmp", "ssrf": {"deny_cidrs": ["127.0.0.0/8"]}}, Module)
    out = await run_probe("m", guarded, "127.0.0.1", 2.0)
    assert (out.success, out.reason) == (False, "blocked_target")
    assert out.metrics.get("probe_icmp_packets_sent") is None  # nothing was sent
