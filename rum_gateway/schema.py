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

Shape errors (types, lengths, list sizes, ``v`` other than 1) raise :class:`SchemaError`
at decode; :func:`check_values` then finds values that are well-typed but impossible
(not finite, negative, over a cap, ``sr`` outside (0, 1]). Both carry a reason from
:data:`rum_gateway.protect.REASONS` and a message for the sender.
"""

from __future__ import annotations

from typing import Annotated, Literal

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


class SchemaError(ValueError):
    """A beacon that is not v1 or not valid; ``reason`` is the rejection label value."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Vitals(msgspec.Struct, frozen=True, gc=False):
    """Final value of each Core Web Vital for one view; absent ones are null / missing.

    Fields are in :data:`VITALS` order: the metrics read them by position.
    """

    LCP: float | None = None
    FCP: float | None = None
    TTFB: float | None = None
    INP: float | None = None
    CLS: float | None = None


class Api(msgspec.Struct, frozen=True, gc=False):
    """One fetch / XHR call the page made. ``status`` 0 means it failed without a reply."""

    method: _Short
    path: _Path
    status: Annotated[int, msgspec.Meta(ge=0, le=999)]
    ms: float


class Error(msgspec.Struct, frozen=True, gc=False):
    """One JavaScript error: its kind and a fingerprint (never a label; kept for logs)."""

    kind: _Short = "error"
    fp: _Name = ""


class View(msgspec.Struct, frozen=True):
    """A page load or an SPA route change."""

    path: _Path
    route: _Route | None = None
    nav: _Short = "navigate"
    pv: bool = False
    vitals: Vitals | None = None
    api: Annotated[list[Api], msgspec.Meta(max_length=_MAX_LIST)] = []
    errors: Annotated[list[Error], msgspec.Meta(max_length=_MAX_LIST)] = []


class Beacon(msgspec.Struct, frozen=True):
    """What the SDK posts to ``/v1/beacon``."""

    v: Literal[1]
    app: _Name
    views: Annotated[list[View], msgspec.Meta(max_length=_MAX_LIST)]
    sr: float = 1.0
    conn: _Short | None = None


_decoder = msgspec.json.Decoder(Beacon)
_CAPS = tuple(LIMITS[name] for name in VITALS)
_astuple = msgspec.structs.astuple


def decode_beacon(body: bytes) -> Beacon:
    """Decode a beacon; :class:`SchemaError` (``bad_json``, ``bad_schema``, ``bad_value``,
    ``bad_encoding``) if it is not one."""
    try:
        return _decoder.decode(body)
    except msgspec.ValidationError as exc:
        # 1e999 and friends: well-formed JSON, but no finite number
        reason = "bad_value" if str(exc).startswith("Number out of range") else "bad_schema"
        raise SchemaError(reason, str(exc)) from None
    except msgspec.DecodeError as exc:
        raise SchemaError("bad_json", str(exc)) from None
    except UnicodeDecodeError as exc:  # msgspec decodes strings itself and raises this
        raise SchemaError("bad_encoding", f"body is not valid UTF-8: {exc.reason}") from None


def _bad(value: float, cap: float) -> bool:
    # `not 0 <= v <= cap` is also True for NaN, which msgspec can produce from 1e999 - inf.
    return not 0.0 <= value <= cap


def check_values(beacon: Beacon, max_events: int) -> SchemaError | None:
    """The first impossible value in a decoded beacon, or None if it is all usable."""
    sr = beacon.sr
    if not (0.0 < sr <= 1.0):
        return SchemaError("bad_value", f"sr must be in (0, 1], got {sr!r}")
    events = len(beacon.views)
    for i, view in enumerate(beacon.views):
        events += len(view.api) + len(view.errors)
        vitals = view.vitals
        if vitals is not None:
            for name, value, cap in zip(VITALS, _astuple(vitals), _CAPS, strict=True):
                if value is not None and _bad(value, cap):
                    return SchemaError(
                        "bad_value",
                        f"views[{i}].vitals.{name} must be finite, >= 0 and <= "
                        f"{LIMITS[name]:g}, got {value!r}",
                    )
        for j, call in enumerate(view.api):
            if _bad(call.ms, LIMITS["api.ms"]):
                return SchemaError(
                    "bad_value",
                    f"views[{i}].api[{j}].ms must be finite, >= 0 and <= "
                    f"{LIMITS['api.ms']:g}, got {call.ms!r}",
                )
    if events > max_events:
        return SchemaError(
            "bad_schema", f"{events} events (views + api + errors) exceed the limit of {max_events}"
        )
    return None
