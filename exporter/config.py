"""Exporter config: blackbox_exporter's ``modules:`` unchanged, plus twinlens's ``checks:``.

A real ``blackbox.yml`` loads as it is: every module key blackbox knows is accepted, with
blackbox's defaults and cross-field rules (and its wording, so errors are recognisable).
Probers twinlens does not have (``unix``, ``websocket``, HTTP/3) are refused by name rather
than accepted and silently never run. Beyond blackbox, a module may carry ``ssrf:`` (the
target guard) and the config may list scheduled ``checks:``.

Everything is decoded once, at load, into frozen structures: regexes compiled, durations
in seconds, secrets read from their files, so probes never parse anything.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal

import msgspec

from exporter.journey_config import BrowserProbe, JourneyProbe
from twinlens.runtime.config import (
    CIDR,
    ByteSize,
    ConfigError,
    Duration,
    Regex,
    decode,
    load_yaml,
)

__all__ = [
    "EMBEDDED_CONFIG",
    "FAILURE_REASONS",
    "IMPLEMENTED_PROBERS",
    "BasicAuth",
    "BrowserProbe",
    "Check",
    "Config",
    "DNSProbe",
    "GRPCProbe",
    "HTTPProbe",
    "HeaderMatch",
    "ICMPProbe",
    "JourneyProbe",
    "Module",
    "OAuth2",
    "Retries",
    "SSRFGuard",
    "TCPProbe",
    "TLSConfig",
    "load_config",
]

#: The bounded set of ``reason`` label values (``probe_failure_info``,
#: ``twinlens_check_failures_total``). Adding one is a contract change: see DESIGN.md.
FAILURE_REASONS = (
    "dns",
    "connect",
    "tls",
    "timeout",
    "http_status",
    "http_version",
    "body_regex",
    "header_regex",
    "ssl_expected",
    "assertion",
    "step",
    "protocol",
    "blocked_target",
    "internal",
)

#: Probers this build can run; ``register_prober_kind`` lets later modules add theirs.
IMPLEMENTED_PROBERS: set[str] = {"http", "tcp", "dns", "icmp", "grpc", "journey", "browser"}
#: Probers blackbox has and twinlens refuses by name.
_UNSUPPORTED_PROBERS = {"unix", "websocket"}

IPProtocol = Literal["ip4", "ip6", ""]
_TLS_VERSIONS = ("TLS10", "TLS11", "TLS12", "TLS13")


class _Base(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


def _read_secret(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path!r}: {exc.strerror or exc}") from None


# --- HTTP client settings (Prometheus common config, inlined in `http:`) ---------------------


class TLSConfig(_Base, frozen=True):
    ca: str = ""
    ca_file: str = ""
    cert: str = ""
    cert_file: str = ""
    key: str = ""
    key_file: str = ""
    server_name: str = ""
    insecure_skip_verify: bool = False
    min_version: str = ""
    max_version: str = ""

    def __post_init__(self) -> None:
        for field in ("min_version", "max_version"):
            value = getattr(self, field)
            if value and value not in _TLS_VERSIONS:
                raise ValueError(
                    f"unknown TLS version {value!r} in {field} (one of {', '.join(_TLS_VERSIONS)})"
                )
        for inline, file in (("ca", "ca_file"), ("cert", "cert_file"), ("key", "key_file")):
            if getattr(self, inline) and getattr(self, file):
                raise ValueError(f"at most one of {inline} and {file} must be configured")
        has_cert = bool(self.cert or self.cert_file)
        has_key = bool(self.key or self.key_file)
        if has_cert != has_key:
            raise ValueError("client cert and key must be configured together")
        for file in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, file)
            if path and not Path(path).is_file():
                raise ValueError(f"{file} {path!r} does not exist or is not a file")


class BasicAuth(_Base, frozen=True):
    username: str = ""
    username_file: str = ""
    password: str = ""
    password_file: str = ""

    def __post_init__(self) -> None:
        if self.username and self.username_file:
            raise ValueError(
                "at most one of basic_auth username & username_file must be configured"
            )
        if self.password and self.password_file:
            raise ValueError(
                "at most one of basic_auth password & password_file must be configured"
            )

    def credentials(self) -> tuple[str, str]:
        """(user, password), reading files at call time so rotated secrets are picked up."""
        user = self.username or (
            _read_secret(self.username_file, "username_file") if self.username_file else ""
        )
        password = self.password or (
            _read_secret(self.password_file, "password_file") if self.password_file else ""
        )
        return user, password


class Authorization(_Base, frozen=True):
    type: str = "Bearer"
    credentials: str = ""
    credentials_file: str = ""

    def __post_init__(self) -> None:
        if self.type.lower() == "basic":
            raise ValueError(
                'authorization type cannot be set to "basic", use "basic_auth" instead'
            )
        if self.credentials and self.credentials_file:
            raise ValueError(
                "at most one of authorization credentials & credentials_file must be configured"
            )

    def header(self) -> str:
        secret = self.credentials or (
            _read_secret(self.credentials_file, "credentials_file") if self.credentials_file else ""
        )
        return f"{self.type} {secret}"


class OAuth2(_Base, frozen=True):
    client_id: str
    token_url: str
    client_secret: str = ""
    client_secret_file: str = ""
    scopes: list[str] = []
    endpoint_params: dict[str, str] = {}
    tls_config: TLSConfig = TLSConfig()
    proxy_url: str = ""

    def __post_init__(self) -> None:
        if self.client_secret and self.client_secret_file:
            raise ValueError(
                "at most one of oauth2 client_secret & client_secret_file must be configured"
            )


def _check_url(value: str, what: str) -> None:
    if value and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]", value):
        raise ValueError(f"{what} {value!r} is not an absolute URL (e.g. http://proxy:3128)")


def _check_ip_protocol(value: str) -> None:
    if value not in ("ip4", "ip6", ""):
        raise ValueError(f'preferred_ip_protocol must be "ip4" or "ip6", not {value!r}')


def _check_source_ip(value: str) -> None:
    if value:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"source_ip_address {value!r} is not an IP address") from None


# --- HTTP prober -------------------------------------------------------------------------------


class HeaderMatch(_Base, frozen=True):
    header: str = ""
    regexp: Regex | None = None
    allow_missing: bool = False

    def __post_init__(self) -> None:
        if not self.header:
            raise ValueError("header name must be set for HTTP header matchers")
        if self.regexp is None:
            raise ValueError("regexp must be set for HTTP header matchers")


_COMPRESSIONS = ("", "gzip", "br", "deflate", "identity")


def _accepts(header_value: str, encoding: str) -> bool:
    """Does an Accept-Encoding value allow ``encoding``? (RFC 9110 q-values.)"""
    star: float | None = None
    for part in header_value.split(","):
        name, _, params = part.strip().partition(";")
        q = 1.0
        match = re.search(r"q\s*=\s*([0-9.]+)", params)
        if match:
            try:
                q = float(match.group(1))
            except ValueError:
                q = 0.0
        name = name.strip().lower()
        if name == encoding:
            return q > 0
        if name == "*":
            star = q
    return star is not None and star > 0


class HTTPProbe(_Base, frozen=True):
    valid_status_codes: list[int] = []
    valid_http_versions: list[str] = []
    preferred_ip_protocol: IPProtocol = "ip6"
    ip_protocol_fallback: bool = True
    skip_resolve_phase_with_proxy: bool = False
    no_follow_redirects: bool | None = None
    fail_if_ssl: bool = False
    fail_if_not_ssl: bool = False
    method: str = "GET"
    headers: dict[str, str] = {}
    fail_if_body_matches_regexp: list[Regex] = []
    fail_if_body_not_matches_regexp: list[Regex] = []
    fail_if_header_matches: list[HeaderMatch] = []
    fail_if_header_not_matches: list[HeaderMatch] = []
    body: str = ""
    body_file: str = ""
    compression: str = ""
    body_size_limit: ByteSize = ByteSize(0)
    enable_http3: bool = False
    # Prometheus common HTTP client settings, inlined as blackbox does.
    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    oauth2: OAuth2 | None = None
    bearer_token: str = ""
    bearer_token_file: str = ""
    tls_config: TLSConfig = TLSConfig()
    proxy_url: str = ""
    no_proxy: str = ""
    proxy_from_environment: bool = False
    proxy_connect_header: dict[str, list[str]] = {}
    follow_redirects: bool = True
    enable_http2: bool = True
    http_headers: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.body and self.body_file:
            problems.append("setting body and body_file both are not allowed")
        if self.body_file and not Path(self.body_file).is_file():
            problems.append(f"body_file {self.body_file!r} does not exist or is not a file")
        if self.bearer_token and self.bearer_token_file:
            problems.append("at most one of bearer_token & bearer_token_file must be configured")
        auth_kinds = [
            name
            for name, on in (
                ("basic_auth", self.basic_auth is not None),
                ("authorization", self.authorization is not None),
                ("oauth2", self.oauth2 is not None),
                ("bearer_token", bool(self.bearer_token or self.bearer_token_file)),
            )
            if on
        ]
        if len(auth_kinds) > 1:
            problems.append(
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file, "
                f"authorization must be configured (found {', '.join(auth_kinds)})"
            )
        if self.compression not in _COMPRESSIONS:
            problems.append(
                f"compression {self.compression!r} is not one of gzip, br, deflate, identity"
            )
        elif self.compression:
            for name, value in self.headers.items():
                if name.lower() == "accept-encoding" and not _accepts(value, self.compression):
                    problems.append(
                        f'invalid configuration "{name}: {value}", '
                        f'"compression: {self.compression}"'
                    )
        if self.enable_http3 or "HTTP/3.0" in self.valid_http_versions:
            problems.append(
                "HTTP/3 is not supported by twinlens (enable_http3, HTTP/3.0 in "
                "valid_http_versions); probe HTTP/1.1 or HTTP/2.0 instead"
            )
        if self.valid_http_versions and not any(
            v.startswith("HTTP/1.") for v in self.valid_http_versions
        ):
            problems.append(
                "valid_http_versions allows only HTTP/2: twinlens probes speak HTTP/1.1, so "
                "this module could never succeed; add HTTP/1.1"
            )
        for code in self.valid_status_codes:
            if not 100 <= code <= 599:
                problems.append(f"valid_status_codes: {code} is not an HTTP status code")
        if self.fail_if_ssl and self.fail_if_not_ssl:
            problems.append("fail_if_ssl and fail_if_not_ssl cannot both be true")
        if self.proxy_url and self.proxy_from_environment:
            problems.append("if proxy_from_environment is configured, proxy_url must not be")
        for what in ("proxy_url",):
            try:
                _check_url(getattr(self, what), what)
            except ValueError as exc:
                problems.append(str(exc))
        if self.method != self.method.upper() or not re.fullmatch(r"[A-Z]+", self.method):
            problems.append(f"method {self.method!r} is not an upper-case HTTP method")
        if problems:
            raise ValueError("\n".join(problems))

    @property
    def redirects(self) -> bool:
        """Follow redirects? ``no_follow_redirects`` (old key) wins when set."""
        if self.no_follow_redirects is not None:
            return not self.no_follow_redirects
        return self.follow_redirects

    def request_body(self) -> bytes:
        if self.body_file:
            return Path(self.body_file).read_bytes()
        return self.body.encode()


# --- TCP, ICMP, DNS, gRPC probers --------------------------------------------------------------


class QueryLabel(_Base, frozen=True):
    name: str
    value: str

    def __post_init__(self) -> None:
        # It becomes a label of probe_expect_info: an invalid name would break the scrape.
        if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", self.name) or self.name.startswith("__"):
            raise ValueError(f"label name {self.name!r} is not a valid Prometheus label name")


class QueryResponse(_Base, frozen=True):
    expect: Regex | None = None
    send: str = ""
    starttls: bool = False
    labels: list[QueryLabel] = []


class TCPProbe(_Base, frozen=True):
    preferred_ip_protocol: IPProtocol = "ip6"
    ip_protocol_fallback: bool = True
    source_ip_address: str = ""
    query_response: list[QueryResponse] = []
    tls: bool = False
    tls_config: TLSConfig = TLSConfig()

    def __post_init__(self) -> None:
        _check_source_ip(self.source_ip_address)


class ICMPProbe(_Base, frozen=True):
    preferred_ip_protocol: IPProtocol = "ip6"
    ip_protocol_fallback: bool = True
    source_ip_address: str = ""
    payload_size: int = 0
    dont_fragment: bool = False
    ttl: int = 0
    # twinlens: several echo requests per probe, for loss and jitter.
    packets: int = 1
    interval: Duration = Duration(0.2)

    def __post_init__(self) -> None:
        if self.ttl < 0:
            raise ValueError('"ttl" cannot be negative')
        if self.ttl > 255:
            raise ValueError('"ttl" cannot exceed 255')
        if not 0 <= self.payload_size <= 65_000:
            raise ValueError("payload_size must be between 0 and 65000")
        if not 1 <= self.packets <= 100:
            raise ValueError("packets must be between 1 and 100")
        _check_source_ip(self.source_ip_address)


class DNSRRValidator(_Base, frozen=True):
    fail_if_matches_regexp: list[Regex] = []
    fail_if_all_match_regexp: list[Regex] = []
    fail_if_not_matches_regexp: list[Regex] = []
    fail_if_none_matches_regexp: list[Regex] = []


_DNS_CLASSES = ("IN", "CH", "HS", "NONE", "ANY")
_DNS_RCODES = (
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
    "BADVERS",
)


class DNSProbe(_Base, frozen=True):
    preferred_ip_protocol: IPProtocol = "ip6"
    ip_protocol_fallback: bool = True
    dns_over_tls: bool = False
    tls_config: TLSConfig = TLSConfig()
    source_ip_address: str = ""
    transport_protocol: Literal["udp", "tcp"] = "udp"
    query_class: str = "IN"
    query_name: str = ""
    query_type: str = "ANY"
    recursion_desired: bool = True
    valid_rcodes: list[str] = msgspec.field(default_factory=lambda: ["NOERROR"])
    validate_answer_rrs: DNSRRValidator = DNSRRValidator()
    validate_authority_rrs: DNSRRValidator = DNSRRValidator()
    validate_additional_rrs: DNSRRValidator = DNSRRValidator()

    def __post_init__(self) -> None:
        import dns.rdatatype  # a light module; only needed when a DNS module exists

        problems = []
        if not self.query_name:
            problems.append("query name must be set for DNS module")
        if self.query_class.upper() not in _DNS_CLASSES:
            problems.append(f"query class '{self.query_class}' is not valid")
        try:
            dns.rdatatype.from_text(self.query_type.upper())
        except Exception:
            problems.append(f"query type '{self.query_type}' is not valid")
        for rcode in self.valid_rcodes:
            if rcode.upper() not in _DNS_RCODES:
                problems.append(f"rcode '{rcode}' is not valid")
        if self.dns_over_tls and self.transport_protocol == "udp":
            pass  # blackbox switches to tcp for DoT; the prober does the same
        try:
            _check_source_ip(self.source_ip_address)
        except ValueError as exc:
            problems.append(str(exc))
        if problems:
            raise ValueError("\n".join(problems))


_H2_OWN = ("te", "content-type", "user-agent")


class GRPCProbe(_Base, frozen=True):
    service: str = ""
    tls: bool = False
    tls_config: TLSConfig = TLSConfig()
    ip_protocol_fallback: bool = True
    preferred_ip_protocol: IPProtocol = "ip6"
    metadata: dict[str, list[str]] = {}

    def __post_init__(self) -> None:
        # gRPC metadata keys are HTTP/2 header names: reserved ones would corrupt the call.
        for key in self.metadata:
            low = key.lower()
            if not re.fullmatch(r"[0-9a-z_.-]+", low) or low.startswith("grpc-") or low in _H2_OWN:
                raise ValueError(f"metadata key {key!r} is not allowed (reserved or not a header)")


# --- twinlens additions ------------------------------------------------------------------------

#: Cloud metadata endpoints: the classic SSRF prize. Denied unless a module allows them.
METADATA_CIDRS = (
    "169.254.169.254/32",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
    "169.254.170.2/32",  # AWS ECS task metadata
    "100.100.100.200/32",  # Alibaba Cloud
    "fd00:ec2::254/128",  # AWS IMDS over IPv6
)
METADATA_HOSTS = ("metadata.google.internal", "metadata.goog", "metadata")


def _host_pattern(pattern: str) -> re.Pattern[str]:
    """``*.internal`` → a regex matching sub.internal (not ``internal`` itself)."""
    escaped = re.escape(pattern.lower().rstrip(".")).replace(r"\*", r"[^.]+")
    return re.compile(f"^{escaped}$")


class SSRFGuard(_Base, frozen=True):
    """Which targets a module may reach, checked after DNS and at every redirect hop.

    A target is blocked when its host matches ``deny_hosts``, or any resolved address is in
    ``deny_cidrs`` (or a cloud metadata address, unless ``allow_metadata``), or ``allow_*``
    lists exist and the target matches none of them.
    """

    deny_cidrs: list[CIDR] = []
    allow_cidrs: list[CIDR] = []
    deny_hosts: list[str] = []
    allow_hosts: list[str] = []
    allow_metadata: bool = False

    def host_patterns(self, which: Literal["deny", "allow"]) -> list[re.Pattern[str]]:
        hosts = self.deny_hosts if which == "deny" else self.allow_hosts
        return [_host_pattern(h) for h in hosts]


_EVERY_ADDRESS_PROBERS = ("http", "tcp", "grpc", "dns", "icmp")


class Module(_Base, frozen=True):
    prober: str
    timeout: Duration = Duration(0)
    http: HTTPProbe = HTTPProbe()
    tcp: TCPProbe = TCPProbe()
    icmp: ICMPProbe = ICMPProbe()
    dns: DNSProbe | None = None
    grpc: GRPCProbe = GRPCProbe()
    unix: Any = None
    websocket: Any = None
    ssrf: SSRFGuard = SSRFGuard()
    # twinlens: probe every A/AAAA answer of the target's host, one series set per `ip`;
    # "any" or "all" of them must succeed. "" probes one address, as blackbox does.
    every_address: Literal["", "any", "all"] = ""
    # Multi-step HTTP and real-browser journeys (exporter/journey_config.py).
    journey: JourneyProbe | None = None
    browser: BrowserProbe | None = None

    def __post_init__(self) -> None:
        if self.prober in _UNSUPPORTED_PROBERS:
            raise ValueError(
                f"prober '{self.prober}' is not supported by twinlens "
                f"(supported: {', '.join(sorted(IMPLEMENTED_PROBERS))})"
            )
        if self.prober not in IMPLEMENTED_PROBERS:
            raise ValueError(
                f"prober '{self.prober}' is not valid "
                f"(one of {', '.join(sorted(IMPLEMENTED_PROBERS))})"
            )
        if self.prober == "dns" and self.dns is None:
            raise ValueError("query name must be set for DNS module (dns: query_name)")
        if self.prober in ("journey", "browser") and getattr(self, self.prober) is None:
            raise ValueError(f"a {self.prober} module needs {self.prober}: steps")
        if self.every_address and self.prober not in _EVERY_ADDRESS_PROBERS:
            raise ValueError(
                f"every_address is not supported by prober '{self.prober}' "
                f"(only {', '.join(_EVERY_ADDRESS_PROBERS)})"
            )

    def with_hostname(self, hostname: str) -> Module:
        """The module as blackbox applies ``/probe?hostname=``: the Host header, and the TLS
        server name unless one is configured (HTTP modules only; others are unchanged)."""
        if self.prober != "http" or not hostname:
            return self
        headers = {k: v for k, v in self.http.headers.items() if k.lower() != "host"}
        headers["Host"] = hostname
        tls = self.http.tls_config
        if not tls.server_name:
            tls = msgspec.structs.replace(tls, server_name=hostname)
        http = msgspec.structs.replace(self.http, headers=headers, tls_config=tls)
        return msgspec.structs.replace(self, http=http)


class Retries(_Base, frozen=True):
    count: int = 0
    backoff: Duration = Duration(1)
    # Written `reasons:` in YAML: a bare `on:` key is the boolean True in YAML 1.1.
    on: list[str] = msgspec.field(default_factory=list, name="reasons")

    def __post_init__(self) -> None:
        if not 0 <= self.count <= 10:
            raise ValueError("retries.count must be between 0 and 10")
        unknown = [r for r in self.on if r not in FAILURE_REASONS]
        if unknown:
            raise ValueError(
                f"retries.reasons: unknown failure reason(s) {', '.join(unknown)} "
                f"(one of {', '.join(FAILURE_REASONS)})"
            )


_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Labels the scheduler's own series carry (`result`, `reason`, `ip`) are reserved too, so a
# check label can never give one sample the same label twice.
_RESERVED_LABELS = {
    *("check", "location", "target", "module", "prober", "instance", "job", "le"),
    *("result", "reason", "ip"),
}
MAX_CHECK_LABELS = 8
MAX_LABEL_VALUE = 128


class Check(_Base, frozen=True):
    name: str
    module: str
    target: str
    interval: Duration = Duration(60)
    timeout: Duration | None = None
    retries: Retries = Retries()
    labels: dict[str, str] = {}
    enabled: bool = True

    def __post_init__(self) -> None:
        problems = []
        if not re.fullmatch(r"[A-Za-z0-9_.:/-]{1,100}", self.name):
            problems.append(
                f"check name {self.name!r} must be 1-100 characters of letters, digits, _.:/-"
            )
        if self.interval < 1:
            problems.append("interval must be at least 1s")
        if self.timeout is not None and self.timeout > self.interval:
            problems.append("timeout cannot exceed interval (a check never overlaps itself)")
        if len(self.labels) > MAX_CHECK_LABELS:
            problems.append(f"at most {MAX_CHECK_LABELS} labels per check")
        for key, value in self.labels.items():
            if not _LABEL_NAME.match(key) or key.startswith("__"):
                problems.append(f"label name {key!r} is not a valid Prometheus label name")
            elif key in _RESERVED_LABELS or key.startswith("probe_"):
                problems.append(f"label name {key!r} is reserved by twinlens")
            if len(value) > MAX_LABEL_VALUE:
                problems.append(f"label {key!r}: value longer than {MAX_LABEL_VALUE} characters")
        if problems:
            raise ValueError("\n".join(problems))


class Config(_Base, frozen=True):
    modules: dict[str, Module] = {}
    checks: list[Check] = []

    def __post_init__(self) -> None:
        problems = []
        seen: set[str] = set()
        for check in self.checks:
            if check.name in seen:
                problems.append(f"checks: duplicate check name {check.name!r}")
            seen.add(check.name)
            if check.module not in self.modules:
                problems.append(
                    f"checks: check {check.name!r} uses unknown module {check.module!r}"
                )
        if problems:
            raise ValueError("\n".join(problems))


#: Used when no ``--config.file`` is given: enough to probe anything over HTTP.
EMBEDDED_CONFIG = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
  tcp_connect:
    prober: tcp
    timeout: 5s
"""


def load_config(path: str | None) -> Config:
    """Read and validate an exporter config; ``None`` means the embedded default.

    Raises :class:`ConfigError` listing every problem with its path and line.
    """
    from twinlens.runtime.config import parse_yaml

    if path is None:
        data, lines = parse_yaml(EMBEDDED_CONFIG, "<embedded>")
    else:
        data, lines = load_yaml(path)
    try:
        return decode(data, Config, lines=lines)
    except ConfigError as exc:
        raise ConfigError(exc.errors, path or "<embedded>") from None
