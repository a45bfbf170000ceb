"""The http prober over TLS: certificates from ``trustme`` (valid, expired, wrong host,
unknown CA) and a self-signed one, served by real aiohttp servers on loopback. Certificate
facts must be reported whether or not verification succeeds."""

from __future__ import annotations

import datetime
import hashlib
import ssl
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme
import uvloop
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exporter.config import Module
from tests.integration.test_http_prober import (
    assert_failed,
    forward_proxy,
    hello,
    http_module,
    http_server,
    phase,
    probe,
    value,
)

EXPIRED_AT = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


def leaf_der(cert: trustme.LeafCert) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes())


def self_signed(tmp: Path) -> ssl.SSLContext:
    """A certificate that signs itself (what a forgotten test box often serves)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "selfie.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1234)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp / "self.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "self.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp / "self.pem", tmp / "self.key")
    return ctx


@asynccontextmanager
async def https_server(ctx: ssl.SSLContext, text: str = "secure") -> AsyncIterator[int]:
    async with http_server({"/": hello(text)}, ssl_ctx=ctx) as port:
        yield port


def tls_module(ca_file: str, **http: Any) -> Module:
    tls = {"ca_file": ca_file, **http.pop("tls_config", {})}
    return http_module(tls_config=tls, **http)


async def test_valid_certificate_reports_tls_facts(ca: trustme.CA, ca_file: str) -> None:
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    cert = leaf_der(leaf)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    async with https_server(server_context(leaf)) as port:
        out = await probe(tls_module(ca_file), f"https://localhost:{port}/")
    assert out.success, out.log.text()
    assert value(out, "probe_http_ssl") == 1
    assert value(out, "probe_tls_cert_verified") == 1
    assert value(out, "probe_tls_version_info", version="TLS 1.3") == 1
    assert value(out, "probe_tls_cipher_info", cipher="TLS_AES_256_GCM_SHA384") == 1
    not_after = cert.not_valid_after_utc.timestamp()
    assert value(out, "probe_ssl_earliest_cert_expiry") == not_after
    chain_expiry = min(not_after, ca_cert.not_valid_after_utc.timestamp())
    assert value(out, "probe_ssl_last_chain_expiry_timestamp_seconds") == chain_expiry
    # whole bytes in hex ("01", "0abc"): trustme's serials are random, some with an odd
    # number of hex digits
    serial_hex = format(cert.serial_number, "x")
    serial_hex = serial_hex.rjust(len(serial_hex) + len(serial_hex) % 2, "0")
    info = value(
        out,
        "probe_ssl_last_chain_info",
        fingerprint_sha256=hashlib.sha256(
            cert.public_bytes(serialization.Encoding.DER)
        ).hexdigest(),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        subjectalternative="localhost",
        serialnumber=serial_hex,
    )
    assert info == 1
    assert phase(out, "connect") > 0 and phase(out, "tls") > 0  # measured apart


@pytest.mark.parametrize("case", ["expired", "wrong_host", "unknown_ca", "self_signed"])
async def test_failed_verification_still_reports_certificate(
    case: str, ca: trustme.CA, ca_file: str, tmp_path: Path
) -> None:
    expected_san = "localhost"
    expected_expiry: float | None = None
    if case == "expired":
        leaf = ca.issue_cert("localhost", not_after=EXPIRED_AT)
        ctx, expected_expiry = server_context(leaf), EXPIRED_AT.timestamp()
        message = "certificate has expired"
    elif case == "wrong_host":
        leaf = ca.issue_cert("other.test")
        ctx, expected_san = server_context(leaf), "other.test"
        message = "Hostname mismatch"
    elif case == "unknown_ca":
        leaf = trustme.CA().issue_cert("localhost")
        ctx = server_context(leaf)
        message = "unable to get local issuer certificate"
    else:
        ctx = self_signed(tmp_path)
        message = "self-signed certificate"
    async with https_server(ctx) as port:
        out = await probe(tls_module(ca_file), f"https://localhost:{port}/")
    assert_failed(out, "tls")
    assert message in out.log.text()
    assert value(out, "probe_tls_cert_verified") == 0
    assert value(out, "probe_tls_version_info", version="TLS 1.3") == 1
    expiry = value(out, "probe_ssl_earliest_cert_expiry")
    assert expiry is not None
    if expected_expiry is not None:
        assert expiry == expected_expiry
    (pairs,) = [p for n, p, _ in out.metrics.samples() if n == "probe_ssl_last_chain_info"]
    labels = dict(pairs)
    assert labels["subjectalternative"] == expected_san
    if case == "self_signed":
        assert labels["subject"] == labels["issuer"] == "CN=selfie.test"
        assert labels["serialnumber"] == "1234"
    assert value(out, "probe_http_status_code") == 0
    assert phase(out, "tls") > 0


async def test_insecure_skip_verify_succeeds_and_says_unverified(
    ca: trustme.CA, ca_file: str
) -> None:
    leaf = ca.issue_cert("localhost", not_after=EXPIRED_AT)
    module = http_module(tls_config={"insecure_skip_verify": True})
    async with https_server(server_context(leaf)) as port:
        out = await probe(module, f"https://localhost:{port}/")
    assert out.success, out.log.text()
    assert value(out, "probe_tls_cert_verified") == 0
    assert value(out, "probe_ssl_earliest_cert_expiry") == EXPIRED_AT.timestamp()


async def test_server_name_and_hostname_parameter_set_sni(ca: trustme.CA, ca_file: str) -> None:
    leaf = ca.issue_cert("shop.example.test")
    async with https_server(server_context(leaf)) as port:
        target = f"https://127.0.0.1:{port}/"
        by_ip = await probe(tls_module(ca_file), target)
        server_name = await probe(
            tls_module(ca_file, tls_config={"server_name": "shop.example.test"}), target
        )
        hostname = await probe(tls_module(ca_file).with_hostname("shop.example.test"), target)
    assert_failed(by_ip, "tls")
    assert server_name.success, server_name.log.text()
    assert hostname.success, hostname.log.text()


async def test_tls_version_bounds(ca: trustme.CA, ca_file: str) -> None:
    leaf = ca.issue_cert("localhost")
    async with https_server(server_context(leaf)) as port:
        out = await probe(
            tls_module(ca_file, tls_config={"max_version": "TLS12"}), f"https://localhost:{port}/"
        )
    assert out.success, out.log.text()
    assert value(out, "probe_tls_version_info", version="TLS 1.2") == 1
    (pairs,) = [p for n, p, _ in out.metrics.samples() if n == "probe_tls_cipher_info"]
    # trustme keys are ECDSA; OpenSSL's name is ECDHE-ECDSA-AES256-GCM-SHA384, Go's is IANA's
    assert dict(pairs)["cipher"] == "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"


async def test_fail_if_ssl(ca: trustme.CA, ca_file: str) -> None:
    leaf = ca.issue_cert("localhost")
    async with https_server(server_context(leaf)) as port:
        out = await probe(tls_module(ca_file, fail_if_ssl=True), f"https://localhost:{port}/")
    assert_failed(out, "ssl_expected")
    assert value(out, "probe_http_ssl") == 1


async def test_https_redirect_to_http_reports_final_hop(ca: trustme.CA, ca_file: str) -> None:
    leaf = ca.issue_cert("localhost")
    async with http_server({"/": hello("plain")}) as plain:

        async def bounce(request: web.Request) -> web.Response:
            raise web.HTTPFound(f"http://127.0.0.1:{plain}/")

        async with http_server({"/": bounce}, ssl_ctx=server_context(leaf)) as port:
            out = await probe(tls_module(ca_file), f"https://localhost:{port}/")
    assert out.success, out.log.text()
    assert value(out, "probe_http_redirects") == 1
    assert value(out, "probe_http_ssl") == 0  # the final hop was plain HTTP
    assert phase(out, "tls") > 0  # but the first hop's handshake is in the sum


async def test_https_through_connect_proxy(ca: trustme.CA, ca_file: str) -> None:
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    seen: list[str] = []
    async with https_server(server_context(leaf)) as port, forward_proxy(seen) as proxy:
        out = await probe(
            tls_module(ca_file, proxy_url=f"http://127.0.0.1:{proxy}"), f"https://localhost:{port}/"
        )
    assert out.success, out.log.text()
    assert seen == [f"CONNECT 127.0.0.1:{port} HTTP/1.1"]  # the checked address, not the name
    assert value(out, "probe_tls_cert_verified") == 1


def test_tls_probes_on_uvloop(ca: trustme.CA, ca_file: str) -> None:
    """``twinlens exporter`` runs on uvloop, whose TLS transport is its own: same facts."""
    valid = ca.issue_cert("localhost")
    expired = ca.issue_cert("localhost", not_after=EXPIRED_AT)

    async def both() -> tuple[Any, Any]:
        async with (
            https_server(server_context(valid)) as a,
            https_server(server_context(expired)) as b,
        ):
            return (
                await probe(tls_module(ca_file), f"https://localhost:{a}/"),
                await probe(tls_module(ca_file), f"https://localhost:{b}/"),
            )

    ok, bad = _run_uvloop(both())
    assert ok.success, ok.log.text()
    assert value(ok, "probe_tls_cert_verified") == 1
    assert_failed(bad, "tls")
    assert value(bad, "probe_ssl_earliest_cert_expiry") == EXPIRED_AT.timestamp()


def _run_uvloop(coro: Coroutine[Any, Any, Any]) -> Any:
    return uvloop.run(coro)
