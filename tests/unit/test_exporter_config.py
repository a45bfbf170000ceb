"""blackbox.yml compatibility: blackbox's own config test cases, then our own table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from exporter.config import load_config
from twinlens.runtime.config import ConfigError

PEER = "peer-tests/blackbox_exporter/config"


def _peer_cases(shared: Path) -> dict[str, object]:
    return json.loads((shared / PEER / "cases.json").read_text())


def test_blackbox_good_config_loads(shared_dir: Path) -> None:
    for name in _peer_cases(shared_dir)["good"]:  # type: ignore[union-attr]
        config = load_config(str(shared_dir / PEER / name))
        assert config.modules["http_2xx"].prober == "http"
        assert config.modules["http_2xx"].timeout == 5.0
        assert config.modules["http_post_2xx"].http.method == "POST"
        assert config.modules["dns_test"].dns is not None
        assert config.modules["dns_test"].dns.query_name == "example.com"
        assert config.modules["grpc_health"].grpc.service == "example"
        qr = config.modules["irc_banner"].tcp.query_response
        assert qr[2].expect is not None and qr[2].send == "PONG ${1}"
        assert config.modules["http_header_match_origin"].http.fail_if_header_not_matches[
            0
        ].header == ("Access-Control-Allow-Origin")


# The problem each blackbox error names, as words our message must contain too.
_UNSUPPORTED = "not supported by twinlens"
_EXPECT = {
    "blackbox-bad.yml": ["invalid_extra_field", "not found", "line 50"],
    "blackbox-bad2.yml": ["at most one of bearer_token & bearer_token_file must be configured"],
    "invalid-prober.yml": ["prober 'invalid' is not valid"],
    "invalid-dns-module.yml": ["query name must be set for DNS module"],
    "invalid-dns-class.yml": ["query class 'X' is not valid"],
    "invalid-dns-type.yml": ["query type 'X' is not valid"],
    "invalid-http-header-match.yml": ["regexp must be set for HTTP header matchers"],
    "invalid-http-body-match-regexp.yml": ['Could not compile regular expression" regexp=":["'],
    "invalid-http-body-not-match-regexp.yml": ['Could not compile regular expression" regexp=":["'],
    "invalid-http-header-match-regexp.yml": ['Could not compile regular expression" regexp=":["'],
    "invalid-http-compression-mismatch.yml": [
        'invalid configuration "Accept-Encoding: deflate", "compression: gzip"'
    ],
    "invalid-http-compression-mismatch-special-case.yml": [
        'invalid configuration "accEpt-enCoding: deflate", "compression: gzip"'
    ],
    "invalid-http-request-compression-reject-all-encodings.yml": [
        'invalid configuration "Accept-Encoding: *;q=0.0", "compression: gzip"'
    ],
    "invalid-http-http3-http2.yml": ["HTTP/3", _UNSUPPORTED],
    "invalid-no-versions-http3-enabled.yml": ["HTTP/3", _UNSUPPORTED],
    "invalid-http-http3-http2-version.yml": ["HTTP/3", _UNSUPPORTED],
    "invalid-http-http3-http2-enabled.yml": ["HTTP/3", _UNSUPPORTED],
    "invalid-icmp-ttl.yml": ['"ttl" cannot be negative'],
    "invalid-icmp-ttl-overflow.yml": ['"ttl" cannot exceed 255'],
    "invalid-tcp-query-response-regexp.yml": ['Could not compile regular expression" regexp=":["'],
    "invalid-unix-query-response-regexp.yml": ["prober 'unix'", _UNSUPPORTED],
    "invalid-websocket-query-response-regexp.yml": ["prober 'websocket'", _UNSUPPORTED],
    "invalid-http-body-config.yml": ["setting body and body_file both are not allowed"],
}


def test_every_blackbox_bad_case_is_covered(shared_dir: Path) -> None:
    files = {c["file"] for c in _peer_cases(shared_dir)["bad"]}  # type: ignore[index]
    assert files == set(_EXPECT)


@pytest.mark.parametrize("name", sorted(_EXPECT))
def test_blackbox_bad_config_refused_naming_the_problem(shared_dir: Path, name: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(str(shared_dir / PEER / name))
    message = str(err.value)
    for words in _EXPECT[name]:
        assert words in message, f"{name}: {words!r} not in {message!r}"


# Our own table: (yaml, [exact error lines]).
_OWN_BAD = [
    (
        "modules: {m: {prober: http, timeout: 5x}}",
        [
            "modules.m.timeout: not a valid duration string: '5x' "
            "(examples: 500ms, 5s, 1m30s) (line 1)"
        ],
    ),
    (
        "modules:\n  m:\n    prober: http\n    http:\n      valid_status_codes: [200, abc]\n",
        ["modules.m.http.valid_status_codes[1]: expected integer, got string 'abc' (line 5)"],
    ),
    (
        "modules:\n  m:\n    prober: http\n    http:\n      preferred_ip_protocol: ip5\n",
        [
            "modules.m.http.preferred_ip_protocol: invalid value 'ip5'; "
            "expected one of 'ip4', 'ip6', '' (line 5)"
        ],
    ),
    (
        "modules:\n  a: {prober: http, timeout: 1s}\n  b: {prober: tcpp}\n",
        [
            "modules.b: prober 'tcpp' is not valid "
            "(one of browser, dns, grpc, http, icmp, journey, tcp) (line 3)"
        ],
    ),
    (
        "modules:\n  m: {prober: http}\nchecks:\n  - {name: a, module: nope, target: x}\n"
        "  - {name: a, module: m, target: y}\n",
        [
            "(top level): checks: check 'a' uses unknown module 'nope'",
            "(top level): checks: duplicate check name 'a'",
        ],
    ),
    (
        "modules:\n  m: {prober: http}\nchecks:\n  - {name: a, module: m, target: x, interval: 10s,"
        " timeout: 20s, labels: {check: x}}\n",
        [
            "checks[0]: timeout cannot exceed interval (a check never overlaps itself) (line 4)",
            "checks[0]: label name 'check' is reserved by twinlens (line 4)",
        ],
    ),
    (
        "modules:\n  m:\n    prober: http\n    http:\n      method: get\n"
        "      fail_if_ssl: true\n      fail_if_not_ssl: true\n",
        [
            "modules.m.http: fail_if_ssl and fail_if_not_ssl cannot both be true (line 4)",
            "modules.m.http: method 'get' is not an upper-case HTTP method (line 4)",
        ],
    ),
    (
        "modules:\n  m:\n    prober: http\n    http:\n      valid_http_versions: [HTTP/2.0]\n",
        [
            "modules.m.http: valid_http_versions allows only HTTP/2: twinlens probes speak "
            "HTTP/1.1, so this module could never succeed; add HTTP/1.1 (line 4)"
        ],
    ),
    (
        "modules:\n  m:\n    prober: http\n    ssrf: {deny_cidrs: [10.0.0.0/33]}\n",
        ["modules.m.ssrf.deny_cidrs[0]: not a valid IP network or address: '10.0.0.0/33' (line 4)"],
    ),
]


@pytest.mark.parametrize(("text", "errors"), _OWN_BAD)
def test_own_bad_configs(tmp_path: Path, text: str, errors: list[str]) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert err.value.errors == errors


def test_embedded_default_config_loads() -> None:
    config = load_config(None)
    assert config.modules["http_2xx"].http.valid_status_codes == []
    assert config.checks == []


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("cannot read config file")):
        load_config(str(tmp_path / "nope.yml"))
