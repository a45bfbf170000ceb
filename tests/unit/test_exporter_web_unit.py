"""Pure pieces of the exporter web layer: timeouts, hostname, redaction, shard flag."""

from __future__ import annotations

import argparse

import pytest

from exporter.cli import parse_shard
from exporter.config import Module, TLSConfig
from exporter.web import probe_timeout, redact


@pytest.mark.parametrize(
    ("header", "module_timeout", "offset", "expected"),
    [
        (None, 0, 0.5, 119.5),  # no header: blackbox assumes 120 s
        ("10", 0, 0.5, 9.5),  # header minus offset
        ("10", 5, 0.5, 5.0),  # module timeout smaller: it wins
        ("10", 20, 0.5, 9.5),  # module timeout larger: the scrape's wins
        ("0.2", 3, 0.5, 3.0),  # offset larger than the header: module timeout
        ("0.2", 0, 0.5, 0.0),  # ...and no module timeout: 0, the probe fails at once
    ],
)
def test_probe_timeout(
    header: str | None, module_timeout: float, offset: float, expected: float
) -> None:
    module = Module(prober="http", timeout=module_timeout)  # type: ignore[arg-type]
    assert probe_timeout(header, module, offset) == pytest.approx(expected)


def test_probe_timeout_bad_header() -> None:
    with pytest.raises(ValueError):
        probe_timeout("soon", Module(prober="http"), 0.5)


def test_with_hostname_sets_host_and_sni_once() -> None:
    module = Module(prober="http")
    changed = module.with_hostname("shop.example.com")
    assert changed.http.headers == {"Host": "shop.example.com"}
    assert changed.http.tls_config.server_name == "shop.example.com"
    assert module.http.headers == {}  # frozen original untouched
    configured = Module(prober="http").http
    configured_module = Module(
        prober="http",
        http=configured.__class__(headers={"host": "x"}, tls_config=TLSConfig(server_name="sni")),
    )
    again = configured_module.with_hostname("y")
    assert again.http.headers == {"Host": "y"}
    assert again.http.tls_config.server_name == "sni"
    assert Module(prober="tcp").with_hostname("y") == Module(prober="tcp")


def test_redact_hides_secrets_only() -> None:
    data = {"basic_auth": {"username": "u", "password": "p"}, "oauth2": {"client_secret": ""}}
    assert redact(data) == {
        "basic_auth": {"username": "u", "password": "<secret>"},
        "oauth2": {"client_secret": ""},
    }


def test_parse_shard() -> None:
    assert parse_shard("1/3") == (1, 3)
    for bad in ("3/3", "1", "a/b", "-1/2"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_shard(bad)
