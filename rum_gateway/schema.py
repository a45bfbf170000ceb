"""Beacon v1: the contract between the browser SDK, the gateway and every test.

One beacon carries the views (page loads and SPA route changes) seen since the last
flush. Times are milliseconds as browsers report them; CLS is unitless. Unknown fields are
ignored so newer SDKs work with older gateways; a client's own ``rating`` is never read::

    >>> beacon = decode_beacon(b'{"v":1,"app":"shop","views":[{"path":"/","pv":true,'
    ...                        b'"vitals":{"LCP":2480.5}}]}')
    >>> beacon.views[0].vitals.LCP
    2480.5
    >>> check_values(beacon, max_events=200) is None
    True

Shape errors (types, lengths, list sizes, ``v`` other than 1) and impossible values (not
finite, negative, over a per-metric cap, ``sr`` outside (0, 1]) raise :class:`SchemaError`
at decode: the caps are msgspec constraints, checked in C while the JSON is read, so an
accepted beacon costs no second pass. :func:`check_values` then applies the one limit
that comes from the config, the number of events. Both carry a reason from
:data:`rum_gateway.protect.REASONS` and a message for the sender.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "LIMITS",
    "VITALS",
    "Api",
    "Beacon",
    "Error",
    "SchemaError",
    "View",
    "Vitals",
    "check_values",
    "decode_beacon",
]

#: The five vitals in the order the metric families use.
VITALS = ("LCP", "FCP", "TTFB", "INP", "CLS")

#: Highest accepted value per metric (milliseconds; CLS unitless). A larger value is a
#: broken client or a forged beacon: the whole beacon is refused as ``bad_value``.
LIMITS = {
    "LCP": 300_000.0,
    "FCP": 300_000.0,
    "TTFB": 300_000.0,
    "INP": 60_000.0,
    "CLS": 100.0,
    "api.ms": 600_000.0,
}

_Short = Annotated[str, msgspec.Meta(max_length=32)]
_Name = Annotated[str, msgspec.Meta(max_length=64)]
_Path = Annotated[str, msgspec.Meta(max_length=2048)]
_Route = Annotated[str, msgspec.Meta(max_length=256)]
_MAX_LIST = 200
# Finite, >= 0 and <= the cap (JSON has no NaN or infinity; 1e999 fails as out of range).
_Lcp = Annotated[float, msgspec.Meta(ge=0.0, le=LIMITS["LCP"])]
_Fcp = Annotated[float, msgspec.Meta(ge=0.0, le=LIMITS["FCP"])]
_Ttfb = Annotated[float, msgspec.Meta(ge=0.0, le=LIMITS["TTFB"])]
_Inp = Annotated[float, msgspec.Meta(ge=0.0, le=LIMITS["INP"])]
_Cls = Annotated[float, msgspec.Meta(ge=0.0, le=LIMITS["CLS"])]
_ApiMs = Annotated[float, msgspec.Meta(ge=0.0, le=LIMITS["api.ms"])]
_Rate = Annotated[float, msgspec.Meta(gt=0.0, le=1.0)]


class SchemaError(ValueError):
    """A beacon that is not v1 or not valid; ``reason`` is the rejection label value."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Vitals(msgspec.Struct, frozen=True, gc=False):
    """Final value of each Core Web Vital for one view; absent ones are null / missing.

    Fields are in :data:`VITALS` order: the metrics read them by position.
    """

    LCP: _Lcp | None = None
    FCP: _Fcp | None = None
    TTFB: _Ttfb | None = None
    INP: _Inp | None = None
    CLS: _Cls | None = None


class Api(msgspec.Struct, frozen=True, gc=False):
    """One fetch / XHR call the page made. ``status`` 0 means it failed without a reply."""

    method: _Short
    path: _Path
    status: Annotated[int, msgspec.Meta(ge=0, le=999)]
    ms: _ApiMs


class Error(msgspec.Struct, frozen=True, gc=False):
    """One JavaScript error: its kind and a fingerprint (never a label; kept for logs)."""

    kind: _Short = "error"
    fp: _Name = ""


# gc=False throughout: a decoded beacon is a tree of strings, numbers and lists of these
# frozen Structs, never a reference cycle, so the garbage collector need not track it.


class View(msgspec.Struct, frozen=True, gc=False):
    """A page load or an SPA route change."""

    path: _Path
    route: _Route | None = None
    nav: _Short = "navigate"
    pv: bool = False
    vitals: Vitals | None = None
    api: Annotated[list[Api], msgspec.Meta(max_length=_MAX_LIST)] = []
    errors: Annotated[list[Error], msgspec.Meta(max_length=_MAX_LIST)] = []


class Beacon(msgspec.Struct, frozen=True, gc=False):
    """What the SDK posts to ``/v1/beacon``."""

    v: Literal[1]
    app: _Name
    views: Annotated[list[View], msgspec.Meta(max_length=_MAX_LIST)]
    sr: _Rate = 1.0
    conn: _Short | None = None


_decoder = msgspec.json.Decoder(Beacon)
# msgspec's messages for a number outside its constraints (or too large for a float)
_VALUE_ERRORS = ("Number out of range", "Expected `float` >", "Expected `float` <")
_ERROR_PATH = re.compile(r" - at `\$\.?([^`]*)`$")
_PATH_STEP = re.compile(r"\.?([A-Za-z_]+)|\[(\d+)\]")


def decode_beacon(body: bytes) -> Beacon:
    """Decode a beacon; :class:`SchemaError` (``bad_json``, ``bad_schema``, ``bad_value``,
    ``bad_encoding``) if it is not one."""
    try:
        return _decoder.decode(body)
    except msgspec.ValidationError as exc:
        message = str(exc)
        if message.startswith(_VALUE_ERRORS):
            raise SchemaError("bad_value", _bad_value_message(body, message)) from None
        raise SchemaError("bad_schema", message) from None
    except msgspec.DecodeError as exc:
        message = str(exc)
        if message.startswith("Invalid UTF-8"):  # msgspec >= 0.23 says so in a DecodeError
            raise SchemaError("bad_encoding", "body is not valid UTF-8") from None
        raise SchemaError("bad_json", message) from None
    except UnicodeDecodeError as exc:  # msgspec < 0.23 decodes strings itself and raises this
        raise SchemaError("bad_encoding", f"body is not valid UTF-8: {exc.reason}") from None


def _bad_value_message(body: bytes, message: str) -> str:
    """``views[1].vitals.TTFB must be finite, >= 0 and <= 300000, got -2.0`` from msgspec's
    ``Expected `float` >= 0.0 - at `$.views[1].vitals.TTFB```: the refusal path only, so
    the body is read a second time, untyped, to quote the value."""
    match = _ERROR_PATH.search(message)
    if match is None:
        return message
    where = match[1]
    field = where.rsplit(".", 1)[-1]
    got = _value_at(body, where)
    tail = "" if got is None else f", got {got!r}"
    if field == "sr":
        return f"sr must be in (0, 1]{tail}"
    cap = LIMITS.get("api.ms" if field == "ms" else field)
    if cap is None:
        return message
    return f"{where} must be finite, >= 0 and <= {cap:g}{tail}"


def _value_at(body: bytes, where: str) -> float | None:
    """The number at ``views[1].vitals.TTFB`` in ``body`` as a float, or None."""
    try:
        node: Any = msgspec.json.decode(body)
        for name, index in _PATH_STEP.findall(where):
            node = node[name] if name else node[int(index)]
    except (msgspec.DecodeError, LookupError, TypeError, ValueError):
        return None
    return float(node) if isinstance(node, int | float) and not isinstance(node, bool) else None


def check_values(beacon: Beacon, max_events: int) -> SchemaError | None:
    """What decoding cannot check, as it comes from the config: at most ``max_events``
    events (views + API calls + errors). None if the beacon is within it."""
    events = len(beacon.views)
    for view in beacon.views:
        events += len(view.api) + len(view.errors)
    if events > max_events:
        return SchemaError(
            "bad_schema", f"{events} events (views + api + errors) exceed the limit of {max_events}"
        )
    return None
