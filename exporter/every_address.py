"""Probe every address a target's host resolves to, not just the first one.

A host with four A records behind DNS round-robin is four servers; blackbox probes
whichever address the resolver returns first, so three can be down unseen. With
``every_address: any|all`` on a module, each A/AAAA answer is probed (concurrently, within
the same timeout) and every sample carries an ``ip`` label::

    modules:
      web_every_ip:
        prober: http
        every_address: all        # all addresses must succeed ("any": at least one)

Each per-address probe is the module's normal prober pointed at the literal address while
keeping the name where it matters: the ``Host`` header and TLS server name for HTTP, the
TLS server name for TCP, gRPC and DNS-over-TLS. The SSRF guard is checked against the
name and every address before anything is sent, and stays on for redirects.

Which addresses: both families, unless the module's ``ip_protocol_fallback`` is off, in
which case only ``preferred_ip_protocol``'s (as for one address). At most
:data:`MAX_ADDRESSES` addresses, so the ``ip`` label stays bounded.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
import urllib.parse
from collections.abc import Callable

import msgspec

from exporter.config import Module, SSRFGuard
from exporter.metrics import ProbeMetrics
from exporter.net import check_ssrf, split_host_port
from exporter.probe import ProbeOutcome, run_single_probe
from exporter.probelog import ProbeLog
from twinlens.runtime.config import CIDR

__all__ = ["MAX_ADDRESSES", "SUPPORTED_PROBERS", "run_every_address"]

#: Upper bound on probed addresses (and so on ``ip`` label values) per target.
MAX_ADDRESSES = 16
SUPPORTED_PROBERS = ("http", "tcp", "grpc", "dns", "icmp")

Pin = Callable[[str], tuple[str, Module]]


class _JoinedLog(ProbeLog):
    """The run's own lines, then each address's probe log under a header."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[tuple[str, ProbeLog]] = []

    def add_part(self, ip: str, log: ProbeLog) -> None:
        self._parts.append((ip, log))

    def text(self) -> str:
        return super().text() + "".join(f"--- ip={ip}\n{log.text()}" for ip, log in self._parts)


def _bracket(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def _with_ip_allowed(guard: SSRFGuard, ip: str) -> SSRFGuard:
    # The name was checked against allow_hosts already; the pinned probe sees only the
    # address, so admit exactly that address. Deny rules are untouched.
    if not (guard.allow_hosts or guard.allow_cidrs):
        return guard
    return msgspec.structs.replace(guard, allow_cidrs=[*guard.allow_cidrs, CIDR(ip)])


def _pinner(module: Module, target: str) -> tuple[str, str, bool, Pin]:
    """(host, preferred ip protocol, fallback, ip -> (target, module) for that address)."""
    replace = msgspec.structs.replace
    kind = module.prober
    if kind == "http":
        cfg = module.http
        url = urllib.parse.urlsplit(target if "://" in target else f"http://{target}")
        host = url.hostname or ""
        port = f":{url.port}" if url.port else ""
        host_header = url.netloc.rpartition("@")[2]

        def pin_http(ip: str) -> tuple[str, Module]:
            headers = dict(cfg.headers)
            if not any(k.lower() == "host" for k in headers):
                headers["Host"] = host_header
            tls = cfg.tls_config
            if not tls.server_name:
                tls = replace(tls, server_name=host)
            http = replace(cfg, headers=headers, tls_config=tls)
            pinned = url._replace(netloc=f"{_bracket(ip)}{port}").geturl()
            return pinned, replace(module, http=http, ssrf=_with_ip_allowed(module.ssrf, ip))

        return host, cfg.preferred_ip_protocol, cfg.ip_protocol_fallback, pin_http
    if kind == "icmp":

        def pin_icmp(ip: str) -> tuple[str, Module]:
            return ip, replace(module, ssrf=_with_ip_allowed(module.ssrf, ip))

        icmp = module.icmp
        return target, icmp.preferred_ip_protocol, icmp.ip_protocol_fallback, pin_icmp
    if kind in ("tcp", "grpc", "dns"):
        section = "dns" if kind == "dns" else kind
        sub = getattr(module, section)
        text = target
        if kind == "grpc" and "://" in text:
            text = urllib.parse.urlsplit(text).netloc
        try:
            host, port_number = split_host_port(text)
            port_text = f":{port_number}"
        except ValueError:
            host, port_text = text.strip("[]"), ""  # the prober applies its default port

        def pin_sub(ip: str) -> tuple[str, Module]:
            tls = sub.tls_config
            if not tls.server_name:
                tls = replace(tls, server_name=host)
            pinned_sub = replace(sub, tls_config=tls)
            pinned = replace(module, **{section: pinned_sub})
            pinned = replace(pinned, ssrf=_with_ip_allowed(module.ssrf, ip))
            return f"{_bracket(ip)}{port_text}", pinned

        return host, sub.preferred_ip_protocol, sub.ip_protocol_fallback, pin_sub
    raise ValueError(f"every_address is not supported for prober {kind!r}")


async def _addresses(host: str, preferred: str, fallback: bool, deadline: float) -> list[str]:
    """Every address of ``host`` (literal IPs as they are), preferred family first."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    want = socket.AF_INET if preferred == "ip4" else socket.AF_INET6
    family = socket.AF_UNSPEC if fallback else want
    loop = asyncio.get_running_loop()
    async with asyncio.timeout_at(deadline):
        infos = await loop.getaddrinfo(host, None, family=family, type=socket.SOCK_STREAM)
    seen: dict[str, int] = {}
    for fam, *_, addr in infos:
        seen.setdefault(str(addr[0]).split("%")[0], 0 if fam == want else 1)
    return sorted(seen, key=lambda ip: seen[ip])[:MAX_ADDRESSES]


def _failed(module_name: str, target: str, reason: str, log: ProbeLog, t0: float) -> ProbeOutcome:
    metrics = ProbeMetrics()
    duration = time.perf_counter() - t0
    metrics.gauge("probe_failure_info", 1, reason=reason)
    metrics.gauge("probe_duration_seconds", duration)
    metrics.gauge("probe_success", 0)
    log.error("Probe failed", reason=reason)
    return ProbeOutcome(
        module=module_name,
        target=target,
        success=False,
        reason=reason,
        duration=duration,
        started=time.time() - duration,
        metrics=metrics,
        log=log,
    )


async def run_every_address(
    module_name: str, module: Module, target: str, timeout: float
) -> ProbeOutcome:
    """Probe each address of ``target``'s host; one outcome, its samples labelled ``ip``.

    Succeeds when ``any`` (at least one) or ``all`` addresses succeed, per
    ``module.every_address``; the reason of a failure is the first failing address's.
    """
    t0 = time.perf_counter()
    started = time.time()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    log = _JoinedLog()
    policy = module.every_address or "all"
    host, preferred, fallback, pin = _pinner(module, target)
    why = check_ssrf(module.ssrf, host)
    if why is not None:
        log.error("Target blocked by the SSRF guard", target=host, err=why)
        return _failed(module_name, target, "blocked_target", log, t0)
    try:
        ips = await _addresses(host, preferred, fallback, deadline)
    except (OSError, UnicodeError, TimeoutError) as exc:
        log.error("Error resolving address", target=host, err=str(exc) or "timeout")
        return _failed(
            module_name, target, "dns" if not isinstance(exc, TimeoutError) else "timeout", log, t0
        )
    if not ips:
        log.error("Error resolving address", target=host, err="no address")
        return _failed(module_name, target, "dns", log, t0)
    log.info("Probing every address", target=host, addresses=",".join(ips), policy=policy)

    async def one(ip: str) -> ProbeOutcome:
        blocked = check_ssrf(module.ssrf, host, ip)
        if blocked is not None:
            own = ProbeLog()
            own.error("Target blocked by the SSRF guard", target=host, ip=ip, err=blocked)
            return _failed(module_name, target, "blocked_target", own, time.perf_counter())
        pinned_target, pinned_module = pin(ip)
        return await run_single_probe(
            module_name, pinned_module, pinned_target, deadline - loop.time()
        )

    outcomes = await asyncio.gather(*(one(ip) for ip in ips))
    metrics = ProbeMetrics()
    for ip, outcome in zip(ips, outcomes, strict=True):
        log.add_part(ip, outcome.log)
        for name, pairs, value in outcome.metrics.samples():
            metrics.gauge(name, value, **dict(pairs), ip=ip)
    results = [o.success for o in outcomes]
    success = all(results) if policy == "all" else any(results)
    reason = None
    if not success:
        reason = next(o.reason for o in outcomes if not o.success) or "internal"
    log.info(
        "Every-address probe finished",
        succeeded=sum(results),
        addresses=len(results),
        policy=policy,
        success=success,
    )
    return ProbeOutcome(
        module=module_name,
        target=target,
        success=success,
        reason=reason,
        duration=time.perf_counter() - t0,
        started=started,
        metrics=metrics,
        log=log,
    )
