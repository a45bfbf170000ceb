"""Network helpers every prober shares: resolve, guard, dial, and TLS facts.

Probers are plain functions (see :mod:`exporter.probers`); what they have in common lives
here as helpers, not base classes. Each helper does one step the way blackbox_exporter
does it and records that step's samples, so every prober reports the same series:

* :func:`resolve` honours ``preferred_ip_protocol`` + ``ip_protocol_fallback`` and records
  ``probe_dns_lookup_time_seconds``, ``probe_ip_protocol`` and ``probe_ip_addr_hash``
  (literal IP targets skip DNS). :func:`resolve_target` adds the SSRF guard.
* :func:`check_ssrf` is the module's :class:`~exporter.config.SSRFGuard` as a pure function,
  applied *after* resolution (so a hostname pointing at 169.254.169.254 is caught).
* :func:`dial` / :func:`open_stream` connect over TCP from ``source_ip_address``.
* :func:`tls_context` builds (and caches) an :class:`ssl.SSLContext` from a
  :class:`~exporter.config.TLSConfig`; :func:`start_tls` upgrades a connection so the TLS
  handshake is timed apart from the TCP connect.
* :func:`tls_facts` reads certificate and session facts from a finished handshake;
  :func:`record_tls` turns them into ``probe_ssl_*`` / ``probe_tls_*`` samples.

Certificates when verification fails: a verifying client handshake that fails leaves no
session to read. :func:`start_tls` then makes a *second* handshake on a fresh connection with
verification off (same versions, client certificate and server name), reads the chain
through CPython's ``SSLObject._sslobj.get_unverified_chain()``, and attaches the facts to the
:class:`TLSHandshakeError` it raises. The extra connection happens only on failure and stays
within the probe's deadline; the facts carry ``verified=False`` (``probe_tls_cert_verified 0``).

Errors: every helper raises a subclass of :class:`NetError` whose ``reason`` is the
``probe_failure_info`` reason to report; ``TimeoutError`` (the deadline) propagates as it is.
A prober typically does::

    try:
        where = await resolve_target(host, ip_protocol=cfg.preferred_ip_protocol,
                                     fallback=cfg.ip_protocol_fallback, guard=module.ssrf,
                                     deadline=deadline, metrics=metrics, log=log)
        transport, proto = await dial(where.ip, port, deadline=deadline,
                                      protocol_factory=MyProtocol)
    except NetError as exc:
        log.error("Probe step failed", err=str(exc))
        return metrics.fail(exc.reason)
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
import socket
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal, TypeVar

from exporter.config import METADATA_CIDRS, METADATA_HOSTS, SSRFGuard, TLSConfig

if TYPE_CHECKING:
    from exporter.metrics import ProbeMetrics
    from exporter.probelog import ProbeLog

__all__ = [
    "BlockedTarget",
    "CertInfo",
    "ConnectError",
    "NetError",
    "ResolveError",
    "Resolved",
    "TLSFacts",
    "TLSHandshakeError",
    "check_ssrf",
    "dial",
    "inspect_unverified",
    "ip_hash",
    "open_stream",
    "record_tls",
    "resolve",
    "resolve_target",
    "split_host_port",
    "start_tls",
    "tls_context",
    "tls_facts",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_P = TypeVar("_P", bound=asyncio.BaseProtocol)


# --- errors --------------------------------------------------------------------------------------


class NetError(Exception):
    """A network step failed because of the target; ``reason`` is the failure reason."""

    reason: ClassVar[str] = "internal"


class ResolveError(NetError):
    """The host did not resolve (to an address of an allowed family)."""

    reason = "dns"


class BlockedTarget(NetError):
    """The SSRF guard refused the target (host pattern or resolved address)."""

    reason = "blocked_target"


class ConnectError(NetError):
    """The TCP connection could not be established."""

    reason = "connect"


class TLSHandshakeError(NetError):
    """The TLS handshake failed. ``facts`` holds what the unverified second look saw."""

    reason = "tls"

    def __init__(self, message: str, facts: TLSFacts | None = None) -> None:
        super().__init__(message)
        self.facts = facts


# --- addresses -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where a probe will connect: the host as given and the address chosen for it."""

    host: str
    ip: str
    version: Literal[4, 6]
    lookup_seconds: float

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET if self.version == 4 else socket.AF_INET6


def ip_hash(ip: str) -> float:
    """blackbox's ``probe_ip_addr_hash``: FNV-1a (32 bit) over the address bytes.

    >>> ip_hash("127.0.0.1")
    3668918509.0
    """
    return _fnv32a(ipaddress.ip_address(ip).packed)


def _fnv32a(data: bytes) -> float:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return float(h)


def split_host_port(target: str, default_port: int | None = None) -> tuple[str, int]:
    """``host:port`` / ``[v6]:port`` → (host, port), as Go's ``net.SplitHostPort``.

    >>> split_host_port("[::1]:53")
    ('::1', 53)
    >>> split_host_port("example.com", 443)
    ('example.com', 443)
    """
    text = target.strip()
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"missing ']' in address {target!r}")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"unexpected text after ']' in address {target!r}")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif text.count(":") > 1:
        raise ValueError(f"too many colons in address {target!r} (write [v6addr]:port)")
    if not port_text:
        if default_port is None:
            raise ValueError(f"missing port in address {target!r}")
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"invalid port {port_text!r} in address {target!r}")
    if not host:
        raise ValueError(f"missing host in address {target!r}")
    return host, int(port_text)


_CACHE_MAX = 4096
# host text -> parsed literal address (or None): probes hit the same targets every scrape,
# and parsing an address costs more than the rest of the resolve step.
_literals: dict[str, IPAddress | None] = {}


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return _literals[host]
    except KeyError:
        pass
    try:
        addr: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        addr = None
    if len(_literals) >= _CACHE_MAX:
        _literals.clear()
    _literals[host] = addr
    return addr


async def resolve(
    host: str,
    *,
    ip_protocol: str = "ip6",
    fallback: bool = True,
    deadline: float,
    metrics: ProbeMetrics | None = None,
    log: ProbeLog | None = None,
) -> Resolved:
    """Pick the address to probe, as blackbox's ``chooseProtocol``.

    ``ip_protocol`` (``ip6`` by default, as blackbox) is preferred; with ``fallback`` an
    address of the other family is used when the preferred one has none, without it only
    the preferred family is looked up. With ``metrics`` (the probe's first hop) the three
    resolution samples are recorded, ``probe_ip_protocol``/``probe_ip_addr_hash`` stay 0 on
    failure. Literal IPs skip DNS. Raises :class:`ResolveError`, or ``TimeoutError``.

    >>> where = await resolve("localhost", ip_protocol="ip4", deadline=loop.time() + 5)
    >>> where.ip, where.version
    ('127.0.0.1', 4)
    """
    want = 4 if ip_protocol == "ip4" else 6
    host = host.strip("[]")
    if metrics is not None:
        metrics.gauge("probe_ip_protocol", 0)
        metrics.gauge("probe_ip_addr_hash", 0)
    if log is not None:
        log.info("Resolving target address", target=host, ip_protocol=f"ip{want}")
    t0 = time.perf_counter()
    try:
        chosen = await _choose(host, want, fallback, deadline)
    finally:
        lookup = time.perf_counter() - t0
        if metrics is not None:
            metrics.gauge("probe_dns_lookup_time_seconds", lookup)
    if chosen is None:
        message = (
            f"no IPv{want} address for {host!r} (ip_protocol_fallback is off)"
            if not fallback
            else f"no address found for {host!r}"
        )
        if log is not None:
            log.error("Error resolving address", target=host, err=message)
        raise ResolveError(message)
    if isinstance(chosen, str):  # resolver error text
        if log is not None:
            log.error("Error resolving address", target=host, err=chosen)
        raise ResolveError(chosen)
    version: Literal[4, 6] = 4 if chosen.version == 4 else 6
    ip = str(chosen)
    if metrics is not None:
        metrics.gauge("probe_ip_protocol", version)
        metrics.gauge("probe_ip_addr_hash", _fnv32a(chosen.packed))
    if log is not None:
        log.info("Resolved target address", target=host, ip=ip)
    return Resolved(host=host, ip=ip, version=version, lookup_seconds=lookup)


async def _choose(host: str, want: int, fallback: bool, deadline: float) -> IPAddress | str | None:
    """The chosen address, an error text, or None when no address of an allowed family."""
    literal = _literal_ip(host)
    if literal is not None:
        if literal.version == want or fallback:
            return literal
        return None
    if not host:
        return "empty host name"
    family = socket.AF_UNSPEC if fallback else (socket.AF_INET if want == 4 else socket.AF_INET6)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout_at(deadline):
            infos = await loop.getaddrinfo(
                host, None, family=family, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
    except socket.gaierror as exc:
        return f"lookup {host}: {exc.strerror or exc}"
    except UnicodeError:
        return f"lookup {host}: not a valid host name"
    other: IPAddress | None = None
    for info in infos:
        addr = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if addr.version == want:
            return addr
        if other is None:
            other = addr
    return other if fallback else None


# --- SSRF guard ----------------------------------------------------------------------------------

_METADATA_NETS = tuple(ipaddress.ip_network(c) for c in METADATA_CIDRS)


def _norm_host(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


# (id(guard), host, ip) -> (guard, verdict). The guard is kept in the value and compared by
# identity, so a recycled id() after a reload can never return a stale verdict.
_verdicts: dict[tuple[int, str, str | None], tuple[SSRFGuard, str | None]] = {}


def check_ssrf(guard: SSRFGuard, host: str, ip: str | None = None) -> str | None:
    """Why ``guard`` blocks ``host`` (resolved to ``ip``), or None when it may be probed.

    Order: ``deny_hosts``; cloud metadata hosts and addresses (unless ``allow_metadata``,
    and whatever the allow lists say); ``deny_cidrs``; then, when ``allow_hosts`` or
    ``allow_cidrs`` exist, the target must match one of them. With ``ip=None`` only the
    deny rules on the name are checked (useful before spending a DNS lookup). IPv4-mapped
    IPv6 addresses (``::ffff:169.254.169.254``) are checked as their IPv4 address.

    >>> check_ssrf(SSRFGuard(), "metadata.google.internal", "169.254.169.254")
    'host metadata.google.internal is a cloud metadata endpoint'
    >>> check_ssrf(SSRFGuard(), "example.com", "93.184.216.34") is None
    True
    """
    key = (id(guard), host, ip)
    hit = _verdicts.get(key)
    if hit is not None and hit[0] is guard:
        return hit[1]
    verdict = _check_ssrf(guard, host, ip)
    if len(_verdicts) >= _CACHE_MAX:
        _verdicts.clear()
    _verdicts[key] = (guard, verdict)
    return verdict


def _check_ssrf(guard: SSRFGuard, host: str, ip: str | None) -> str | None:
    name = _norm_host(host)
    for pattern in guard.host_patterns("deny"):
        if pattern.match(name):
            return f"host {name} matches deny_hosts"
    if not guard.allow_metadata and name in METADATA_HOSTS:
        return f"host {name} is a cloud metadata endpoint"
    if ip is None:
        return None
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    addrs: list[IPAddress] = [addr]
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addrs.append(addr.ipv4_mapped)
    for a in addrs:
        if not guard.allow_metadata and any(a in net for net in _METADATA_NETS):
            return f"address {a} is a cloud metadata endpoint (set ssrf.allow_metadata to probe it)"
        for cidr in guard.deny_cidrs:
            if a in cidr.network:
                return f"address {a} is in deny_cidrs {cidr.network}"
    if guard.allow_hosts or guard.allow_cidrs:
        if any(p.match(name) for p in guard.host_patterns("allow")):
            return None
        if any(a in cidr.network for a in addrs for cidr in guard.allow_cidrs):
            return None
        return f"host {name} ({addr}) matches neither allow_hosts nor allow_cidrs"
    return None


async def resolve_target(
    host: str,
    *,
    ip_protocol: str = "ip6",
    fallback: bool = True,
    guard: SSRFGuard,
    deadline: float,
    metrics: ProbeMetrics | None = None,
    log: ProbeLog | None = None,
) -> Resolved:
    """:func:`resolve`, then :func:`check_ssrf` on the name (before DNS) and the address.

    Raises :class:`BlockedTarget` (reason ``blocked_target``) or :class:`ResolveError`.
    """
    why = check_ssrf(guard, host)
    if why is None:
        where = await resolve(
            host,
            ip_protocol=ip_protocol,
            fallback=fallback,
            deadline=deadline,
            metrics=metrics,
            log=log,
        )
        why = check_ssrf(guard, host, where.ip)
        if why is None:
            return where
    if log is not None:
        log.error("Target blocked by the SSRF guard", target=host, err=why)
    raise BlockedTarget(why)


# --- TCP -----------------------------------------------------------------------------------------


def _os_error_text(exc: OSError) -> str:
    # asyncio's connect errors carry a wordy strerror; the errno text is what Go prints.
    if exc.errno:
        return os.strerror(exc.errno).lower()
    return exc.strerror or str(exc) or type(exc).__name__


async def dial(
    ip: str,
    port: int,
    *,
    deadline: float,
    protocol_factory: Callable[[], _P],
    source_ip: str = "",
) -> tuple[asyncio.Transport, _P]:
    """Open a TCP connection to ``ip:port`` (optionally from ``source_ip``) by the deadline.

    A thin, typed wrapper on ``loop.create_connection``: the caller's protocol gets the
    bytes, so no stream objects are created. Raises :class:`ConnectError` or TimeoutError.

    >>> transport, proto = await dial("127.0.0.1", 8080, deadline=d, protocol_factory=P)
    """
    loop = asyncio.get_running_loop()
    local = (source_ip, 0) if source_ip else None
    try:
        async with asyncio.timeout_at(deadline):
            transport, proto = await loop.create_connection(
                protocol_factory, ip, port, local_addr=local
            )
    except OSError as exc:
        raise ConnectError(f"dial tcp {_fmt_addr(ip, port)}: {_os_error_text(exc)}") from exc
    return transport, proto


async def open_stream(
    ip: str,
    port: int,
    *,
    deadline: float,
    source_ip: str = "",
    limit: int = 2**16,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """:func:`dial` for stream-style probers (query/response): a reader and a writer.

    ``writer.start_tls(...)`` upgrades later (STARTTLS); see :func:`start_tls` for timing
    and certificate facts on a protocol-level connection.
    """
    local = (source_ip, 0) if source_ip else None
    try:
        async with asyncio.timeout_at(deadline):
            return await asyncio.open_connection(ip, port, local_addr=local, limit=limit)
    except OSError as exc:
        raise ConnectError(f"dial tcp {_fmt_addr(ip, port)}: {_os_error_text(exc)}") from exc


def _fmt_addr(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


# --- TLS context ---------------------------------------------------------------------------------

_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_CONTEXT_CACHE_MAX = 128
# (config, verify, alpn, file mtimes) -> context. Building a context loads the system CA
# bundle (~20 ms of CPU); probes reuse one per distinct config instead.
_contexts: dict[tuple[object, ...], ssl.SSLContext] = {}


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return -1.0


def tls_context(
    cfg: TLSConfig, *, verify: bool = True, alpn: tuple[str, ...] = ()
) -> ssl.SSLContext:
    """A client :class:`ssl.SSLContext` for ``cfg`` (Prometheus ``tls_config`` semantics).

    ``ca``/``ca_file`` replace the system roots; ``cert``/``key`` (inline or file) present a
    client certificate; ``insecure_skip_verify`` or ``verify=False`` turns verification off;
    ``min_version``/``max_version`` bound the protocol. ``server_name`` is not part of the
    context: pass it to :func:`start_tls`. Contexts are cached per config and rebuilt when a
    referenced file changes. Raises ``ValueError`` for unusable PEM material.

    >>> ctx = tls_context(TLSConfig(ca_file="/etc/ssl/my-ca.pem"), alpn=("http/1.1",))
    """
    files = (cfg.ca_file, cfg.cert_file, cfg.key_file)
    key = (cfg, verify, alpn, *(_mtime(f) for f in files if f))
    ctx = _contexts.get(key)
    if ctx is None:
        ctx = _build_context(cfg, verify=verify and not cfg.insecure_skip_verify, alpn=alpn)
        if len(_contexts) >= _CONTEXT_CACHE_MAX:
            _contexts.clear()  # configs change rarely; a full cache means churn, start over
        _contexts[key] = ctx
    return ctx


def _build_context(cfg: TLSConfig, *, verify: bool, alpn: tuple[str, ...]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        if cfg.ca:
            ctx.load_verify_locations(cadata=cfg.ca)
        elif cfg.ca_file:
            ctx.load_verify_locations(cafile=cfg.ca_file)
        elif verify:
            ctx.load_default_certs()
        if cfg.cert or cfg.cert_file:
            _load_client_cert(ctx, cfg)
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(f"tls_config: {exc}") from exc
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cfg.min_version:
        ctx.minimum_version = _TLS_VERSIONS[cfg.min_version]
    if cfg.max_version:
        ctx.maximum_version = _TLS_VERSIONS[cfg.max_version]
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def _load_client_cert(ctx: ssl.SSLContext, cfg: TLSConfig) -> None:
    # ssl only loads key material from files: inline PEM goes through a private temp dir
    # that is removed straight after loading.
    if cfg.cert_file and cfg.key_file:
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
        return
    with tempfile.TemporaryDirectory(prefix="twinlens-tls-") as tmp:
        cert_path = cfg.cert_file or os.path.join(tmp, "cert.pem")
        key_path = cfg.key_file or os.path.join(tmp, "key.pem")
        if cfg.cert:
            with open(cert_path, "w", encoding="utf-8", opener=_private) as f:
                f.write(cfg.cert)
        if cfg.key:
            with open(key_path, "w", encoding="utf-8", opener=_private) as f:
                f.write(cfg.key)
        ctx.load_cert_chain(cert_path, key_path)


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


# --- TLS handshake and facts ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertInfo:
    """The facts of one certificate that metrics need (Go's string forms)."""

    not_after: float
    fingerprint_sha256: str
    subject: str
    issuer: str
    dns_names: str
    serial: str


@dataclass(slots=True)
class TLSFacts:
    """What one handshake showed. ``chain`` is as presented (leaf first); ``verified_chain``
    is the chain that verified up to a trusted root, empty when verification failed or
    was off."""

    version: str
    cipher: str
    verified: bool
    chain: list[CertInfo] = field(default_factory=list)
    verified_chain: list[CertInfo] = field(default_factory=list)

    @property
    def earliest_expiry(self) -> float | None:
        """Earliest ``notAfter`` among the presented certificates (blackbox's rule)."""
        return min((c.not_after for c in self.chain), default=None)

    @property
    def last_chain_expiry(self) -> float | None:
        """When the chain stops being valid: earliest expiry in the verified chain, or in
        the presented chain when it did not verify."""
        chain = self.verified_chain or self.chain
        return min((c.not_after for c in chain), default=None)


_TLS_VERSION_NAMES = {
    "TLSv1": "TLS 1.0",
    "TLSv1.1": "TLS 1.1",
    "TLSv1.2": "TLS 1.2",
    "TLSv1.3": "TLS 1.3",
}

#: OpenSSL cipher names → the IANA names Go (and so blackbox) reports. TLS 1.3 names are
#: the same in both; anything else keeps its OpenSSL name (still a bounded set).
_IANA_CIPHERS = {
    "ECDHE-ECDSA-AES128-GCM-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "ECDHE-RSA-CHACHA20-POLY1305": "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "ECDHE-ECDSA-AES128-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "ECDHE-RSA-AES128-SHA256": "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "ECDHE-ECDSA-AES128-SHA": "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "ECDHE-RSA-AES128-SHA": "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "ECDHE-ECDSA-AES256-SHA": "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "ECDHE-RSA-AES256-SHA": "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "ECDHE-RSA-DES-CBC3-SHA": "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "AES128-GCM-SHA256": "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "AES256-GCM-SHA384": "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "AES128-SHA256": "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "AES128-SHA": "TLS_RSA_WITH_AES_128_CBC_SHA",
    "AES256-SHA": "TLS_RSA_WITH_AES_256_CBC_SHA",
    "DES-CBC3-SHA": "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
}

_CERT_CACHE_MAX = 512
# DER bytes -> parsed facts: a target presents the same chain probe after probe, and
# parsing X.509 costs far more than a dict lookup.
_certs: dict[bytes, CertInfo] = {}


def _cert_info(der: bytes) -> CertInfo:
    info = _certs.get(der)
    if info is not None:
        return info
    from cryptography import x509  # loaded on the first TLS probe only

    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        dns_names = ",".join(san.value.get_values_for_type(x509.DNSName))
    except (x509.ExtensionNotFound, ValueError):
        dns_names = ""
    serial = cert.serial_number.to_bytes((cert.serial_number.bit_length() + 7) // 8 or 1, "big")
    info = CertInfo(
        not_after=cert.not_valid_after_utc.timestamp(),
        fingerprint_sha256=hashlib.sha256(der).hexdigest(),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        dns_names=dns_names,
        serial=serial.hex(),
    )
    if len(_certs) >= _CERT_CACHE_MAX:
        _certs.clear()
    _certs[der] = info
    return info


def _chain_der(sslobj: ssl.SSLObject, verified: bool) -> list[bytes]:
    inner = getattr(sslobj, "_sslobj", None)  # CPython's _ssl._SSLSocket (3.10+)
    getter = getattr(inner, "get_verified_chain" if verified else "get_unverified_chain", None)
    if getter is not None:
        certs = getter() or []
        return [c.public_bytes(ssl._ssl.ENCODING_DER) for c in certs]  # type: ignore[attr-defined]
    if verified:
        return []
    leaf = sslobj.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def tls_facts(sslobj: ssl.SSLObject, *, verified: bool) -> TLSFacts:
    """Version, cipher and certificates of a finished handshake.

    ``verified`` says whether the handshake verified the peer (a context with
    ``CERT_REQUIRED`` that succeeded); only then is ``verified_chain`` read.

    >>> facts = tls_facts(transport.get_extra_info("ssl_object"), verified=True)
    """
    version = _TLS_VERSION_NAMES.get(sslobj.version() or "", "unknown")
    cipher_info = sslobj.cipher()
    cipher = _IANA_CIPHERS.get(cipher_info[0], cipher_info[0]) if cipher_info else "unknown"
    chain = [_cert_info(der) for der in _chain_der(sslobj, verified=False)]
    verified_chain = (
        [_cert_info(der) for der in _chain_der(sslobj, verified=True)] if verified else []
    )
    return TLSFacts(
        version=version,
        cipher=cipher,
        verified=verified,
        chain=chain,
        verified_chain=verified_chain,
    )


def record_tls(metrics: ProbeMetrics, facts: TLSFacts) -> None:
    """The ``probe_ssl_*`` / ``probe_tls_*`` samples for one handshake's facts.

    Written for the final hop of a probe (or the failed handshake's second look): the
    leaf's ``probe_ssl_last_chain_info`` labels are blackbox's, plus ``serialnumber``
    (as in blackbox ≥ 0.24).
    """
    earliest = facts.earliest_expiry
    if earliest is not None:
        metrics.gauge("probe_ssl_earliest_cert_expiry", earliest)
    last = facts.last_chain_expiry
    if last is not None:
        metrics.gauge("probe_ssl_last_chain_expiry_timestamp_seconds", last)
    if facts.chain:
        leaf = facts.chain[0]
        metrics.gauge(
            "probe_ssl_last_chain_info",
            1,
            fingerprint_sha256=leaf.fingerprint_sha256,
            issuer=leaf.issuer,
            subject=leaf.subject,
            subjectalternative=leaf.dns_names,
            serialnumber=leaf.serial,
        )
    metrics.gauge("probe_tls_version_info", 1, version=facts.version)
    metrics.gauge("probe_tls_cipher_info", 1, cipher=facts.cipher)
    metrics.gauge("probe_tls_cert_verified", 1 if facts.verified else 0)


def _is_verify_failure(exc: BaseException) -> bool:
    return isinstance(exc, ssl.SSLCertVerificationError) or (
        isinstance(exc, ssl.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc)
    )


def _verify_message(exc: BaseException) -> str:
    message = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)
    return f"certificate verify failed: {message}"


async def start_tls(
    transport: asyncio.Transport,
    protocol: asyncio.BaseProtocol,
    *,
    cfg: TLSConfig,
    server_hostname: str,
    deadline: float,
    alpn: tuple[str, ...] = (),
    retry_at: tuple[str, int, str] | None = None,
) -> tuple[asyncio.Transport, TLSFacts]:
    """Upgrade a connected transport to TLS and read the session's facts.

    ``server_hostname`` is the SNI and the name verified (the caller picks
    ``tls_config.server_name``, the Host header or the URL host, in that order). On a
    certificate verification failure, and when ``retry_at=(ip, port, source_ip)`` is
    given, a second, unverified handshake on a fresh connection collects the chain for
    :class:`TLSHandshakeError.facts` (see the module docstring). Raises
    :class:`TLSHandshakeError` or TimeoutError; the original transport is closed on error.
    """
    loop = asyncio.get_running_loop()
    try:
        ctx = tls_context(cfg, verify=True, alpn=alpn)
    except ValueError as exc:
        transport.close()
        raise TLSHandshakeError(str(exc)) from exc
    verifying = ctx.verify_mode != ssl.CERT_NONE
    sni = server_hostname.strip("[]") or None
    try:
        async with asyncio.timeout_at(deadline):
            tls_transport = await loop.start_tls(transport, protocol, ctx, server_hostname=sni)
    except (ssl.SSLError, OSError, EOFError, ValueError) as exc:
        transport.close()
        if not _is_verify_failure(exc):
            text = _os_error_text(exc) if isinstance(exc, OSError) else str(exc)
            raise TLSHandshakeError(f"TLS handshake failed: {text}") from exc
        facts = None
        if retry_at is not None:
            ip, port, source_ip = retry_at
            facts = await inspect_unverified(
                ip,
                port,
                cfg=cfg,
                server_hostname=server_hostname,
                deadline=deadline,
                alpn=alpn,
                source_ip=source_ip,
            )
        raise TLSHandshakeError(_verify_message(exc), facts) from exc
    if tls_transport is None:  # the peer closed during the handshake
        transport.close()
        raise TLSHandshakeError("TLS handshake failed: connection closed by peer")
    sslobj = tls_transport.get_extra_info("ssl_object")
    return tls_transport, tls_facts(sslobj, verified=verifying)


async def inspect_unverified(
    ip: str,
    port: int,
    *,
    cfg: TLSConfig,
    server_hostname: str,
    deadline: float,
    alpn: tuple[str, ...] = (),
    source_ip: str = "",
) -> TLSFacts | None:
    """Handshake without verification on a fresh connection and return what it shows.

    Best effort, for reporting only: None when even that fails. Bounded by ``deadline``.
    """
    loop = asyncio.get_running_loop()
    try:
        ctx = tls_context(cfg, verify=False, alpn=alpn)
        local = (source_ip, 0) if source_ip else None
        async with asyncio.timeout_at(deadline):
            transport, _ = await loop.create_connection(
                asyncio.Protocol,
                ip,
                port,
                ssl=ctx,
                server_hostname=server_hostname.strip("[]") or None,
                local_addr=local,
            )
    except (ssl.SSLError, OSError, ValueError, EOFError):
        return None
    try:
        return tls_facts(transport.get_extra_info("ssl_object"), verified=False)
    finally:
        transport.abort()
