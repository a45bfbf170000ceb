"""The HTTP/1.1 wire parser of the http prober: head parsing and body framing, pure."""

from __future__ import annotations

import pytest

from exporter.probers._http1 import (
    HTTPProtocolError,
    ResponseHead,
    _parse_head,
    body_framing,
    request_bytes,
)


def test_parse_head_headers_fold_and_case() -> None:
    head = _parse_head(
        b"HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\nX-Long: a\r\n  b\r\n"
        b"Set-Cookie: a=1\r\nset-cookie: b=2"
    )
    assert (head.version, head.status, head.reason) == ("HTTP/1.1", 301, "Moved Permanently")
    assert head.get("LOCATION") == "/x"
    assert head.get("x-long") == "a b"  # obsolete line folding joins the value
    assert head.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert head.get("missing") is None


def test_parse_head_bare_lf_and_no_reason() -> None:
    head = _parse_head(b"HTTP/1.0 204\nServer: tiny")
    assert (head.version, head.status, head.reason) == ("HTTP/1.0", 204, "")
    assert head.get("server") == "tiny"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"HTTP/1.1 20 OK", "malformed HTTP status line"),
        (b"HTTP/x 200 OK", "malformed HTTP status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here", "malformed HTTP header line"),
        (b"HTTP/1.1 200 OK\r\nBad Name : x", "malformed HTTP header line"),
        (b"HTTP/1.1 200 OK\r\n  folded first", "continuation without header"),
    ],
)
def test_parse_head_rejects(raw: bytes, message: str) -> None:
    with pytest.raises(HTTPProtocolError, match=message):
        _parse_head(raw)


def _head(status: int = 200, **headers: str) -> ResponseHead:
    pairs = [(k.replace("_", "-").lower(), v) for k, v in headers.items()]
    return ResponseHead("HTTP/1.1", status, "", pairs)


@pytest.mark.parametrize(
    ("head", "method", "want"),
    [
        (_head(content_length="12"), "GET", (12, False)),
        (_head(content_length="12, 12"), "GET", (12, False)),
        (_head(transfer_encoding="gzip, chunked", content_length="5"), "GET", (None, True)),
        (_head(), "GET", (None, False)),  # until the connection closes
        (_head(content_length="12"), "HEAD", (0, False)),
        (_head(204), "GET", (0, False)),
        (_head(304, content_length="99"), "GET", (0, False)),
    ],
)
def test_body_framing(head: ResponseHead, method: str, want: tuple[int | None, bool]) -> None:
    assert body_framing(head, method) == want


@pytest.mark.parametrize("value", ["12, 13", "-1", "abc"])
def test_body_framing_rejects_bad_content_length(value: str) -> None:
    with pytest.raises(HTTPProtocolError, match="invalid Content-Length"):
        body_framing(_head(content_length=value), "GET")


def test_request_bytes() -> None:
    raw = request_bytes("POST", "/a?b=1", [("Host", "x"), ("Content-Length", "2")], b"hi")
    assert raw == b"POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
