"""The gateway's ASGI app: a raw beacon endpoint in front of a small Starlette app.

``POST /v1/beacon`` is the hot path, so it is plain ASGI: scan the headers once, cheap
refusals first (synthetic, bot, rate limit, media type, size, origin), then decode,
check, turn into observations and record. Everything else — ``/metrics``, ``/sdk.js``,
``/-/healthy``, ``/-/ready``, ``POST /-/reload`` — is Starlette::

    app = create_app("gateway.yml")          # or None for the embedded config
    uvicorn.run(app, host="127.0.0.1", port=9117)

Every refusal is counted in ``rum_beacons_rejected_total{reason}`` and answered with the
status in :data:`rum_gateway.protect.REASONS` and a JSON body ``{"error": reason,
"detail": ...}``. Beacons from bots and synthetic runs get 204, so pages never retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, NamedTuple

from prometheus_client import Gauge
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from rum_gateway.config import Config, load_config
from rum_gateway.dimensions import (
    BoundedCache,
    GeoSource,
    RouteResolver,
    RouteTemplates,
    TrustedProxies,
    UserAgentClassifier,
)
from rum_gateway.ingest import (
    PURE_ENV,
    RequestReader,
    compiled_available,
    compiled_in_use,
    recorder,
    request_reader,
)
from rum_gateway.metrics import RumMetrics
from rum_gateway.observations import ApiCallLabels, connection_of
from rum_gateway.protect import (
    REASONS,
    SYNTHETIC_HEADER,
    OriginPolicy,
    RateLimiter,
    is_synthetic,
    retry_after,
)
from rum_gateway.schema import SchemaError, check_values, decode_beacon
from twinlens.runtime.config import ConfigError
from twinlens.runtime.reload import Reloader
from twinlens.runtime.selfmetrics import CONTENT_TYPE_LATEST, new_registry, render

__all__ = ["BEACON_PATH", "DEFAULT_SDK_PATH", "Gateway", "Pipeline", "create_app"]

log = logging.getLogger("rum_gateway")

BEACON_PATH = "/v1/beacon"
#: Built by ``make sdk``; not in git.
DEFAULT_SDK_PATH = Path(__file__).parent / "sdk" / "dist" / "twinlens-rum.js"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_SYNTHETIC_HEADER = SYNTHETIC_HEADER.encode()
_MEDIA_TYPES = frozenset({"application/json", "text/plain", ""})
#: Longest header combination :meth:`Pipeline.facts` remembers (bytes, all together).
_MAX_CACHED_HEADERS = 4096
_PREFLIGHT_HEADERS = [
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-allow-headers", b"content-type, content-encoding"),
    (b"access-control-max-age", b"86400"),
    (b"vary", b"origin"),
]


class _AppRuntime:
    """One app's compiled rules."""

    __slots__ = ("allow_missing_origin", "api_calls", "name", "origins", "routes")

    def __init__(
        self, name: str, origins: list[str], allow_missing: bool, routes: list[str], api: list[str]
    ):
        self.name = name
        self.origins = OriginPolicy(origins)
        self.allow_missing_origin = allow_missing
        self.routes = RouteResolver(RouteTemplates(routes))
        self.api_calls = ApiCallLabels(RouteTemplates(api))


class Pipeline:
    """Everything the ingest path derives from one config, built before it is swapped in
    (the GeoIP database is opened here, so a bad one refuses the reload)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.apps = {
            name: _AppRuntime(
                name, app.origins, app.allow_missing_origin, app.routes, app.api_routes
            )
            for name, app in config.apps.items()
        }
        self.any_origin = OriginPolicy([o for app in config.apps.values() for o in app.origins])
        self.trusted = TrustedProxies(config.trusted_proxies)
        try:
            self.geo = GeoSource(config.geo.country_header, config.geo.database)
        except Exception as exc:  # maxminddb's errors for a file that is not a database
            raise ConfigError([f"geo.database: cannot be opened: {exc}"]) from None
        rate = config.limits.rate_limit
        self.limiter = RateLimiter(rate.per_second, rate.burst, rate.max_clients)
        self.user_agents = UserAgentClassifier()
        self.max_body = int(config.limits.max_body_size)
        self.max_events = config.limits.max_events
        self.reject_bots = config.protection.reject_bots
        self.reject_headless = config.protection.reject_headless
        self.country_header = config.geo.country_header.lower().encode()
        # what a distinct combination of headers decides, and where a client is (bounded)
        self._facts: BoundedCache[bytes, RequestFacts] = BoundedCache(16_384)
        self._clients: BoundedCache[int, tuple[int, str, str]] = BoundedCache(65_536)
        #: :meth:`read_request`, compiled when it is built
        self.read: RequestReader = request_reader(self, _SYNTHETIC_HEADER, _MAX_CACHED_HEADERS)

    def facts(self, get: Callable[..., Any]) -> RequestFacts:
        """The facts of a request's headers (``get`` reads the header dict), cached per
        distinct combination: real traffic repeats a few hundred of them."""
        values = (
            get(b"user-agent", b""),
            get(b"origin", b""),
            get(b"content-type", b""),
            get(b"content-encoding", b""),
            get(b"sec-ch-ua-mobile", b""),
            get(b"sec-ch-ua", b""),
            get(_SYNTHETIC_HEADER, b""),
        )
        # One bytes object, so a lookup compares one block of memory, not seven objects.
        # HTTP servers refuse a newline in a header value; were one let through, the key
        # would be ambiguous, and is not cached (nor looked up) at all.
        key = b"\n".join(values)
        cacheable = len(key) <= _MAX_CACHED_HEADERS and key.count(b"\n") == len(values) - 1
        facts = self._facts.get(key) if cacheable else None
        if facts is None:
            facts = self._classify(*values)
            if cacheable:  # a flood of huge ones is not kept either
                self._facts[key] = facts
        return facts

    def _classify(
        self,
        ua_raw: bytes,
        origin_raw: bytes,
        ctype_raw: bytes,
        encoding_raw: bytes,
        mobile: bytes,
        brands: bytes,
        synthetic: bytes,
    ) -> RequestFacts:
        ua = ua_raw.decode("latin-1")
        origin = origin_raw.decode("latin-1") or None
        # No Vary: a 204 to a POST is never cached (the preflight answer carries it).
        allowed = origin is not None and self.any_origin.allows(origin)
        cors = [(b"access-control-allow-origin", origin_raw)] if allowed else []
        info = self.user_agents(ua, mobile.decode("latin-1"), brands.decode("latin-1"))
        early = None
        if is_synthetic(ua, synthetic.decode("latin-1")):
            early = "synthetic"
        elif (info.bot and self.reject_bots) or (info.headless and self.reject_headless):
            early = "bot"
        media = None
        ctype = ctype_raw.split(b";", 1)[0].strip().lower().decode("latin-1")
        encoding = encoding_raw.strip().lower()
        if ctype not in _MEDIA_TYPES:
            detail = f"Content-Type {ctype[:100]!r}: send application/json or text/plain"
            media = ("unsupported_media", detail)
        elif encoding not in (b"", b"identity", b"gzip"):
            media = ("unsupported_media", "Content-Encoding must be gzip or identity")
        return RequestFacts(
            early, media, encoding == b"gzip", origin, allowed, cors, info.device, info.browser
        )

    def locate(self, scope: Scope, get: Callable[..., Any]) -> tuple[int, str, str]:
        """(rate-limit key, country, region) of the client, cached by a salted hash of the
        peer, ``X-Forwarded-For`` and the country header: no address is kept."""
        peer = scope["client"][0] if scope.get("client") else ""
        xff = get(b"x-forwarded-for")
        header = get(self.country_header) if self.country_header else None
        digest = hash((peer, xff, header))
        return self._clients.get(digest) or self._place(digest, peer, xff, header)

    def _place(
        self, digest: int, peer: str, xff: bytes | None, header: bytes | None
    ) -> tuple[int, str, str]:
        """:meth:`locate` for a client not in the cache: work it out and remember it."""
        ip, via_proxy = self.trusted.client_ip(peer, xff.decode("latin-1") if xff else None)
        country_value = header.decode("latin-1") if header and via_proxy else None
        country, region = self.geo.locate(country_value, ip)
        where = self._clients[digest] = (hash(ip), country, region)
        return where

    def read_request(
        self, scope: Scope, now: float
    ) -> tuple[RequestFacts, tuple[int, str, str] | None, float, bytes | None]:
        """What a beacon request's headers say: its :meth:`facts`; where the client is
        (:meth:`locate`; None when the facts already refuse it); the rate limiter's answer
        at ``now`` (0.0, or seconds until a token is due; a token is spent only when the
        facts let the request through); and ``Content-Length``.

        :mod:`rum_gateway.ingest` swaps in the compiled twin of this when it is built.
        """
        # One C-level pass over the headers; a repeated header counts once (the last).
        get = dict(scope["headers"]).get
        facts = self.facts(get)
        if facts.early is not None:
            return facts, None, 0.0, get(b"content-length")
        where = self.locate(scope, get)
        return facts, where, self.limiter.take(where[0], now), get(b"content-length")

    @classmethod
    def load(cls, path: str | None) -> Pipeline:
        """The Reloader's loader: read, validate, then build (or raise ConfigError)."""
        config = load_config(path)
        try:
            return cls(config)
        except ConfigError as exc:
            raise ConfigError(exc.errors, path or "<embedded>") from None


class RequestFacts(NamedTuple):
    """What one combination of request headers decides (see :meth:`Pipeline.facts`)."""

    early: str | None  # "synthetic" or "bot": answered 204 before anything else
    media: tuple[str, str] | None  # (reason, detail) for a Content-Type / -Encoding refused
    gzip: bool
    origin: str | None
    origin_allowed: bool  # by some app (the beacon's own app is checked after decoding)
    cors: list[tuple[bytes, bytes]]  # response headers
    device: str
    browser: str


class SdkAsset:
    """``/sdk.js``: the SDK bundle read once (start, reload), served with an ETag."""

    __slots__ = ("body", "etag", "path", "version")

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.body: bytes | None = path.read_bytes()
        except OSError:
            self.body = None
        digest = hashlib.sha256(self.body or b"").hexdigest()[:20]
        self.version = digest
        self.etag = f'"{digest}"'

    def response(self, request: Request) -> Response:
        if self.body is None:
            return PlainTextResponse(
                f"The browser SDK is not built: {self.path} is missing. Run `make sdk` "
                "(it bundles rum_gateway/sdk with esbuild), then reload the gateway.\n",
                status_code=404,
            )
        # A URL pinned to this content (?v=<version>) never changes: cache it for a year.
        # The plain URL is revalidated daily with the ETag.
        pinned = request.query_params.get("v") == self.version
        headers = {
            "ETag": self.etag,
            "Cache-Control": "public, max-age=31536000, immutable"
            if pinned
            else "public, max-age=86400",
            "Access-Control-Allow-Origin": "*",
        }
        inm = request.headers.get("if-none-match", "")
        if self.etag in [t.strip().removeprefix("W/") for t in inm.split(",")]:
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type="application/javascript", headers=headers)


def _json_error(reason: str, detail: str) -> bytes:
    return json.dumps({"error": reason, "detail": detail[:300]}).encode()


class Gateway:
    """The ASGI app (see the module docstring). Attributes are for tests and the demo:
    ``metrics`` (the rum_* families), ``registry`` (self-metrics), ``reloader``."""

    def __init__(
        self,
        config_path: str | None,
        *,
        sdk_path: str | Path | None = None,
        install_sighup: bool = False,
    ) -> None:
        self.registry = new_registry("gateway")
        self.reloader: Reloader[Pipeline] = Reloader(
            config_path, Pipeline.load, self.registry, "twinlens_gateway"
        )
        self.metrics = RumMetrics(self.reloader.current.config)
        self._record, self._accept = recorder(self.metrics, self.accept)
        self.sdk_path = Path(sdk_path) if sdk_path else DEFAULT_SDK_PATH
        self.sdk = SdkAsset(self.sdk_path)
        self.ready = False
        self._install_sighup = install_sighup
        self.reloader.on_change(self._config_changed)
        Gauge(
            "twinlens_gateway_series",
            "Series the rum_* families hold now.",
            registry=self.registry,
        ).set_function(lambda: self.metrics.series)
        Gauge(
            "twinlens_gateway_series_limit",
            "The configured series budget (limits.max_series).",
            registry=self.registry,
        ).set_function(lambda: self.metrics.budget.limit)
        Gauge(
            "twinlens_gateway_rate_limit_clients",
            "Clients the rate limiter tracks now (bounded by limits.rate_limit.max_clients).",
            registry=self.registry,
        ).set_function(lambda: len(self.reloader.current.limiter))
        Gauge(
            "twinlens_gateway_sdk_available",
            "Whether /sdk.js has a built SDK to serve (1) or answers 404 (0).",
            registry=self.registry,
        ).set_function(lambda: 0 if self.sdk.body is None else 1)
        compiled = compiled_in_use()
        Gauge(
            "twinlens_gateway_ingest_compiled",
            "Whether beacons go through the compiled ingest path (1) or the Python one (0).",
            registry=self.registry,
        ).set(1 if compiled else 0)
        if not compiled_available():
            log.warning(
                "rum_gateway._ingest is not built (was there a C compiler at install?): "
                "beacons go through the Python ingest path, ~1.5x the CPU per beacon"
            )
        elif not compiled:
            log.info("%s=1: beacons go through the Python ingest path", PURE_ENV)
        self._http = Starlette(
            routes=[
                Route("/metrics", self._metrics, methods=["GET"]),
                Route("/sdk.js", self._sdk, methods=["GET"]),
                Route("/-/healthy", self._healthy, methods=["GET"]),
                Route("/-/ready", self._ready, methods=["GET"]),
                Route("/-/reload", self._reload, methods=["POST", "PUT"]),
                Route("/", self._index, methods=["GET"]),
            ],
            lifespan=self._lifespan,
        )

    @property
    def config(self) -> Config:
        return self.reloader.current.config

    def _config_changed(self, old: Pipeline, new: Pipeline) -> None:
        # Keep the counts when the families stay the same; a new view set or budget
        # starts fresh families (Prometheus sees a counter reset, which rate() handles).
        if self.metrics.compatible(new.config):
            self.metrics.update_apps(new.config)
        else:
            self.metrics = RumMetrics(new.config)
            self._record, self._accept = recorder(self.metrics, self.accept)
        rate_old, rate_new = old.config.limits.rate_limit, new.config.limits.rate_limit
        if rate_old == rate_new:
            new.limiter = old.limiter  # clients keep their buckets across a reload
        self.sdk = SdkAsset(self.sdk_path)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        if self._install_sighup:
            self.reloader.install_sighup(asyncio.get_running_loop())
        self.ready = True
        yield
        self.ready = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == BEACON_PATH:
            await self._beacon(scope, receive, send)
        else:
            await self._http(scope, receive, send)

    # --- the beacon endpoint ----------------------------------------------------------------

    async def _beacon(self, scope: Scope, receive: Receive, send: Send) -> None:
        p = self.reloader.current
        method = scope["method"]
        if method != "POST":
            if method == "OPTIONS":
                origin = dict(scope["headers"]).get(b"origin", b"").decode("latin-1")
                await self._preflight(p, origin or None, send)
            else:
                await _reply(send, 405, [(b"allow", b"POST, OPTIONS")], b"")
            return
        # 1. traffic that is not a real user (answered 204, left out of RUM), then the
        # client: its IP serves the rate limit and geo, then is dropped
        facts, where, wait, length = p.read(scope, time.monotonic())
        cors = facts.cors
        if where is None:  # exactly when facts.early is "synthetic" or "bot"
            await self._refuse(send, cors, str(facts.early), "")
            return
        _, country, region = where
        if wait:
            extra = [(b"retry-after", retry_after(wait).encode())]
            await self._refuse(
                send, cors, "rate_limited", "too many beacons from this client", extra
            )
            return
        # 3. the body: media type, encoding, size (raw and decompressed)
        if facts.media is not None:
            await self._refuse(send, cors, *facts.media)
            return
        limit = p.max_body
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._refuse(send, cors, "too_large", f"body over {limit} bytes")
            return
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away: nothing to answer, nothing learnt
        body: bytes | None = message.get("body", b"")
        if message.get("more_body", False):
            try:
                body = await _read_rest(receive, body or b"", limit)
            except _Disconnected:
                return
        if body is None or len(body) > limit:
            await self._refuse(send, cors, "too_large", f"body over {limit} bytes")
            return
        if facts.gzip:
            try:
                body = _gunzip(body, limit)
            except SchemaError as exc:
                await self._refuse(send, cors, exc.reason, str(exc))
                return
        # 4. origin (against every app first: cheap, before decoding), then the beacon
        # 4. origin, the beacon, its app; 5. dimensions, observations, record
        refused = self._accept(p, body, facts, country, region)
        if refused is not None:
            await self._refuse(send, cors, *refused)
            return
        await send({"type": "http.response.start", "status": 204, "headers": cors})
        await send({"type": "http.response.body", "body": b""})

    def accept(
        self, p: Pipeline, body: bytes, facts: RequestFacts, country: str, region: str
    ) -> tuple[str, str] | None:
        """Decode a beacon body whose request headers passed, check it against its app
        and record it: None, or the (reason, detail) it is refused with.

        The origin is checked against every app first (cheap, before decoding), then
        against the beacon's own. :mod:`rum_gateway.ingest` puts the compiled twin of
        this in ``_accept`` when it is built; that one comes back here for anything
        but a beacon it records.
        """
        origin = facts.origin
        if origin is not None and not facts.origin_allowed:
            return "origin", f"origin {origin[:100]!r} is not allowed"
        try:
            beacon = decode_beacon(body)
        except SchemaError as exc:
            return exc.reason, str(exc)
        app = p.apps.get(beacon.app)
        if app is None:
            return "unknown_app", f"app {beacon.app[:64]!r} is not configured"
        if origin is None:
            if not app.allow_missing_origin:
                return "origin", "Origin header missing"
        elif not app.origins.allows(origin):
            return "origin", f"origin {origin[:100]!r} is not allowed for this app"
        problem = check_values(beacon, p.max_events)
        if problem is not None:
            return problem.reason, str(problem)
        connection = connection_of(beacon.conn)
        self._record(beacon, app, facts.device, facts.browser, country, region, connection)
        return None

    def _refuse(
        self,
        send: Send,
        cors: list[tuple[bytes, bytes]],
        reason: str,
        detail: str,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> Awaitable[None]:
        """Count the refusal and answer with its status (and a JSON body unless 204)."""
        self.metrics.reject(reason)
        status = REASONS[reason]
        if status == 204:
            return _reply(send, 204, cors, b"")
        headers = [*cors, (b"content-type", b"application/json"), *(extra or [])]
        return _reply(send, status, headers, _json_error(reason, detail))

    async def _preflight(self, p: Pipeline, origin: str | None, send: Send) -> None:
        if origin is None or not p.any_origin.allows(origin):
            await _reply(send, 403, [(b"content-type", b"text/plain")], b"origin not allowed\n")
            return
        headers = [(b"access-control-allow-origin", origin.encode("latin-1")), *_PREFLIGHT_HEADERS]
        await _reply(send, 204, headers, b"")

    # --- the Starlette side -----------------------------------------------------------------

    async def _metrics(self, request: Request) -> Response:
        gzip = "gzip" in request.headers.get("accept-encoding", "")
        metrics = self.metrics

        async def body() -> AsyncIterator[bytes]:
            deflater = zlib.compressobj(1, wbits=31) if gzip else None
            for chunk in metrics.render_chunks():
                if chunk:  # (an empty piece is a flush step)
                    data = chunk.encode()
                    yield deflater.compress(data) if deflater else data
                await asyncio.sleep(0)  # let waiting beacons in between pieces
            data = render(self.registry)
            if deflater:
                yield deflater.compress(data) + deflater.flush()
            else:
                yield data

        headers = {"Content-Encoding": "gzip"} if gzip else {}
        return StreamingResponse(body(), media_type=CONTENT_TYPE_LATEST, headers=headers)

    async def _sdk(self, request: Request) -> Response:
        return self.sdk.response(request)

    async def _healthy(self, request: Request) -> Response:
        return PlainTextResponse("Healthy\n")

    async def _ready(self, request: Request) -> Response:
        if not self.ready:
            return PlainTextResponse("Not ready\n", status_code=503)
        return PlainTextResponse("Ready\n")

    async def _reload(self, request: Request) -> Response:
        error = await asyncio.get_running_loop().run_in_executor(None, self.reloader.reload)
        if error:
            return PlainTextResponse(f"failed to reload config: {error}\n", status_code=500)
        return PlainTextResponse("config reloaded\n")

    async def _index(self, request: Request) -> Response:
        apps = ", ".join(sorted(self.config.apps))
        return PlainTextResponse(
            "twinlens RUM gateway\n\n"
            f"POST {BEACON_PATH}  beacons (apps: {apps})\n"
            "GET  /sdk.js      the browser SDK\n"
            "GET  /metrics     rum_* metrics and the gateway's own\n"
        )


class _Disconnected(Exception):
    """The client went away before its body arrived."""


async def _read_rest(receive: Receive, first: bytes, limit: int) -> bytes | None:
    """The rest of a body sent in several messages, or None once it passes ``limit``."""
    chunks = [first]
    size = len(first)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _gunzip(body: bytes, limit: int) -> bytes:
    """A gzip body inflated to at most ``limit`` bytes; SchemaError (``bad_encoding``,
    ``too_large``) otherwise."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        inflated = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise SchemaError("bad_encoding", "body is not valid gzip") from None
    if len(inflated) > limit or inflater.unconsumed_tail:
        raise SchemaError("too_large", f"decompressed body over {limit} bytes")
    if not inflater.eof:
        raise SchemaError("bad_encoding", "gzip stream is truncated")
    return inflated


async def _reply(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(
    config_path: str | None,
    *,
    sdk_path: str | Path | None = None,
    install_sighup: bool = False,
) -> Gateway:
    """The gateway as an ASGI app; raises ConfigError when the config is invalid.

    ``config_path`` None uses the embedded config; ``sdk_path`` overrides where
    ``/sdk.js`` is read from (default :data:`DEFAULT_SDK_PATH`).
    """
    return Gateway(config_path, sdk_path=sdk_path, install_sighup=install_sighup)
