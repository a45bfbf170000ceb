"""The HTTP prober: blackbox_exporter's ``http`` module semantics and metrics, plus why.

One probe is a chain of request/response hops (redirects are followed up to 10, as Go's
client in blackbox). Every hop resolves its host with the module's IP protocol
preference, passes the SSRF guard (after DNS: a name pointing at a metadata address is
caught), opens a fresh connection (blackbox sends ``Connection: close``), upgrades to TLS
when the URL says ``https`` (timed apart from the TCP connect), writes one request and
reads the response. Phases ``resolve``, ``connect``, ``tls``, ``processing`` and
``transfer`` are summed over hops into ``probe_http_duration_seconds``.

Then the final response is judged in blackbox's order — status code, header regexes,
body regexes, body read, HTTP version, SSL expectation — and the first failing check
names ``probe_failure_info{reason}``. Certificate facts are recorded for the final hop,
and for a failed handshake too (see :mod:`exporter.net`).

    >>> await probe_http("https://example.com/", module, metrics, log, loop.time() + 5)
    True
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import ipaddress
import json
import time
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from exporter import net
from exporter.probers._http1 import (
    BodyTooLarge,
    Connection,
    HTTPProtocolError,
    ResponseHead,
    read_body,
    read_head,
    request_bytes,
)
from twinlens.runtime.version import __version__

if TYPE_CHECKING:
    from exporter.config import HTTPProbe, Module, OAuth2
    from exporter.metrics import ProbeMetrics
    from exporter.probelog import ProbeLog

__all__ = ["MAX_REDIRECTS", "USER_AGENT", "probe_http"]

#: Redirects followed before the probe stops (Go's client in blackbox: 10).
MAX_REDIRECTS: Final = 10
USER_AGENT: Final = f"twinlens/{__version__}"
_REDIRECT_STATUS: Final = frozenset({301, 302, 303, 307, 308})
_PHASES: Final = ("resolve", "connect", "tls", "processing", "transfer")
_ALPN: Final = ("http/1.1",)
# The body kept for regex matching when no body_size_limit is set: a target cannot make
# the exporter hold more than this (blackbox would hold it all).
_REGEX_BODY_CAP: Final = 64 << 20
_OAUTH2_BODY_CAP: Final = 1 << 20


class _InvalidTarget(net.NetError):
    """The target is not a usable http(s) URL: nothing to connect to."""

    reason = "connect"


class _BadRedirect(HTTPProtocolError):
    """A redirect's Location is not a usable http(s) URL."""


@dataclass(frozen=True, slots=True)
class _URL:
    scheme: str
    host: str  # without brackets
    port: int
    authority: str  # as written (Host header value)
    target: str  # origin-form request target: path?query
    userinfo: tuple[str, str] | None

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    def text(self) -> str:
        return f"{self.scheme}://{self.authority}{self.target}"


_URL_CACHE_MAX: Final = 4096
# URL text -> parsed URL: the same targets are probed every scrape.
_urls: dict[str, _URL] = {}


def _parse_url(text: str, error: type[net.NetError]) -> _URL:
    url = _urls.get(text)
    if url is None:
        url = _parse_url_uncached(text, error)
        if len(_urls) >= _URL_CACHE_MAX:
            _urls.clear()
        _urls[text] = url
    return url


def _parse_url_uncached(text: str, error: type[net.NetError]) -> _URL:
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise error(f"invalid URL {text!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise error(f"unsupported protocol scheme {parts.scheme!r} in {text!r}")
    if not host:
        raise error(f"no host in URL {text!r}")
    authority = parts.netloc.rpartition("@")[2]
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    userinfo = None
    if parts.username is not None:
        userinfo = (
            urllib.parse.unquote(parts.username),
            urllib.parse.unquote(parts.password or ""),
        )
    return _URL(
        scheme=scheme,
        host=host,
        port=port or (443 if scheme == "https" else 80),
        authority=authority,
        target=target,
        userinfo=userinfo,
    )


def _same_or_subdomain(dest: str, first: str) -> bool:
    """Go's rule for keeping sensitive headers on a redirect."""
    dest, first = dest.lower(), first.lower()
    return dest == first or dest.endswith("." + first)


# --- body sink -----------------------------------------------------------------------------------


class _Body:
    """Counts (and if needed decompresses and keeps) body bytes as they stream in."""

    __slots__ = ("decoder", "finished", "keep", "limit", "parts", "size", "wire")

    def __init__(self, compression: str, limit: int, keep: bool) -> None:
        self.wire = 0
        self.size = 0  # after decompression
        self.limit = limit
        self.keep = keep
        self.parts: list[bytes] = []
        self.decoder: Callable[[bytes | bytearray], bytes] | None = None
        self.finished: Callable[[], bool] = lambda: True
        if compression in ("gzip", "deflate"):
            self._zlib(compression)
        elif compression == "br":
            import brotli

            dec = brotli.Decompressor()
            self.decoder = dec.process
            self.finished = dec.is_finished

    def _zlib(self, compression: str) -> None:
        # gzip has a header; "deflate" in the wild is zlib-wrapped or raw: look at byte 1.
        state: dict[str, Any] = {}

        def decode(data: bytes | bytearray) -> bytes:
            dec = state.get("d")
            if dec is None:
                wbits = 31 if compression == "gzip" else 15
                if compression == "deflate" and not (
                    len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
                ):
                    wbits = -15
                dec = state["d"] = zlib.decompressobj(wbits)
            return bytes(dec.decompress(data))

        self.decoder = decode
        self.finished = lambda: "d" in state and bool(state["d"].eof)

    def __call__(self, data: bytes | bytearray) -> None:
        self.wire += len(data)
        if self.decoder is not None:
            try:
                out: bytes | bytearray = self.decoder(data)
            except Exception as exc:  # zlib.error, brotli.error: the body is not what it says
                raise HTTPProtocolError(f"cannot decompress response body: {exc}") from None
        else:
            out = data
        self.size += len(out)
        if self.limit and self.size > self.limit:
            raise BodyTooLarge(f"response body larger than body_size_limit ({self.limit} bytes)")
        if self.keep:
            if self.size > (self.limit or _REGEX_BODY_CAP):
                raise BodyTooLarge(f"response body larger than {_REGEX_BODY_CAP} bytes for regexes")
            self.parts.append(bytes(out))

    def text(self) -> str:
        return b"".join(self.parts).decode("utf-8", "replace")


# --- one probe -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Probe:
    """The state of one probe across its hops."""

    cfg: HTTPProbe
    module: Module
    metrics: ProbeMetrics
    log: ProbeLog
    deadline: float
    phases: list[float] = field(default_factory=lambda: [0.0] * 5)
    phase: str = "resolve"  # where we are, for the timeout message
    conn: Connection | None = None
    cookies: dict[str, dict[str, str]] = field(default_factory=dict)
    first_hop: bool = True
    first_host: str = ""
    tls_facts: net.TLSFacts | None = None
    status: int = 0
    content_length: int = 0
    body_length: int = 0
    version: float = 0.0
    redirects: int = 0
    ssl: bool = False
    regex_failed: int = 0

    def add(self, phase: int, seconds: float) -> None:
        self.phases[phase] += max(seconds, 0.0)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def record(self) -> None:
        m = self.metrics
        for name, seconds in zip(_PHASES, self.phases, strict=True):
            m.gauge("probe_http_duration_seconds", seconds, phase=name)
        m.gauge("probe_http_status_code", self.status)
        m.gauge("probe_http_content_length", self.content_length)
        m.gauge("probe_http_uncompressed_body_length", self.body_length)
        m.gauge("probe_http_redirects", self.redirects)
        m.gauge("probe_http_ssl", 1 if self.ssl else 0)
        m.gauge("probe_http_version", self.version)
        m.gauge("probe_failed_due_to_regex", self.regex_failed)
        if self.tls_facts is not None:
            net.record_tls(m, self.tls_facts)


async def probe_http(
    target: str, module: Module, metrics: ProbeMetrics, log: ProbeLog, deadline: float
) -> bool:
    """Probe ``target`` (a URL; ``http://`` is assumed without a scheme) with ``module``."""
    probe = _Probe(cfg=module.http, module=module, metrics=metrics, log=log, deadline=deadline)
    try:
        async with asyncio.timeout_at(deadline):
            return await _run(probe, target)
    except TimeoutError:
        log.error("Probe timed out", phase=probe.phase)
        return metrics.fail("timeout")
    except asyncio.CancelledError:
        log.error("Probe timed out", phase=probe.phase)  # the runner's deadline, usually
        raise
    except net.NetError as exc:
        log.error("Error for HTTP request", err=str(exc))
        return metrics.fail(exc.reason)
    finally:
        probe.close()
        probe.record()


async def _run(probe: _Probe, target: str) -> bool:
    cfg, log = probe.cfg, probe.log
    if not target.startswith(("http://", "https://")):
        target = "http://" + target
    url = _parse_url(target, _InvalidTarget)
    probe.first_host = url.host
    method = cfg.method or "GET"
    try:
        body = cfg.request_body()
    except OSError as exc:
        raise _ConfigTrouble(f"body_file {cfg.body_file!r}: {exc.strerror or exc}") from None
    host_header = next((v for k, v in cfg.headers.items() if k.lower() == "host"), None)
    extra = [(k, v) for k, v in cfg.headers.items() if k.lower() != "host"]
    auth = await _authorization(probe, url)
    referer = ""
    while True:
        head = await _round_trip(probe, url, method, body, host_header, extra, auth, referer)
        location = head.get("location")
        if head.status not in _REDIRECT_STATUS or location is None:
            break
        log.info("Received redirect", location=location)
        probe.redirects += 1  # as blackbox: counted before deciding to follow
        if not cfg.redirects or probe.redirects > MAX_REDIRECTS:
            log.info("Not following redirect", redirects=probe.redirects)
            break
        _remember_cookies(probe, url.host, head)
        next_url = _parse_url(urllib.parse.urljoin(url.text(), location), _BadRedirect)
        if head.status in (301, 302, 303) and method not in ("GET", "HEAD"):
            method, body = "GET", b""
        if (next_url.host.lower(), next_url.port) != (url.host.lower(), url.port):
            host_header = None  # a configured Host names the first host only
        if not _same_or_subdomain(next_url.host, probe.first_host):
            auth = None  # credentials never follow a redirect to another site (Go's rule)
            extra = [(k, v) for k, v in extra if k.lower() not in ("authorization", "cookie")]
        referer = "" if url.tls and not next_url.tls else url.text()
        probe.close()
        url = next_url
    # The final response: stream the whole body (bounded), then judge it.
    keep = bool(cfg.fail_if_body_matches_regexp or cfg.fail_if_body_not_matches_regexp)
    sink = _Body(cfg.compression, int(cfg.body_size_limit), keep)
    body_error: HTTPProtocolError | None = None
    conn = probe.conn
    assert conn is not None
    probe.phase = "transfer"
    try:
        await read_body(conn, head, method, sink)
        if sink.decoder is not None and not sink.finished():
            raise HTTPProtocolError(f"truncated or invalid {cfg.compression} response body")
    except HTTPProtocolError as exc:
        body_error = exc
    finally:
        probe.add(4, time.perf_counter() - conn.first_byte_at)
        probe.body_length = sink.size
        probe.close()
    return _judge(probe, head, body_error or sink)


async def _round_trip(
    probe: _Probe,
    url: _URL,
    method: str,
    body: bytes,
    host_header: str | None,
    extra: list[tuple[str, str]],
    auth: str | None,
    referer: str,
) -> ResponseHead:
    """One request on a fresh connection; returns the response head (body unread)."""
    cfg, log = probe.cfg, probe.log
    proxy = _proxy_for(cfg, url)
    probe.phase = "resolve"
    if proxy is not None and cfg.skip_resolve_phase_with_proxy:
        # The proxy resolves the name: only the name rules (and literal IPs) can be checked.
        why = net.check_ssrf(probe.module.ssrf, url.host, _literal(url.host))
        if why is not None:
            log.error("Target blocked by the SSRF guard", target=url.host, err=why)
            raise net.BlockedTarget(why)
        dial_host = url.host
    else:
        where = await net.resolve_target(
            url.host,
            ip_protocol=cfg.preferred_ip_protocol,
            fallback=cfg.ip_protocol_fallback,
            guard=probe.module.ssrf,
            deadline=probe.deadline,
            metrics=probe.metrics if probe.first_hop else None,
            log=log,
        )
        probe.add(0, where.lookup_seconds)
        dial_host = where.ip
    # SNI and the name verified: tls_config.server_name, else the Host header, else the URL
    # host; a redirect to another host uses that host (blackbox's NoServerName transport).
    sni = url.host
    if probe.first_hop:
        sni = cfg.tls_config.server_name or _host_only(host_header) or url.host
    probe.first_hop = False
    host_value = host_header or url.authority
    request_target = url.target
    log.info("Making HTTP request", url=url.text(), host=host_value, ip=dial_host)

    probe.phase = "connect"
    t0 = time.perf_counter()
    try:
        if proxy is None:
            conn = await _connect(probe, dial_host, url.port)
        else:
            conn = await _connect_proxy(probe, proxy, dial_host, url)
            if not url.tls:
                request_target = f"http://{_fmt_authority(dial_host, url.port)}{url.target}"
    finally:  # a refused or timed-out connect still spent this time
        ready = time.perf_counter()
        probe.add(1, ready - t0)
    probe.ssl = url.tls
    if url.tls:
        probe.phase = "tls"
        assert conn.transport is not None
        try:
            tls_transport, facts = await net.start_tls(
                conn.transport,
                conn,
                cfg=cfg.tls_config,
                server_hostname=sni,
                deadline=probe.deadline,
                alpn=_ALPN,
                retry_at=(dial_host, url.port, "") if proxy is None else None,
            )
        except net.TLSHandshakeError as exc:
            probe.add(2, time.perf_counter() - ready)
            probe.tls_facts = exc.facts
            log.error("TLS handshake failed", server_name=sni, err=str(exc))
            raise
        conn.transport = tls_transport
        probe.tls_facts = facts
        now = time.perf_counter()
        probe.add(2, now - ready)
        ready = now

    configured = {k.lower() for k, _ in extra}
    headers = [("Host", host_value)]
    if "user-agent" not in configured:  # a configured User-Agent replaces ours, as in blackbox
        headers.append(("User-Agent", USER_AGENT))
    if cfg.compression and "accept-encoding" not in configured:
        headers.append(("Accept-Encoding", cfg.compression))
    headers.extend(extra)
    names = {k.lower() for k, _ in headers}
    if auth is not None and "authorization" not in names:
        headers.append(("Authorization", auth))
    if proxy is not None and proxy.auth and not url.tls:
        headers.append(("Proxy-Authorization", proxy.auth))
    cookies = probe.cookies.get(url.host.lower())
    if cookies and "cookie" not in names:
        headers.append(("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items())))
    if referer:
        headers.append(("Referer", referer))
    if (body or method in ("POST", "PUT", "PATCH")) and "content-length" not in names:
        headers.append(("Content-Length", str(len(body))))
    headers.append(("Connection", "close"))
    probe.phase = "processing"
    conn.send(request_bytes(method, request_target, headers, body))
    head = await read_head(conn)
    probe.add(3, conn.first_byte_at - ready)
    log.info("Received HTTP response", status_code=head.status)
    probe.status = head.status
    probe.version = float(head.version[5:])
    probe.content_length = _content_length(head, method)
    return head


async def _connect(probe: _Probe, ip: str, port: int) -> Connection:
    conn = Connection()
    probe.conn = conn
    await net.dial(ip, port, deadline=probe.deadline, protocol_factory=lambda: conn)
    return conn


# --- the verdict ---------------------------------------------------------------------------------


def _judge(probe: _Probe, head: ResponseHead, body: _Body | HTTPProtocolError) -> bool:
    """blackbox's checks on the final response, in its order; the first failure names
    the reason."""
    cfg, log, metrics = probe.cfg, probe.log, probe.metrics
    success = True
    if cfg.valid_status_codes:
        if head.status not in cfg.valid_status_codes:
            log.info(
                "Invalid HTTP response status code",
                status_code=head.status,
                valid_status_codes=str(list(cfg.valid_status_codes)),
            )
            success = metrics.fail("http_status")
    elif not 200 <= head.status < 300:
        log.info("Invalid HTTP response status code, wanted 2xx", status_code=head.status)
        success = metrics.fail("http_status")
    if success and (cfg.fail_if_header_matches or cfg.fail_if_header_not_matches):
        if _headers_ok(cfg, head, log):
            probe.regex_failed = 0
        else:
            probe.regex_failed = 1
            success = metrics.fail("header_regex")
    if success and isinstance(body, _Body) and body.keep:
        if _body_ok(cfg, body.text(), log):
            probe.regex_failed = 0
        else:
            probe.regex_failed = 1
            success = metrics.fail("body_regex")
    if isinstance(body, HTTPProtocolError):
        log.info("Failed to read HTTP response body", err=str(body))
        success = metrics.fail(body.reason)
    last_modified = head.get("last-modified")
    if last_modified:
        when = _http_date(last_modified)
        if when is not None:
            metrics.gauge("probe_http_last_modified_timestamp_seconds", when)
    if cfg.valid_http_versions and head.version not in cfg.valid_http_versions:
        log.error("Invalid HTTP version number", version=head.version)
        success = metrics.fail("http_version")
    if probe.ssl and cfg.fail_if_ssl:
        log.error("Final request was over SSL")
        success = metrics.fail("ssl_expected")
    elif not probe.ssl and cfg.fail_if_not_ssl:
        log.error("Final request was not over SSL")
        success = metrics.fail("ssl_expected")
    return success


def _headers_ok(cfg: HTTPProbe, head: ResponseHead, log: ProbeLog) -> bool:
    for spec in cfg.fail_if_header_matches:
        values = head.get_all(spec.header)
        if not values:
            if spec.allow_missing:
                continue
            log.error("Missing required header", header=spec.header)
            return False
        assert spec.regexp is not None
        if any(spec.regexp.pattern.search(v) for v in values):
            log.error(
                "Header matched regular expression",
                header=spec.header,
                regexp=spec.regexp.source,
                value_count=len(values),
            )
            return False
    for spec in cfg.fail_if_header_not_matches:
        values = head.get_all(spec.header)
        if not values:
            if spec.allow_missing:
                continue
            log.error("Missing required header", header=spec.header)
            return False
        assert spec.regexp is not None
        if not any(spec.regexp.pattern.search(v) for v in values):
            log.error(
                "Header did not match regular expression",
                header=spec.header,
                regexp=spec.regexp.source,
                value_count=len(values),
            )
            return False
    return True


def _body_ok(cfg: HTTPProbe, text: str, log: ProbeLog) -> bool:
    for regex in cfg.fail_if_body_matches_regexp:
        if regex.pattern.search(text):
            log.error("Body matched regular expression", regexp=regex.source)
            return False
    for regex in cfg.fail_if_body_not_matches_regexp:
        if not regex.pattern.search(text):
            log.error("Body did not match regular expression", regexp=regex.source)
            return False
    return True


def _http_date(value: str) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _content_length(head: ResponseHead, method: str) -> int:
    """What Go reports as ``resp.ContentLength``: -1 when unknown (chunked, until close)."""
    te = head.get("transfer-encoding")
    if te is not None and "chunked" in te.lower():
        return -1
    value = head.get("content-length")
    if value is not None and value.strip().isdigit():
        return int(value.strip())
    if method == "HEAD":
        return -1
    if head.status in (204, 304) or head.status < 200:
        return 0
    return -1


# --- credentials, cookies, proxies ---------------------------------------------------------------


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


async def _authorization(probe: _Probe, url: _URL) -> str | None:
    """The Authorization header value the module asks for (read at probe time, so
    rotated secret files are picked up), or None."""
    cfg = probe.cfg
    try:
        if cfg.basic_auth is not None:
            return _basic(*cfg.basic_auth.credentials())
        if cfg.bearer_token or cfg.bearer_token_file:
            token = cfg.bearer_token or _read_file(cfg.bearer_token_file)
            return f"Bearer {token}"
        if cfg.authorization is not None:
            return cfg.authorization.header()
    except (OSError, ValueError) as exc:
        raise _ConfigTrouble(str(exc)) from None
    if cfg.oauth2 is not None:
        return await _oauth2_token(probe, cfg.oauth2)
    if url.userinfo is not None:
        return _basic(*url.userinfo)
    return None


class _ConfigTrouble(net.NetError):
    """A secret file named by the module cannot be read at probe time."""

    reason = "internal"


def _read_file(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def _remember_cookies(probe: _Probe, host: str, head: ResponseHead) -> None:
    # blackbox's client has a cookie jar, so a login redirect that sets a session cookie
    # works; this keeps name=value per host for the rest of the probe, nothing more.
    for value in head.get_all("set-cookie"):
        pair = value.split(";", 1)[0]
        name, sep, val = pair.partition("=")
        if sep and name.strip():
            probe.cookies.setdefault(host.lower(), {})[name.strip()] = val.strip()


@dataclass(frozen=True, slots=True)
class _Proxy:
    host: str
    port: int
    auth: str | None


def _proxy_for(cfg: HTTPProbe, url: _URL) -> _Proxy | None:
    proxy_url, no_proxy = cfg.proxy_url, cfg.no_proxy
    if cfg.proxy_from_environment:
        env = urllib.request.getproxies_environment()
        proxy_url, no_proxy = env.get(url.scheme, ""), env.get("no", "")
    if not proxy_url or _bypass(no_proxy, url.host):
        return None
    return _parse_proxy(proxy_url)


def _parse_proxy(proxy_url: str) -> _Proxy:
    parts = urllib.parse.urlsplit(proxy_url)
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise net.ConnectError(f"proxy {proxy_url!r}: only http:// proxies are supported")
    auth = None
    if parts.username is not None:
        auth = _basic(
            urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
        )
    return _Proxy(parts.hostname, parts.port or 80, auth)


def _bypass(no_proxy: str, host: str) -> bool:
    """``no_proxy`` as Go reads it: ``*``, host names (and their subdomains), IPs, CIDRs."""
    host = host.lower()
    ip = _literal(host)
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if ip is not None and "/" in entry:
            try:
                if ipaddress.ip_address(ip) in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = entry.split(":", 1)[0] if entry.count(":") == 1 else entry.strip("[]")
        name = name.lstrip("*").lstrip(".") if name.startswith(("*.", ".")) else name
        if host == name or host.endswith("." + name):
            return True
    return False


async def _connect_proxy(probe: _Probe, proxy: _Proxy, dial_host: str, url: _URL) -> Connection:
    """Connect to the proxy; for https, open a CONNECT tunnel to the target."""
    where = await net.resolve(proxy.host, deadline=probe.deadline, log=probe.log)
    conn = await _connect(probe, where.ip, proxy.port)
    if not url.tls:
        return conn
    authority = _fmt_authority(dial_host, url.port)
    headers = [("Host", authority), ("User-Agent", USER_AGENT)]
    if proxy.auth:
        headers.append(("Proxy-Authorization", proxy.auth))
    for name, values in probe.cfg.proxy_connect_header.items():
        headers.extend((name, v) for v in values)
    conn.send(request_bytes("CONNECT", authority, headers))
    try:
        head = await read_head(conn)
    except HTTPProtocolError as exc:
        raise net.ConnectError(f"proxy CONNECT {authority}: {exc}") from None
    if not 200 <= head.status < 300:
        raise net.ConnectError(f"proxy refused CONNECT {authority}: {head.status} {head.reason}")
    return conn


# --- OAuth 2 client credentials ------------------------------------------------------------------


async def _oauth2_token(probe: _Probe, oauth: OAuth2) -> str:
    """Fetch a token with the client-credentials grant (no cache: blackbox builds a new
    client, hence a new token, per probe too). Transport failures keep their reason;
    a token endpoint that does not hand out a token is ``protocol``."""
    secret = oauth.client_secret
    try:
        if oauth.client_secret_file:
            secret = _read_file(oauth.client_secret_file)
    except OSError as exc:
        raise _ConfigTrouble(f"oauth2 client_secret_file: {exc}") from None
    form = {"grant_type": "client_credentials", **oauth.endpoint_params}
    if oauth.scopes:
        form["scope"] = " ".join(oauth.scopes)
    body = urllib.parse.urlencode(form).encode()
    url = _parse_url(oauth.token_url, _InvalidTarget)
    headers = [
        ("Host", url.authority),
        ("User-Agent", USER_AGENT),
        ("Authorization", _basic(urllib.parse.quote(oauth.client_id), urllib.parse.quote(secret))),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "application/json"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    probe.log.info("Requesting OAuth2 token", token_url=oauth.token_url)
    where = await net.resolve(url.host, deadline=probe.deadline, log=probe.log)
    conn = Connection()
    try:
        await net.dial(where.ip, url.port, deadline=probe.deadline, protocol_factory=lambda: conn)
        if url.tls:
            assert conn.transport is not None
            conn.transport, _ = await net.start_tls(
                conn.transport,
                conn,
                cfg=oauth.tls_config,
                server_hostname=url.host,
                deadline=probe.deadline,
                alpn=_ALPN,
            )
        conn.send(request_bytes("POST", url.target, headers, body))
        head = await read_head(conn)
        sink = _Body("", _OAUTH2_BODY_CAP, keep=True)
        await read_body(conn, head, "POST", sink)
    finally:
        conn.close()
    try:
        token = json.loads(sink.text()) if 200 <= head.status < 300 else {}
        access = token["access_token"]
        kind = str(token.get("token_type") or "Bearer")
    except (ValueError, KeyError, TypeError):
        raise HTTPProtocolError(
            f"oauth2 token endpoint answered {head.status} without an access_token"
        ) from None
    return f"{'Bearer' if kind.lower() == 'bearer' else kind} {access}"


# --- small helpers -------------------------------------------------------------------------------


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def _host_only(host_header: str | None) -> str:
    if not host_header:
        return ""
    try:
        return net.split_host_port(host_header, 0)[0]
    except ValueError:
        return host_header


def _fmt_authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
