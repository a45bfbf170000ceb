"""The http prober against real HTTP servers on loopback (aiohttp, and raw asyncio servers
for targets that misbehave on purpose). Every test runs the probe through ``run_probe``,
the one path ``/probe``, checks and ``twinlens probe`` share, and asserts exact samples."""

from __future__ import annotations

import asyncio
import base64
import gzip
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import brotli
import pytest
from aiohttp import web

from exporter.config import Module
from exporter.probe import ProbeOutcome, run_probe
from tests.support.ports import free_port
from twinlens.runtime.config import decode

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"
LAST_MODIFIED_TS = 1445412480.0


# --- local servers ---------------------------------------------------------------------------


@asynccontextmanager
async def http_server(
    routes: dict[str, Handler], host: str = "127.0.0.1", ssl_ctx: Any = None
) -> AsyncIterator[int]:
    """A real aiohttp server on port 0; yields the port."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=ssl_ctx)
    await site.start()
    try:
        assert site._server is not None
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    finally:
        await runner.cleanup()


@asynccontextmanager
async def raw_server(handler: RawHandler, host: str = "127.0.0.1") -> AsyncIterator[int]:
    """A TCP server that does exactly what ``handler`` writes (for broken targets)."""
    tasks: set[asyncio.Task[None]] = set()

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(wrapped, host, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


@asynccontextmanager
async def forward_proxy(
    seen: list[str], auth: str | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[int]:
    """A real (tiny) HTTP forward proxy: absolute-form requests and CONNECT tunnels.

    Records each request line in ``seen``; demands ``Proxy-Authorization: auth`` if set.
    """

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        seen.append(lines[0])
        headers = {
            k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
        }
        if auth is not None and headers.get("proxy-authorization") != auth:
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            return
        method, target, _ = lines[0].split(" ")
        if method == "CONNECT":
            up_host, _, up_port = target.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(up_host.strip("[]"), int(up_port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            rest = target.split("://", 1)[1]
            authority, _, path = rest.partition("/")
            up_host, _, up_port = authority.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(up_host.strip("[]"), int(up_port))
            kept = [ln for ln in lines[1:] if ln and not ln.lower().startswith("proxy-")]
            up_writer.write(
                ("\r\n".join([f"{method} /{path} HTTP/1.1", *kept]) + "\r\n\r\n").encode()
            )
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async with raw_server(handle, host) as port:
        yield port


# --- helpers -----------------------------------------------------------------------------------


def http_module(timeout: float = 0, **http: Any) -> Module:
    data: dict[str, Any] = {"prober": "http", "http": {"preferred_ip_protocol": "ip4", **http}}
    if timeout:
        data["timeout"] = f"{timeout}s"
    return decode(data, Module)


async def probe(module: Module, target: str, timeout: float = 5.0) -> ProbeOutcome:
    return await run_probe("http_test", module, target, timeout)


def value(out: ProbeOutcome, name: str, **labels: str) -> float | None:
    return out.metrics.get(name, **labels)


def phase(out: ProbeOutcome, name: str) -> float:
    got = out.metrics.get("probe_http_duration_seconds", phase=name)
    assert got is not None, f"phase {name} missing"
    return got


def assert_failed(out: ProbeOutcome, reason: str) -> None:
    assert out.success is False, out.log.text()
    assert out.reason == reason, out.log.text()
    assert value(out, "probe_failure_info", reason=reason) == 1
    assert value(out, "probe_success") == 0


def hello(text: str = "hello, world\n", **headers: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=text, headers=headers)

    return handler


# --- success and the full metric set -----------------------------------------------------------


async def test_success_reports_blackbox_metric_set() -> None:
    async with http_server({"/": hello("hello, world\n", **{"Last-Modified": LAST_MODIFIED})}) as p:
        out = await probe(http_module(), f"127.0.0.1:{p}")  # no scheme: http:// assumed
    assert out.success, out.log.text()
    assert out.reason is None
    assert value(out, "probe_success") == 1
    assert value(out, "probe_failure_info", reason="http_status") is None
    assert value(out, "probe_http_status_code") == 200
    assert value(out, "probe_http_content_length") == 13
    assert value(out, "probe_http_uncompressed_body_length") == 13
    assert value(out, "probe_http_version") == 1.1
    assert value(out, "probe_http_redirects") == 0
    assert value(out, "probe_http_ssl") == 0
    assert value(out, "probe_failed_due_to_regex") == 0
    assert value(out, "probe_http_last_modified_timestamp_seconds") == LAST_MODIFIED_TS
    assert value(out, "probe_ip_protocol") == 4
    assert value(out, "probe_ip_addr_hash") == 3668918509.0
    assert phase(out, "tls") == 0
    for name in ("connect", "processing", "transfer"):
        assert phase(out, name) > 0
    total = sum(phase(out, n) for n in ("resolve", "connect", "tls", "processing", "transfer"))
    duration = value(out, "probe_duration_seconds")
    assert duration is not None and total <= duration
    assert value(out, "probe_ssl_earliest_cert_expiry") is None  # no TLS, no cert samples


async def test_status_codes_default_2xx_and_configured() -> None:
    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, text="nope")

    async with http_server({"/": missing}) as port:
        default = await probe(http_module(), f"http://127.0.0.1:{port}/")
        allowed = await probe(http_module(valid_status_codes=[404]), f"http://127.0.0.1:{port}/")
    assert_failed(default, "http_status")
    assert value(default, "probe_http_status_code") == 404
    assert value(default, "probe_http_uncompressed_body_length") == 4  # body still read
    assert allowed.success
    assert value(allowed, "probe_http_status_code") == 404


async def test_chunked_response_has_unknown_content_length() -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(3):
            await resp.write(b"x" * 1000)
        await resp.write_eof()
        return resp

    async with http_server({"/": chunked}) as port:
        out = await probe(http_module(), f"http://127.0.0.1:{port}/")
    assert out.success
    assert value(out, "probe_http_content_length") == -1
    assert value(out, "probe_http_uncompressed_body_length") == 3000


async def test_method_headers_body_and_basic_auth() -> None:
    seen: list[dict[str, str]] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(
            {
                "method": request.method,
                "host": request.headers["Host"],
                "x-team": request.headers.get("X-Team", ""),
                "body": (await request.read()).decode(),
            }
        )
        expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401)
        return web.Response(text="ok")

    good = http_module(
        method="POST",
        headers={"X-Team": "web", "Host": "shop.example"},
        body='{"ping": 1}',
        basic_auth={"username": "alice", "password": "s3cret"},
    )
    bad = http_module(basic_auth={"username": "alice", "password": "wrong"})
    async with http_server({"/": echo}) as port:
        ok = await probe(good, f"http://127.0.0.1:{port}/")
        denied = await probe(bad, f"http://127.0.0.1:{port}/")
    assert ok.success, ok.log.text()
    assert seen[0] == {
        "method": "POST",
        "host": "shop.example",
        "x-team": "web",
        "body": '{"ping": 1}',
    }
    assert_failed(denied, "http_status")
    assert value(denied, "probe_http_status_code") == 401


async def test_hostname_parameter_sets_host_header() -> None:
    hosts: list[str] = []

    async def echo(request: web.Request) -> web.Response:
        hosts.append(request.headers["Host"])
        return web.Response(text="ok")

    module = http_module().with_hostname("www.example.test")
    async with http_server({"/": echo}) as port:
        out = await probe(module, f"http://127.0.0.1:{port}/")
    assert out.success
    assert hosts == ["www.example.test"]


async def test_bearer_token_and_oauth2_client_credentials() -> None:
    tokens: list[dict[str, str]] = []

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        tokens.append({"auth": request.headers.get("Authorization", ""), **form})  # type: ignore[dict-item]
        return web.json_response({"access_token": "tok-42", "token_type": "bearer"})

    async def target(request: web.Request) -> web.Response:
        ok = request.headers.get("Authorization") in ("Bearer tok-42", "Bearer static")
        return web.Response(status=200 if ok else 403)

    async with http_server({"/token": token, "/": target}) as port:
        oauth = http_module(
            oauth2={
                "client_id": "probe",
                "client_secret": "pw",
                "token_url": f"http://127.0.0.1:{port}/token",
                "scopes": ["read", "write"],
            }
        )
        out = await probe(oauth, f"http://127.0.0.1:{port}/")
        bearer = await probe(http_module(bearer_token="static"), f"http://127.0.0.1:{port}/")
    assert out.success, out.log.text()
    assert bearer.success
    assert tokens == [
        {
            "auth": "Basic " + base64.b64encode(b"probe:pw").decode(),
            "grant_type": "client_credentials",
            "scope": "read write",
        }
    ]


# --- redirects -----------------------------------------------------------------------------------


async def test_redirect_chain_is_followed_and_counted() -> None:
    methods: list[str] = []

    async def hop(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        methods.append(request.method)
        if n < 3:
            raise web.HTTPFound(f"/hop/{n + 1}", headers={"Set-Cookie": f"c{n}=v{n}"})
        return web.Response(text=request.headers.get("Cookie", ""))

    async with http_server({"/hop/{n}": hop}) as port:
        out = await probe(
            http_module(method="POST", fail_if_body_not_matches_regexp=["c1=v1; c2=v2"]),
            f"http://127.0.0.1:{port}/hop/0",
        )
    assert out.success, out.log.text()
    assert value(out, "probe_http_redirects") == 3
    assert value(out, "probe_http_status_code") == 200
    assert methods == ["POST", "GET", "GET", "GET"]  # 302 turns POST into GET, as Go


async def test_redirects_not_followed_and_redirect_loop() -> None:
    async def loop_(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def once(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/loop")

    async with http_server({"/loop": loop_, "/once": once}) as port:
        no_follow = await probe(http_module(follow_redirects=False), f"127.0.0.1:{port}/once")
        looping = await probe(http_module(), f"127.0.0.1:{port}/loop")
        accepted = await probe(
            http_module(no_follow_redirects=True, valid_status_codes=[301]),
            f"127.0.0.1:{port}/once",
        )
    # blackbox 0.23 reports 1 redirect when not following and 11 when it gave up.
    assert_failed(no_follow, "http_status")
    assert value(no_follow, "probe_http_redirects") == 1
    assert value(no_follow, "probe_http_status_code") == 301
    assert_failed(looping, "http_status")
    assert value(looping, "probe_http_redirects") == 11
    assert value(looping, "probe_http_status_code") == 302
    assert accepted.success


async def test_redirect_to_unsupported_scheme_is_protocol() -> None:
    async def ftp(request: web.Request) -> web.Response:
        raise web.HTTPFound("ftp://files.example/x")

    async with http_server({"/": ftp}) as port:
        out = await probe(http_module(), f"127.0.0.1:{port}/")
    assert_failed(out, "protocol")
    assert value(out, "probe_http_redirects") == 1


# --- bodies: compression, regexes, size limit --------------------------------------------------

TEXT = b"The quick brown fox jumps over the lazy dog. " * 200


@pytest.mark.parametrize(
    ("compression", "encode"),
    [
        ("gzip", gzip.compress),
        ("br", brotli.compress),
        ("deflate", zlib.compress),  # zlib-wrapped, as RFC 9110 says
        ("deflate", lambda b: zlib.compress(b, wbits=-15)),  # raw DEFLATE, as many servers send
        ("identity", lambda b: b),
    ],
)
async def test_compression_decodes_and_counts(
    compression: str, encode: Callable[[bytes], bytes]
) -> None:
    accept: list[str] = []
    wire = encode(TEXT)

    async def compressed(request: web.Request) -> web.Response:
        accept.append(request.headers.get("Accept-Encoding", ""))
        return web.Response(body=wire, headers={"Content-Encoding": compression})

    module = http_module(compression=compression, fail_if_body_not_matches_regexp=["lazy dog"])
    async with http_server({"/": compressed}) as port:
        out = await probe(module, f"127.0.0.1:{port}/")
    assert out.success, out.log.text()
    assert accept == [compression]
    assert value(out, "probe_http_content_length") == len(wire)
    assert value(out, "probe_http_uncompressed_body_length") == len(TEXT)


async def test_compression_configured_but_body_plain_fails_as_protocol() -> None:
    async with http_server({"/": hello()}) as port:
        out = await probe(http_module(compression="gzip"), f"127.0.0.1:{port}/")
    assert_failed(out, "protocol")
    assert value(out, "probe_http_uncompressed_body_length") == 0


async def test_body_regexes() -> None:
    async with http_server({"/": hello("status: degraded\n")}) as port:
        target = f"127.0.0.1:{port}/"
        bad = await probe(http_module(fail_if_body_matches_regexp=["degraded|down"]), target)
        missing = await probe(http_module(fail_if_body_not_matches_regexp=["^status: ok"]), target)
        good = await probe(http_module(fail_if_body_not_matches_regexp=["status: \\w+"]), target)
    assert_failed(bad, "body_regex")
    assert value(bad, "probe_failed_due_to_regex") == 1
    assert_failed(missing, "body_regex")
    assert good.success
    assert value(good, "probe_failed_due_to_regex") == 0


async def test_header_regexes() -> None:
    handler = hello("ok", **{"X-Cache": "MISS", "Server": "nginx/1.25"})
    async with http_server({"/": handler}) as port:
        target = f"127.0.0.1:{port}/"
        matched = await probe(
            http_module(fail_if_header_matches=[{"header": "x-cache", "regexp": "MISS"}]), target
        )
        not_matched = await probe(
            http_module(fail_if_header_not_matches=[{"header": "Server", "regexp": "^apache"}]),
            target,
        )
        absent = await probe(
            http_module(fail_if_header_matches=[{"header": "X-Debug", "regexp": ".*"}]), target
        )
        allowed_absent = await probe(
            http_module(
                fail_if_header_matches=[
                    {"header": "X-Debug", "regexp": ".*", "allow_missing": True}
                ],
                fail_if_header_not_matches=[{"header": "Server", "regexp": "nginx"}],
            ),
            target,
        )
    for out in (matched, not_matched, absent):
        assert_failed(out, "header_regex")
        assert value(out, "probe_failed_due_to_regex") == 1
    assert allowed_absent.success
    assert value(allowed_absent, "probe_failed_due_to_regex") == 0


HUNDRED_MB = 100 * 1024 * 1024


async def _hundred_mb(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {HUNDRED_MB}\r\n\r\n".encode())
    block = b"\0" * (1 << 20)
    for _ in range(100):
        writer.write(block)
        await writer.drain()


async def test_100mb_body_over_size_limit_stops_early() -> None:
    limit = 1 << 20
    async with raw_server(_hundred_mb) as port:
        out = await probe(http_module(body_size_limit="1MB"), f"127.0.0.1:{port}/")
    assert_failed(out, "protocol")
    assert value(out, "probe_http_content_length") == HUNDRED_MB
    length = value(out, "probe_http_uncompressed_body_length")
    assert length is not None and limit < length <= limit + (1 << 20)


async def test_100mb_body_is_streamed_not_buffered() -> None:
    async with raw_server(_hundred_mb) as port:
        tracemalloc.start()
        try:
            out = await probe(http_module(), f"127.0.0.1:{port}/", timeout=30)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert out.success, out.log.text()
    assert value(out, "probe_http_uncompressed_body_length") == HUNDRED_MB
    assert peak < 16 * 1024 * 1024  # counted as it streams: never held in memory


# --- targets that misbehave -------------------------------------------------------------------


async def test_slow_target_times_out_at_the_deadline() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(30)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    async with raw_server(slow) as port:
        out = await probe(http_module(), f"127.0.0.1:{port}/", timeout=0.5)
    assert_failed(out, "timeout")
    assert 0.5 <= out.duration < 3.0
    assert phase(out, "connect") > 0  # what finished before the deadline is still reported
    assert "phase=processing" in out.log.text()


async def test_target_that_never_answers_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads forever, never writes

    async with raw_server(silent) as port:
        out = await probe(http_module(), f"127.0.0.1:{port}/", timeout=0.4)
    assert_failed(out, "timeout")
    assert value(out, "probe_http_status_code") == 0


async def test_non_http_listener_fails_fast_as_protocol() -> None:
    async def ssh(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
        await writer.drain()
        await reader.read()

    async with raw_server(ssh) as port:
        out = await probe(http_module(), f"127.0.0.1:{port}/", timeout=10)
    assert_failed(out, "protocol")
    assert out.duration < 5  # judged from the first bytes, not by waiting for the deadline
    assert "malformed HTTP response" in out.log.text()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"", "connection closed before any response"),
        (b"HTTP/1.1 abc\r\n\r\n", "malformed HTTP status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "5 of 10 body bytes"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size"),
    ],
)
async def test_malformed_responses_are_protocol(answer: bytes, message: str) -> None:
    async def broken(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)

    async with raw_server(broken) as port:
        out = await probe(http_module(), f"127.0.0.1:{port}/")
    assert_failed(out, "protocol")
    assert message in out.log.text()


async def test_http_version_check() -> None:
    async def http10(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nold but fine")

    async with raw_server(http10) as port:
        strict = await probe(http_module(valid_http_versions=["HTTP/1.1"]), f"127.0.0.1:{port}")
        lenient = await probe(http_module(valid_http_versions=["HTTP/1.0"]), f"127.0.0.1:{port}")
    assert_failed(strict, "http_version")
    assert value(strict, "probe_http_version") == 1.0
    assert lenient.success
    assert value(lenient, "probe_http_uncompressed_body_length") == len("old but fine")


async def test_connection_refused_and_unknown_host() -> None:
    refused = await probe(http_module(), f"http://127.0.0.1:{free_port()}/")
    unknown = await probe(http_module(), "http://no-such-host.invalid/")
    bad_url = await probe(http_module(), "http://127.0.0.1:99999/")
    assert_failed(refused, "connect")
    assert value(refused, "probe_http_status_code") == 0
    assert phase(refused, "connect") > 0 and phase(refused, "processing") == 0
    assert_failed(unknown, "dns")
    assert value(unknown, "probe_ip_protocol") == 0
    assert_failed(bad_url, "connect")


async def test_fail_if_not_ssl_on_plain_http() -> None:
    async with http_server({"/": hello()}) as port:
        out = await probe(http_module(fail_if_not_ssl=True), f"127.0.0.1:{port}/")
    assert_failed(out, "ssl_expected")
    assert value(out, "probe_http_status_code") == 200


async def test_ipv6_loopback() -> None:
    async with http_server({"/": hello()}, host="::1") as port:
        out = await probe(http_module(preferred_ip_protocol="ip6"), f"http://[::1]:{port}/")
        v6_only = await probe(
            http_module(preferred_ip_protocol="ip4", ip_protocol_fallback=False),
            f"http://[::1]:{port}/",
        )
    assert out.success, out.log.text()
    assert value(out, "probe_ip_protocol") == 6
    assert_failed(v6_only, "dns")  # ip4 only, and the target is an IPv6 literal


# --- SSRF guard -----------------------------------------------------------------------------------


async def test_ssrf_metadata_denied_by_default() -> None:
    out = await probe(http_module(), "http://169.254.169.254/latest/meta-data/")
    assert_failed(out, "blocked_target")
    assert phase(out, "connect") == 0  # refused before any connection
    assert "cloud metadata" in out.log.text()


async def test_ssrf_checked_after_dns() -> None:
    module = decode(
        {
            "prober": "http",
            "http": {"preferred_ip_protocol": "ip4"},
            "ssrf": {"deny_cidrs": ["127.0.0.0/8"]},
        },
        Module,
    )
    async with http_server({"/": hello()}) as port:
        out = await probe(module, f"http://localhost:{port}/")  # the name itself is not denied
    assert_failed(out, "blocked_target")
    assert value(out, "probe_ip_protocol") == 4  # resolved, then refused
    assert value(out, "probe_http_status_code") == 0


async def test_ssrf_checked_on_every_redirect_hop() -> None:
    port_box: list[int] = []

    async def to_internal(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.2:{port_box[0]}/internal")

    async def internal(request: web.Request) -> web.Response:
        return web.Response(text="secret")

    module = decode(
        {
            "prober": "http",
            "http": {"preferred_ip_protocol": "ip4"},
            "ssrf": {"deny_cidrs": ["127.0.0.2/32"]},
        },
        Module,
    )
    async with http_server({"/": to_internal, "/internal": internal}) as port:
        port_box.append(port)
        out = await probe(module, f"http://127.0.0.1:{port}/")
    assert_failed(out, "blocked_target")
    assert value(out, "probe_http_redirects") == 1
    assert value(out, "probe_http_status_code") == 302
    assert "127.0.0.2" in out.log.text()


# --- proxies ------------------------------------------------------------------------------------


async def test_http_through_forward_proxy_with_auth() -> None:
    seen: list[str] = []
    auth = "Basic " + base64.b64encode(b"p:pw").decode()
    routes = {"/": hello("via proxy"), "/x": hello("via proxy")}
    async with http_server(routes) as port, forward_proxy(seen, auth) as proxy:
        out = await probe(
            http_module(proxy_url=f"http://p:pw@127.0.0.1:{proxy}"),
            f"http://127.0.0.1:{port}/x?q=1",
        )
        bypass = await probe(
            http_module(proxy_url=f"http://127.0.0.1:{proxy}", no_proxy="127.0.0.0/8"),
            f"http://127.0.0.1:{port}/",
        )
    assert out.success, out.log.text()
    assert seen == [f"GET http://127.0.0.1:{port}/x?q=1 HTTP/1.1"]  # bypass went direct
    assert bypass.success
    assert value(out, "probe_http_uncompressed_body_length") == len("via proxy")


async def test_proxy_refusing_credentials_fails_with_status() -> None:
    seen: list[str] = []
    async with http_server({"/": hello()}) as port, forward_proxy(seen, "Basic x") as proxy:
        out = await probe(http_module(proxy_url=f"http://127.0.0.1:{proxy}"), f"127.0.0.1:{port}/")
    assert_failed(out, "http_status")
    assert value(out, "probe_http_status_code") == 407


async def test_configured_user_agent_replaces_the_default() -> None:
    seen: list[list[tuple[str, str]]] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append([(k.decode().lower(), v.decode()) for k, v in request.raw_headers])
        return web.Response(text="ok")

    module = http_module(
        headers={"User-Agent": "shop-monitor/2", "Accept-Encoding": "identity"},
    )
    async with http_server({"/": echo}) as port:
        out = await probe(module, f"http://127.0.0.1:{port}/")
        default = await probe(http_module(), f"http://127.0.0.1:{port}/")
    assert out.success and default.success
    agents = [[v for k, v in headers if k == "user-agent"] for headers in seen]
    encodings = [[v for k, v in headers if k == "accept-encoding"] for headers in seen]
    assert agents[0] == ["shop-monitor/2"]  # exactly one, the configured one
    assert encodings[0] == ["identity"]
    assert len(agents[1]) == 1 and agents[1][0].startswith("twinlens/")
