"""A lean HTTP/1.1 client for the HTTP prober: one connection, one exchange, exact timings.

Why not aiohttp's client: a probe needs a fresh connection every time (blackbox sends
``Connection: close``), the instant of the first response byte, bytes counted while they
stream (a 100 MB body must not be buffered), and as little CPU per probe as possible. A
``ClientSession`` per probe costs more than the whole exchange. Here a probe is one
:class:`Connection` (an ``asyncio.Protocol``: bytes land in one buffer, the reader is woken
by a future), a request written in one ``write``, and a parser for the response head and
the three body framings (``Content-Length``, chunked, until close).

    conn = Connection()
    transport, _ = await loop.create_connection(lambda: conn, ip, port)
    conn.send(request_bytes(...))
    head = await read_head(conn)
    await read_body(conn, head, "GET", sink)
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Final

from exporter.net import NetError

__all__ = [
    "MAX_HEAD_BYTES",
    "BodyTooLarge",
    "Connection",
    "HTTPProtocolError",
    "ResponseHead",
    "body_framing",
    "read_body",
    "read_head",
    "request_bytes",
]

#: The largest response head accepted (Go's default is 1 MB as well).
MAX_HEAD_BYTES: Final = 1 << 20
# Stop reading from the socket while this much is buffered and unread: keeps a fast
# sender from growing the buffer while the probe decompresses or counts.
_HIGH_WATER: Final = 1 << 18
_STATUS_RE: Final = re.compile(r"HTTP/(\d)\.(\d) (\d{3})(?: (.*))?$")
_NO_BODY_STATUS: Final = frozenset({204, 304})


class HTTPProtocolError(NetError):
    """The peer's answer is not HTTP/1.x as it should be (reason ``protocol``)."""

    reason = "protocol"


class BodyTooLarge(HTTPProtocolError):
    """The (decompressed) body went over ``body_size_limit``."""


class Connection(asyncio.Protocol):
    """Receive side of one connection: a byte buffer plus a wake-up for its reader.

    ``first_byte_at`` is the ``perf_counter()`` of the first bytes received after the
    last :meth:`send`: the "processing" phase ends there.
    """

    __slots__ = ("_loop", "_paused", "_waiter", "buf", "eof", "first_byte_at", "transport")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.eof = False
        self.first_byte_at = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    # -- asyncio.Protocol --
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.first_byte_at:
            self.first_byte_at = time.perf_counter()
        self.buf += data
        if len(self.buf) > _HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- the reader's side --
    def send(self, data: bytes) -> None:
        """Write a request and restart the first-byte clock."""
        assert self.transport is not None
        self.first_byte_at = 0.0
        self.transport.write(data)

    async def more(self) -> bool:
        """Wait until more bytes arrive (True) or the peer is done (False)."""
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        if self.eof:
            return False
        waiter = self._waiter = self._loop.create_future()
        await waiter
        return True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()  # a probe never reuses a connection: no graceful close


class ResponseHead:
    """Status line and headers of a response; header names are kept lower-case."""

    __slots__ = ("headers", "reason", "status", "version")

    def __init__(self, version: str, status: int, reason: str, headers: list[tuple[str, str]]):
        self.version = version  # "HTTP/1.1"
        self.status = status
        self.reason = reason
        self.headers = headers

    def get(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive)."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]


def request_bytes(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes = b""
) -> bytes:
    """One HTTP/1.1 request: request line, headers in order, blank line, body.

    >>> request_bytes("GET", "/", [("Host", "example.com")])
    b'GET / HTTP/1.1\\r\\nHost: example.com\\r\\n\\r\\n'
    """
    lines = [f"{method} {target} HTTP/1.1"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _parse_head(raw: bytes) -> ResponseHead:
    lines = raw.decode("latin-1").split("\n")
    match = _STATUS_RE.match(lines[0].rstrip("\r"))
    if match is None:
        raise HTTPProtocolError(f"malformed HTTP status line {lines[0][:80]!r}")
    major, minor, status, reason = match.groups()
    headers: list[tuple[str, str]] = []
    for raw_line in lines[1:]:
        line = raw_line.rstrip("\r")
        if not line:
            continue
        if line[0] in " \t":  # obsolete line folding: continue the previous value
            if not headers:
                raise HTTPProtocolError("malformed HTTP header: continuation without header")
            key, value = headers[-1]
            headers[-1] = (key, f"{value} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HTTPProtocolError(f"malformed HTTP header line {line[:80]!r}")
        headers.append((name.lower(), value.strip(" \t")))
    return ResponseHead(f"HTTP/{major}.{minor}", int(status), reason or "", headers)


async def read_head(conn: Connection) -> ResponseHead:
    """Read the next final response head (1xx interim responses are skipped).

    Raises :class:`HTTPProtocolError` for anything that is not an HTTP/1.x response —
    checked from the first five bytes, so a non-HTTP listener fails fast.
    """
    while True:
        head = await _read_one_head(conn)
        if head.status >= 200 or head.status == 101:
            return head


async def _read_one_head(conn: Connection) -> ResponseHead:
    buf = conn.buf
    checked = False
    scan_from = 0
    while True:
        if not checked and len(buf) >= 5:
            if buf[:5] != b"HTTP/":
                raise HTTPProtocolError(f"malformed HTTP response {bytes(buf[:40])!r}")
            checked = True
        # The head ends at the first empty line; bare LF line ends are tolerated (as Go).
        end, sep = buf.find(b"\n\r\n", scan_from), 3
        bare = buf.find(b"\n\n", scan_from, end if end >= 0 else len(buf))
        if bare >= 0:
            end, sep = bare, 2
        if end >= 0:
            raw = bytes(buf[:end])
            del buf[: end + sep]
            return _parse_head(raw)
        if len(buf) > MAX_HEAD_BYTES:
            raise HTTPProtocolError(f"response head larger than {MAX_HEAD_BYTES} bytes")
        scan_from = max(0, len(buf) - 3)
        if not await conn.more():
            if buf:
                raise HTTPProtocolError(
                    f"connection closed inside the response head {bytes(buf[:40])!r}"
                )
            raise HTTPProtocolError("connection closed before any response (EOF)")


def body_framing(head: ResponseHead, method: str) -> tuple[int | None, bool]:
    """(Content-Length or None, chunked?) for a response; (0, False) when it has no body."""
    if method == "HEAD" or head.status in _NO_BODY_STATUS or 100 <= head.status < 200:
        return 0, False
    te = head.get("transfer-encoding")
    if te is not None and te.lower().rsplit(",", 1)[-1].strip() == "chunked":
        return None, True
    values = head.get_all("content-length")
    if values:
        distinct = {v.strip() for value in values for v in value.split(",")}
        if len(distinct) != 1 or not next(iter(distinct)).isdigit():
            raise HTTPProtocolError(f"invalid Content-Length {', '.join(values)!r}")
        return int(next(iter(distinct))), False
    return None, False  # until the connection closes


Sink = Callable[[bytes | bytearray], None]


async def read_body(conn: Connection, head: ResponseHead, method: str, sink: Sink) -> None:
    """Stream the body of ``head`` into ``sink`` without keeping it.

    ``sink`` must not hold on to the bytearray it is given (it is reused); it may raise
    (e.g. :class:`BodyTooLarge`) to stop reading.
    """
    length, chunked = body_framing(head, method)
    if chunked:
        await _read_chunked(conn, sink)
    elif length is None:
        while True:
            if conn.buf:
                sink(conn.buf)
                conn.buf.clear()
            if not await conn.more():
                if conn.buf:
                    continue
                return
    elif length:
        await _read_exact(conn, length, sink)


async def _read_exact(conn: Connection, length: int, sink: Sink) -> None:
    buf = conn.buf
    remaining = length
    while remaining:
        if buf:
            if len(buf) <= remaining:
                remaining -= len(buf)
                sink(buf)
                buf.clear()
            else:
                sink(bytes(buf[:remaining]))
                del buf[:remaining]
                remaining = 0
        elif not await conn.more():
            raise HTTPProtocolError(
                f"connection closed after {length - remaining} of {length} body bytes"
            )


async def _read_line(conn: Connection, what: str) -> bytes:
    buf = conn.buf
    while True:
        end = buf.find(b"\n")
        if end >= 0:
            line = bytes(buf[:end]).rstrip(b"\r")
            del buf[: end + 1]
            return line
        if len(buf) > 4096:
            raise HTTPProtocolError(f"{what} longer than 4096 bytes")
        if not await conn.more():
            raise HTTPProtocolError(f"connection closed inside the {what}")


async def _read_chunked(conn: Connection, sink: Sink) -> None:
    while True:
        line = await _read_line(conn, "chunk size line")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HTTPProtocolError(f"invalid chunk size {size_text[:20]!r}") from None
        if size < 0:
            raise HTTPProtocolError(f"invalid chunk size {size_text[:20]!r}")
        if size == 0:
            while await _read_line(conn, "chunked trailer"):
                pass
            return
        await _read_exact(conn, size, sink)
        if await _read_line(conn, "chunk end"):
            raise HTTPProtocolError("chunk data not followed by CRLF")
