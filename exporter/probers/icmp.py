"""ICMP prober: echo requests, with loss and jitter when several packets are sent.

blackbox_exporter's ``icmp`` module (``preferred_ip_protocol``, ``source_ip_address``,
``payload_size``, ``dont_fragment``, ``ttl``) plus ``packets`` and ``interval``: with more
than one packet a probe reports how many came back and the round-trip time's min, avg,
max and standard deviation, so packet loss and jitter are graphable.

Sockets: a raw socket when the process may open one (root, or ``CAP_NET_RAW``); otherwise
Linux's unprivileged datagram ICMP socket (allowed when the group is in
``net.ipv4.ping_group_range``), where the kernel picks the echo id and hands this socket
only its own replies. ``dont_fragment`` uses ``IP_MTU_DISCOVER``, so unlike blackbox it
also works without a raw socket.

    modules:
      icmp_loss:
        prober: icmp
        timeout: 5s
        icmp: {preferred_ip_protocol: ip4, packets: 5, interval: 200ms}

The probe succeeds when at least one reply arrives (see ``probe_icmp_packets_received``
for loss); ``probe_icmp_duration_seconds{phase="rtt"}`` is the mean RTT (with one packet,
blackbox's value). Failure reasons: ``dns``, ``blocked_target``, ``connect`` (the packet
could not be sent), ``timeout`` (no reply), ``internal`` (no ICMP socket allowed).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import socket
import statistics
import struct
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from exporter.metrics import register_metric
from exporter.net import NetError, resolve_target

if TYPE_CHECKING:
    from exporter.config import ICMPProbe, Module
    from exporter.metrics import ProbeMetrics
    from exporter.probelog import ProbeLog

__all__ = ["open_icmp_socket", "ping", "probe_icmp"]

for _name, _help in (
    ("probe_icmp_duration_seconds", "Duration of icmp request by phase"),
    ("probe_icmp_reply_hop_limit", "Replied packet hop limit (TTL for ipv4)"),
    ("probe_icmp_packets_sent", "Echo requests sent by this probe"),
    ("probe_icmp_packets_received", "Echo replies received by this probe"),
    ("probe_icmp_rtt_min_seconds", "Shortest round-trip time of the echo replies"),
    ("probe_icmp_rtt_avg_seconds", "Mean round-trip time of the echo replies"),
    ("probe_icmp_rtt_max_seconds", "Longest round-trip time of the echo replies"),
    ("probe_icmp_rtt_stddev_seconds", "Population standard deviation of the round-trip times"),
):
    register_metric(_name, _help)

_ECHO_REQUEST = {4: 8, 6: 128}
_ECHO_REPLY = {4: 0, 6: 129}
_PROTO = {4: socket.IPPROTO_ICMP, 6: socket.IPPROTO_ICMPV6}
_FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}
# Linux constants Python's socket module does not always export.
_IP_MTU_DISCOVER = getattr(socket, "IP_MTU_DISCOVER", 10)
_IP_PMTUDISC_DO = getattr(socket, "IP_PMTUDISC_DO", 2)
_IPV6_DONTFRAG = getattr(socket, "IPV6_DONTFRAG", 62)
_IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
_IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
_IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)

# One id per process and a shared, randomly started sequence, as blackbox does, so that
# concurrent probes (and several exporters on one host) never claim each other's replies.
_ECHO_ID = os.getpid() & 0xFFFF
_SEQUENCE = itertools.count(random.randrange(1 << 16))


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _echo(version: int, ident: int, seq: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHH", _ECHO_REQUEST[version], 0, 0, ident, seq)
    if version == 6:
        return header + payload  # the kernel fills in the ICMPv6 checksum (pseudo-header)
    csum = _checksum(header + payload)
    return struct.pack("!BBHHH", _ECHO_REQUEST[version], 0, csum, ident, seq) + payload


def open_icmp_socket(version: int, *, privileged: bool, cfg: ICMPProbe) -> socket.socket:
    """A non-blocking ICMP socket: raw when ``privileged``, else a datagram ping socket.

    Raises ``PermissionError`` when the kernel forbids that kind (no CAP_NET_RAW, or the
    group is outside ``net.ipv4.ping_group_range``).
    """
    kind = socket.SOCK_RAW if privileged else socket.SOCK_DGRAM
    sock = socket.socket(_FAMILY[version], kind, _PROTO[version])
    try:
        sock.setblocking(False)
        if cfg.source_ip_address:
            sock.bind((cfg.source_ip_address, 0))
        if version == 4:
            sock.setsockopt(socket.IPPROTO_IP, _IP_RECVTTL, 1)
            if cfg.ttl:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, cfg.ttl)
            if cfg.dont_fragment:
                sock.setsockopt(socket.IPPROTO_IP, _IP_MTU_DISCOVER, _IP_PMTUDISC_DO)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVHOPLIMIT, 1)
            if cfg.ttl:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, cfg.ttl)
            if cfg.dont_fragment:
                sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_DONTFRAG, 1)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass
class _Echoes:
    """Bookkeeping of one probe's requests and the replies matched to them."""

    sent: dict[int, float] = field(default_factory=dict)
    rtts: list[float] = field(default_factory=list)
    hop_limit: int | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


def _read_replies(
    sock: socket.socket,
    version: int,
    ip: str,
    privileged: bool,
    payload: bytes,
    echoes: _Echoes,
    expected: int,
    metrics: ProbeMetrics,
) -> None:
    """Reader callback: drain the socket, keep the replies that answer our requests."""
    while True:
        try:
            data, ancillary, _, addr = sock.recvmsg(65536, 64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # an ICMP error for an earlier packet; the deadline decides
        now = time.perf_counter()
        hop: int | None = None
        if version == 4 and privileged:  # raw IPv4 sockets see the IP header
            header_len = (data[0] & 0x0F) * 4
            hop = data[8]
            data = data[header_len:]
        for level, kind, value in ancillary:
            if (level, kind) in ((socket.IPPROTO_IP, socket.IP_TTL), (41, _IPV6_HOPLIMIT)):
                hop = int.from_bytes(value[:4], "little") if len(value) >= 4 else value[0]
        if len(data) < 8 or addr[0].split("%")[0] != ip:
            continue
        kind_, code, _, ident, seq = struct.unpack("!BBHHH", data[:8])
        if kind_ != _ECHO_REPLY[version] or code != 0 or data[8:] != payload:
            continue
        if privileged and ident != _ECHO_ID:
            continue  # another process's ping (raw sockets see every reply)
        sent_at = echoes.sent.pop(seq, None)
        if sent_at is None:
            continue
        echoes.rtts.append(now - sent_at)
        if echoes.hop_limit is None and hop is not None:
            echoes.hop_limit = hop
        metrics.gauge("probe_icmp_packets_received", len(echoes.rtts))
        if len(echoes.rtts) >= expected:
            echoes.done.set()


async def ping(
    ip: str,
    version: int,
    cfg: ICMPProbe,
    *,
    privileged: bool,
    metrics: ProbeMetrics,
    log: ProbeLog,
    deadline: float,
) -> bool:
    """Send ``cfg.packets`` echo requests to ``ip`` and record what comes back.

    Raises ``PermissionError`` when this kind of socket is not allowed.
    """
    loop = asyncio.get_running_loop()
    setup_start = time.perf_counter()
    sock = open_icmp_socket(version, privileged=privileged, cfg=cfg)
    log.info("Created socket", privileged=privileged, ip_version=version)
    token = random.randbytes(8)
    payload = (
        (b"twinlens" + token).ljust(cfg.payload_size, b"\0")
        if cfg.payload_size
        else (b"twinlens" + token)
    )
    echoes = _Echoes()
    metrics.gauge("probe_icmp_packets_sent", 0)
    metrics.gauge("probe_icmp_packets_received", 0)
    loop.add_reader(
        sock.fileno(),
        _read_replies,
        sock,
        version,
        ip,
        privileged,
        payload,
        echoes,
        cfg.packets,
        metrics,
    )
    metrics.gauge("probe_icmp_duration_seconds", time.perf_counter() - setup_start, phase="setup")
    sent = 0
    try:
        for i in range(cfg.packets):
            if i:
                pause = min(float(cfg.interval), deadline - loop.time())
                if pause > 0:
                    await asyncio.sleep(pause)
                if loop.time() >= deadline - 0.005:
                    break
            seq = next(_SEQUENCE) & 0xFFFF
            echoes.sent[seq] = time.perf_counter()
            try:
                sock.sendto(_echo(version, _ECHO_ID, seq, payload), (ip, 0))
            except OSError as exc:
                echoes.sent.pop(seq, None)
                log.warn("Error writing to socket", err=exc.strerror or str(exc), seq=seq)
                if sent == 0:
                    return metrics.fail("connect")
                continue
            sent += 1
            metrics.gauge("probe_icmp_packets_sent", sent)
            log.debug("Sent echo request", seq=seq)
        log.info("Waiting for reply packets", sent=sent)
        # Finish a little before the deadline so the loss and RTT samples are recorded.
        wait = deadline - loop.time() - 0.005
        if not echoes.done.is_set() and wait > 0:
            with contextlib.suppress(TimeoutError):  # lost packets: counted, not an error
                await asyncio.wait_for(echoes.done.wait(), wait)
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()
    rtts = echoes.rtts
    log.info("Replies received", sent=sent, received=len(rtts))
    if not rtts:
        log.warn("Timeout reading from socket: no echo reply")
        return metrics.fail("timeout")
    metrics.gauge("probe_icmp_duration_seconds", statistics.fmean(rtts), phase="rtt")
    metrics.gauge("probe_icmp_rtt_min_seconds", min(rtts))
    metrics.gauge("probe_icmp_rtt_avg_seconds", statistics.fmean(rtts))
    metrics.gauge("probe_icmp_rtt_max_seconds", max(rtts))
    metrics.gauge("probe_icmp_rtt_stddev_seconds", statistics.pstdev(rtts))
    if echoes.hop_limit is not None:
        metrics.gauge("probe_icmp_reply_hop_limit", echoes.hop_limit)
    return True


async def probe_icmp(
    target: str, module: Module, metrics: ProbeMetrics, log: ProbeLog, deadline: float
) -> bool:
    """Ping ``target`` (a host name or address)."""
    cfg = module.icmp
    for phase in ("resolve", "setup", "rtt"):
        metrics.gauge("probe_icmp_duration_seconds", 0, phase=phase)
    try:
        where = await resolve_target(
            target,
            ip_protocol=cfg.preferred_ip_protocol,
            fallback=cfg.ip_protocol_fallback,
            guard=module.ssrf,
            deadline=deadline,
            metrics=metrics,
            log=log,
        )
    except NetError as exc:
        log.warn("Error resolving address", err=str(exc))
        return metrics.fail(exc.reason)
    metrics.gauge("probe_icmp_duration_seconds", where.lookup_seconds, phase="resolve")
    # Raw first when we are root (as the issue asks), else the unprivileged kind first;
    # each falls back to the other, since capabilities and ping_group_range vary.
    order = (True, False) if os.geteuid() == 0 else (False, True)
    errors = []
    for privileged in order:
        try:
            return await ping(
                where.ip,
                where.version,
                cfg,
                privileged=privileged,
                metrics=metrics,
                log=log,
                deadline=deadline,
            )
        except PermissionError as exc:
            errors.append(f"{'raw' if privileged else 'datagram'}: {exc.strerror or exc}")
    log.error(
        "Error listening to socket: no ICMP socket allowed (needs root or CAP_NET_RAW, or "
        "the group in net.ipv4.ping_group_range)",
        err="; ".join(errors),
    )
    return metrics.fail("internal")
