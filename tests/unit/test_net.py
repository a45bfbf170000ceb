"""exporter.net: the pure parts (address hashing, host:port, the SSRF guard, resolution
of literals and /etc/hosts names, TLS contexts and cipher names)."""

from __future__ import annotations

import asyncio
import ssl

import msgspec
import pytest

from exporter import net
from exporter.config import SSRFGuard, TLSConfig
from exporter.metrics import ProbeMetrics
from exporter.probelog import ProbeLog


def guard(**kw: object) -> SSRFGuard:
    return msgspec.convert(kw, SSRFGuard, dec_hook=_dec)


def _dec(typ: type, obj: object) -> object:
    return typ.parse(obj)  # type: ignore[attr-defined]


def test_ip_hash_matches_blackbox_values() -> None:
    # Values read from prometheus-blackbox-exporter 0.23 probing the same addresses.
    assert net.ip_hash("127.0.0.1") == 3668918509.0
    assert net.ip_hash("::1") != net.ip_hash("127.0.0.1")


@pytest.mark.parametrize(
    ("text", "default", "want"),
    [
        ("example.com:80", None, ("example.com", 80)),
        ("[::1]:9115", None, ("::1", 9115)),
        ("example.com", 443, ("example.com", 443)),
        ("[fe80::1]", 22, ("fe80::1", 22)),
    ],
)
def test_split_host_port(text: str, default: int | None, want: tuple[str, int]) -> None:
    assert net.split_host_port(text, default) == want


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("example.com", "missing port"),
        ("::1:53", "too many colons"),
        ("example.com:http", "invalid port"),
        ("example.com:70000", "invalid port"),
        ("[::1", "missing ']'"),
        (":80", "missing host"),
    ],
)
def test_split_host_port_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        net.split_host_port(text)


@pytest.mark.parametrize(
    ("kw", "host", "ip", "blocked"),
    [
        ({}, "example.com", "93.184.216.34", None),
        ({}, "example.com", "169.254.169.254", "cloud metadata"),
        ({}, "example.com", "::ffff:169.254.169.254", "cloud metadata"),
        ({}, "example.com", "fd00:ec2::254", "cloud metadata"),
        ({}, "Metadata.Google.Internal.", None, "cloud metadata"),
        ({"allow_metadata": True}, "example.com", "169.254.169.254", None),
        ({"deny_cidrs": ["10.0.0.0/8"]}, "intranet", "10.1.2.3", "deny_cidrs 10.0.0.0/8"),
        ({"deny_cidrs": ["10.0.0.0/8"]}, "intranet", "11.1.2.3", None),
        ({"deny_hosts": ["*.internal"]}, "db.internal", None, "deny_hosts"),
        ({"deny_hosts": ["*.internal"]}, "db.internal.example", "1.2.3.4", None),
        ({"allow_cidrs": ["127.0.0.0/8"]}, "localhost", "127.0.0.1", None),
        ({"allow_cidrs": ["127.0.0.0/8"]}, "example.com", "93.184.216.34", "neither"),
        ({"allow_hosts": ["*.example.com"]}, "www.example.com", "93.184.216.34", None),
        ({"allow_hosts": ["*.example.com"]}, "evil.test", "93.184.216.34", "neither"),
        # metadata stays denied even when an allow list covers it
        ({"allow_cidrs": ["169.254.0.0/16"]}, "x", "169.254.169.254", "cloud metadata"),
    ],
)
def test_check_ssrf(kw: dict[str, object], host: str, ip: str | None, blocked: str | None) -> None:
    why = net.check_ssrf(guard(**kw), host, ip)
    if blocked is None:
        assert why is None
    else:
        assert why is not None and blocked in why


async def test_resolve_literal_skips_dns_and_records_blackbox_samples() -> None:
    metrics, log = ProbeMetrics(), ProbeLog()
    loop = asyncio.get_running_loop()
    where = await net.resolve("127.0.0.1", deadline=loop.time() + 5, metrics=metrics, log=log)
    assert (where.ip, where.version) == ("127.0.0.1", 4)  # ip6 preferred, fallback to ip4
    assert metrics.get("probe_ip_protocol") == 4
    assert metrics.get("probe_ip_addr_hash") == 3668918509.0
    lookup = metrics.get("probe_dns_lookup_time_seconds")
    assert lookup is not None and 0 <= lookup < 0.1


async def test_resolve_without_fallback_refuses_other_family() -> None:
    metrics = ProbeMetrics()
    loop = asyncio.get_running_loop()
    with pytest.raises(net.ResolveError, match="no IPv6 address"):
        await net.resolve(
            "127.0.0.1",
            ip_protocol="ip6",
            fallback=False,
            deadline=loop.time() + 5,
            metrics=metrics,
        )
    assert metrics.get("probe_ip_protocol") == 0
    assert metrics.get("probe_ip_addr_hash") == 0
    assert metrics.get("probe_dns_lookup_time_seconds") is not None


async def test_resolve_hosts_file_name_and_unknown_name() -> None:
    loop = asyncio.get_running_loop()
    where = await net.resolve("localhost", ip_protocol="ip4", deadline=loop.time() + 5)
    assert where.ip == "127.0.0.1"
    with pytest.raises(net.ResolveError, match=r"lookup no-such-host\.invalid"):
        await net.resolve("no-such-host.invalid", deadline=loop.time() + 5)


async def test_resolve_target_blocks_after_resolution() -> None:
    loop = asyncio.get_running_loop()
    g = guard(deny_cidrs=["127.0.0.0/8"])
    with pytest.raises(net.BlockedTarget, match="deny_cidrs"):
        await net.resolve_target("localhost", ip_protocol="ip4", guard=g, deadline=loop.time() + 5)


def test_tls_context_settings_and_cache() -> None:
    cfg = TLSConfig(min_version="TLS12", max_version="TLS12")
    ctx = net.tls_context(cfg, alpn=("http/1.1",))
    assert ctx is net.tls_context(cfg, alpn=("http/1.1",))  # cached: no CA reload per probe
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.maximum_version == ssl.TLSVersion.TLSv1_2
    insecure = net.tls_context(TLSConfig(insecure_skip_verify=True))
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname
    assert net.tls_context(cfg, verify=False).verify_mode == ssl.CERT_NONE


def test_tls_context_bad_inline_ca_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="tls_config"):
        net.tls_context(TLSConfig(ca="not a pem"))


def test_record_tls_samples() -> None:
    leaf = net.CertInfo(2e9, "ab" * 32, "CN=leaf", "CN=ca", "a.test,b.test", "01")
    root = net.CertInfo(3e9, "cd" * 32, "CN=ca", "CN=ca", "", "02")
    metrics = ProbeMetrics()
    facts = net.TLSFacts("TLS 1.3", "TLS_AES_128_GCM_SHA256", False, [leaf, root], [])
    net.record_tls(metrics, facts)
    assert metrics.get("probe_ssl_earliest_cert_expiry") == 2e9
    assert metrics.get("probe_ssl_last_chain_expiry_timestamp_seconds") == 2e9
    assert metrics.get("probe_tls_cert_verified") == 0
    assert metrics.get("probe_tls_version_info", version="TLS 1.3") == 1
    assert metrics.get("probe_tls_cipher_info", cipher="TLS_AES_128_GCM_SHA256") == 1
    info = metrics.get(
        "probe_ssl_last_chain_info",
        fingerprint_sha256="ab" * 32,
        issuer="CN=ca",
        subject="CN=leaf",
        subjectalternative="a.test,b.test",
        serialnumber="01",
    )
    assert info == 1
