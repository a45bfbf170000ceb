"""DNS prober: one query to the target server, its answer checked as blackbox does.

blackbox_exporter's ``dns`` module, key for key: ``query_name``/``query_type``/
``query_class``, ``transport_protocol`` (udp or tcp), ``dns_over_tls`` (TCP + TLS on 853),
``recursion_desired``, ``valid_rcodes`` and the ``validate_{answer,authority,additional}_rrs``
regex sets, matched against each record in Go's text form (``name<TAB>ttl<TAB>class<TAB>
type<TAB>data``) so existing regexes keep working. dnspython does the wire format.

    modules:
      dns_soa:
        prober: dns
        dns:
          query_name: example.com
          query_type: SOA
          validate_answer_rrs:
            fail_if_none_matches_regexp: ["ns1\\\\.example\\\\.com"]

Failure reasons: ``dns`` / ``blocked_target`` (the server's own name), ``connect`` (refused,
unreachable), ``tls``, ``timeout``, ``protocol`` (a malformed answer or an rcode not in
``valid_rcodes``) and ``assertion`` (a ``validate_*_rrs`` rule failed).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from exporter.metrics import register_metric
from exporter.net import NetError, resolve_target, split_host_port, tls_context

if TYPE_CHECKING:
    from exporter.config import DNSRRValidator, Module
    from exporter.metrics import ProbeMetrics
    from exporter.probelog import ProbeLog

__all__ = ["probe_dns", "rr_texts", "valid_rrs"]

for _name, _help in (
    ("probe_dns_duration_seconds", "Duration of DNS request by phase"),
    ("probe_dns_answer_rrs", "Returns number of entries in the answer resource record list"),
    ("probe_dns_authority_rrs", "Returns number of entries in the authority resource record list"),
    (
        "probe_dns_additional_rrs",
        "Returns number of entries in the additional resource record list",
    ),
    ("probe_dns_serial", "Returns the serial number of the zone"),
    ("probe_dns_query_succeeded", "Displays whether or not the query was executed successfully"),
):
    register_metric(_name, _help)


def rr_texts(section: Iterable[dns.rrset.RRset]) -> list[str]:
    """Each record as Go's ``RR.String()`` prints it, the text blackbox's regexes see.

    >>> rr_texts(dns.message.from_text(...).answer)
    ['example.com.\\t300\\tIN\\tA\\t192.0.2.1']
    """
    out: list[str] = []
    for rrset in section:
        head = (
            f"{rrset.name.to_text()}\t{rrset.ttl}\t"
            f"{dns.rdataclass.to_text(rrset.rdclass)}\t{dns.rdatatype.to_text(rrset.rdtype)}"
        )
        out.extend(f"{head}\t{rd.to_text()}" for rd in rrset)
    return out


def valid_rrs(rrs: list[str], v: DNSRRValidator, log: ProbeLog) -> bool:
    """blackbox's ``validRRs``: the four regex rules over one section's records."""
    if not rrs and v.fail_if_not_matches_regexp:
        log.error("fail_if_not_matches_regexp specified but no RRs returned")
        return False
    if not rrs and v.fail_if_none_matches_regexp:
        log.error("fail_if_none_matches_regexp specified but no RRs returned")
        return False
    any_match = False
    all_match = True
    for rr in rrs:
        log.info("Validating RR", rr=rr)
        for rx in v.fail_if_matches_regexp:
            if rx.search(rr):
                log.error("At least one RR matched regexp", regexp=rx.source, rr=rr)
                return False
        for rx in v.fail_if_all_match_regexp:
            if not rx.search(rr):
                all_match = False
        for rx in v.fail_if_not_matches_regexp:
            if not rx.search(rr):
                log.error("At least one RR did not match regexp", regexp=rx.source, rr=rr)
                return False
        for rx in v.fail_if_none_matches_regexp:
            if rx.search(rr):
                any_match = True
    # blackbox's rule, despite the key's name: fail unless *every* record matches. Kept as
    # blackbox does it so a blackbox.yml means the same here.
    if v.fail_if_all_match_regexp and not all_match:
        log.error("Not all RRs matched regexp")
        return False
    if v.fail_if_none_matches_regexp and not any_match:
        log.error("None of the RRs did matched any regexp")
        return False
    return True


def _count(section: Iterable[dns.rrset.RRset]) -> int:
    return sum(len(rrset) for rrset in section)


async def probe_dns(
    target: str, module: Module, metrics: ProbeMetrics, log: ProbeLog, deadline: float
) -> bool:
    """Ask the DNS server at ``target`` (``host`` or ``host:port``) the module's question."""
    cfg = module.dns
    if cfg is None:  # the config refuses a dns module without `dns:`; keep mypy honest
        log.error("DNS module without dns settings")
        return metrics.fail("internal")
    for phase in ("resolve", "connect", "request"):
        metrics.gauge("probe_dns_duration_seconds", 0, phase=phase)
    metrics.gauge("probe_dns_query_succeeded", 0)
    tls = cfg.dns_over_tls
    transport = "tcp" if tls else cfg.transport_protocol
    try:
        host, port = split_host_port(target, 853 if tls else 53)
    except ValueError:
        host, port = target, 853 if tls else 53  # as blackbox: a bare (IPv6) host
    loop = dns.asyncbackend.get_backend("asyncio")
    sock = None
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
        metrics.gauge("probe_dns_duration_seconds", where.lookup_seconds, phase="resolve")
        query = dns.message.make_query(
            cfg.query_name,
            cfg.query_type.upper(),
            cfg.query_class.upper(),
            flags=dns.flags.RD if cfg.recursion_desired else 0,
        )
        source = cfg.source_ip_address or None
        remaining = max(deadline - _now(), 0.001)
        log.info(
            "Making DNS query",
            target=f"{where.ip}:{port}",
            dial_protocol=f"{transport}{where.version}{'-tls' if tls else ''}",
            query=cfg.query_name,
            type=cfg.query_type,
            **{"class": cfg.query_class},
        )
        t0 = time.perf_counter()
        if transport == "udp":
            response = await dns.asyncquery.udp(
                query, where.ip, remaining, port, source=source, ignore_unexpected=True
            )
            total = time.perf_counter() - t0
            request = min(response.time, total)
        else:
            ssl_ctx = tls_context(cfg.tls_config) if tls else None
            source_addr = (source, 0) if source else None
            sock = await loop.make_socket(
                where.family,
                socket.SOCK_STREAM,
                0,
                source_addr,
                (where.ip, port),
                remaining,
                ssl_ctx,
                (cfg.tls_config.server_name or host) if tls else None,
            )
            connected = time.perf_counter()
            response = await dns.asyncquery.tcp(
                query, where.ip, max(deadline - _now(), 0.001), port, sock=sock
            )
            total = time.perf_counter() - t0
            request = total - (connected - t0)
        metrics.gauge("probe_dns_duration_seconds", max(total - request, 0.0), phase="connect")
        metrics.gauge("probe_dns_duration_seconds", request, phase="request")
    except NetError as exc:
        log.error("Error resolving address", err=str(exc))
        return metrics.fail(exc.reason)
    except dns.exception.Timeout:
        log.error("Error while sending a DNS query", err="timeout")
        return metrics.fail("timeout")
    except ssl.SSLError as exc:
        log.error("Error while sending a DNS query", err=f"TLS: {exc}")
        return metrics.fail("tls")
    except OSError as exc:
        log.error("Error while sending a DNS query", err=exc.strerror or str(exc))
        return metrics.fail("connect")
    except dns.exception.DNSException as exc:
        log.error("Error while sending a DNS query", err=str(exc) or type(exc).__name__)
        return metrics.fail("protocol")
    finally:
        if sock is not None:
            await sock.close()
    return _check_response(response, module, metrics, log)


def _now() -> float:
    return asyncio.get_running_loop().time()


def _check_response(
    response: dns.message.Message, module: Module, metrics: ProbeMetrics, log: ProbeLog
) -> bool:
    cfg = module.dns
    assert cfg is not None
    metrics.gauge("probe_dns_query_succeeded", 1)
    rcode = dns.rcode.to_text(response.rcode())
    log.info("Got response", rcode=rcode, answers=_count(response.answer))
    metrics.gauge("probe_dns_answer_rrs", _count(response.answer))
    metrics.gauge("probe_dns_authority_rrs", _count(response.authority))
    metrics.gauge("probe_dns_additional_rrs", _count(response.additional))
    if cfg.query_type.upper() == "SOA":
        serial = 0
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                serial = next(iter(rrset)).serial
        metrics.gauge("probe_dns_serial", serial)
    valid = [r.upper() for r in cfg.valid_rcodes] or ["NOERROR"]
    if rcode not in valid:
        log.error("Rcode is not one of the valid rcodes", rcode=rcode, valid_rcodes=valid)
        return metrics.fail("protocol")
    log.info("Rcode is valid", rcode=rcode)
    for name, section, validator in (
        ("Answer", response.answer, cfg.validate_answer_rrs),
        ("Authority", response.authority, cfg.validate_authority_rrs),
        ("Additional", response.additional, cfg.validate_additional_rrs),
    ):
        log.info(f"Validating {name} RRs")
        if not valid_rrs(rr_texts(section), validator, log):
            log.error(f"{name} RRs validation failed")
            return metrics.fail("assertion")
    return True
