"""Typed configuration: YAML in, frozen msgspec structures out, every error at once.

msgspec stops at the first error, and a person fixing a config at 3am wants all of them
with their paths and lines. :func:`decode` walks the target type itself, collecting one
message per problem::

    >>> class Module(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ...     timeout: Duration = Duration(5)
    >>> decode({"timeout": "1m30s"}, Module).timeout
    90.0

Custom leaf types (:class:`Duration`, :class:`Regex`, :class:`ByteSize`, :class:`CIDR`) parse
strings at load so nothing is parsed on the hot path. Cross-field rules live in a struct's
``__post_init__``; a ``ValueError`` raised there is reported at the struct's path.
"""

from __future__ import annotations

import ipaddress
import math
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml

__all__ = [
    "CIDR",
    "ByteSize",
    "ConfigError",
    "Duration",
    "Regex",
    "decode",
    "format_duration",
    "load",
    "load_yaml",
    "parse_duration",
    "parse_yaml",
    "to_builtins",
]

T = TypeVar("T")


class ConfigError(Exception):
    """A config that cannot be used; ``errors`` holds every problem, one line each."""

    def __init__(self, errors: Sequence[str], source: str | None = None) -> None:
        self.errors = list(errors)
        self.source = source
        where = f"{source}: " if source else ""
        if len(self.errors) == 1:
            super().__init__(f"{where}{self.errors[0]}")
        else:
            listed = "\n".join(f"  - {e}" for e in self.errors)
            super().__init__(f"{where}{len(self.errors)} errors:\n{listed}")


# --- leaf types -----------------------------------------------------------------------------

_DURATION_RE = re.compile(
    r"^(?:(?P<y>\d+)y)?(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?"
    r"(?:(?P<m>\d+)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?(?:(?P<ms>\d+)ms)?$"
)
_DURATION_UNITS = {
    "y": 365 * 86400.0,
    "w": 7 * 86400.0,
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 0.001,
}


def parse_duration(text: str) -> float:
    """Prometheus duration syntax (``1h30m``, ``500ms``, ``5s``, ``2.5s``) to seconds.

    >>> parse_duration("1m30s")
    90.0
    """
    text = text.strip()
    match = _DURATION_RE.match(text)
    if not text or match is None or not any(match.groupdict().values()):
        raise ValueError(f"not a valid duration string: {text!r} (examples: 500ms, 5s, 1m30s)")
    return sum(float(v) * _DURATION_UNITS[k] for k, v in match.groupdict().items() if v)


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration for ``seconds`` (``90.0`` → ``1m30s``)."""
    if seconds == 0:
        return "0s"
    ms = round(seconds * 1000)
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        n, ms = divmod(ms, size)
        if n:
            parts.append(f"{n}{unit}")
    if ms:
        parts.append(f"{ms}ms")
    return "".join(parts)


class Duration(float):
    """Seconds, written in config as a Prometheus duration (``5s``) or a number of seconds."""

    __slots__ = ()

    @classmethod
    def parse(cls, value: object) -> Duration:
        if isinstance(value, bool):
            raise ValueError("expected a duration such as 5s, got a boolean")
        if isinstance(value, int | float):
            seconds = float(value)
        elif isinstance(value, str):
            seconds = parse_duration(value)
        else:
            raise ValueError(f"expected a duration such as 5s, got {type(value).__name__}")
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("duration must be finite and not negative")
        return cls(seconds)

    def __repr__(self) -> str:
        return format_duration(self)

    __str__ = __repr__


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?i?B?)?\s*$", re.IGNORECASE)
_SIZE_POWERS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5}


class ByteSize(int):
    """Bytes, written as ``1MB``, ``512KiB`` or a plain number.

    As in blackbox_exporter (Go ``units.Base2Bytes``) every unit is a power of 1024, so
    ``1MB`` and ``1MiB`` are both 1,048,576 bytes.
    """

    __slots__ = ()

    @classmethod
    def parse(cls, value: object) -> ByteSize:
        if isinstance(value, bool):
            raise ValueError("expected a size such as 1MB, got a boolean")
        if isinstance(value, int):
            n = value
        elif isinstance(value, str):
            match = _SIZE_RE.match(value)
            if match is None:
                raise ValueError(f"not a valid size: {value!r} (examples: 512KB, 1MiB, 1048576)")
            unit = (match.group(2) or "").upper().rstrip("B").rstrip("I")
            n = int(float(match.group(1)) * 1024 ** _SIZE_POWERS[unit])
        else:
            raise ValueError(f"expected a size such as 1MB, got {type(value).__name__}")
        if n < 0:
            raise ValueError("size cannot be negative")
        return cls(n)


class Regex:
    """A regular expression compiled at load; compares and prints as its source text.

    Patterns are Python ``re`` syntax, which accepts the RE2 patterns found in real
    blackbox.yml files (RE2 has no backreferences or lookaround, so it is a subset).
    """

    __slots__ = ("pattern", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        try:
            self.pattern = re.compile(source)
        except re.error as exc:
            try:  # RE2 accepts a few forms Python does not; translate those and retry
                self.pattern = re.compile(_from_re2(source))
            except re.error:
                raise ValueError(
                    f'"Could not compile regular expression" regexp="{source}": {exc}'
                ) from None

    @classmethod
    def parse(cls, value: object) -> Regex:
        if not isinstance(value, str):
            raise ValueError(f"expected a regular expression string, got {type(value).__name__}")
        return cls(value)

    def search(self, text: str) -> re.Match[str] | None:
        return self.pattern.search(text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Regex) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)

    def __repr__(self) -> str:
        return f"Regex({self.source!r})"


_RE2_REPEATED_ANCHOR = re.compile(r"(?<!\\)([$^])(?=[*+?{])")


def _from_re2(source: str) -> str:
    """Rewrite RE2-only syntax: a quantified anchor (``^+OK``, valid in Go, where it is
    the anchor repeated) becomes ``(?:^)+OK``; ``\\z`` (end of text) becomes ``\\Z``."""
    return _RE2_REPEATED_ANCHOR.sub(r"(?:\1)", source).replace(r"\z", r"\Z")


class CIDR:
    """An IP network such as ``10.0.0.0/8`` or a single address (``169.254.169.254``)."""

    __slots__ = ("network",)

    def __init__(self, text: str) -> None:
        try:
            self.network: ipaddress.IPv4Network | ipaddress.IPv6Network = ipaddress.ip_network(
                text.strip(), strict=False
            )
        except ValueError:
            raise ValueError(f"not a valid IP network or address: {text!r}") from None

    @classmethod
    def parse(cls, value: object) -> CIDR:
        if not isinstance(value, str):
            raise ValueError(f"expected an IP network such as 10.0.0.0/8, got {value!r}")
        return cls(value)

    def __contains__(self, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return addr in self.network

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CIDR) and other.network == self.network

    def __hash__(self) -> int:
        return hash(self.network)

    def __repr__(self) -> str:
        return f"CIDR({str(self.network)!r})"


_LEAF_PARSERS: dict[type, Callable[[object], object]] = {
    Duration: Duration.parse,
    ByteSize: ByteSize.parse,
    Regex: Regex.parse,
    CIDR: CIDR.parse,
}


def _enc_hook(obj: object) -> object:
    """msgspec encoder hook so configs can be shown back (``/config``) as plain data."""
    if isinstance(obj, Regex):
        return obj.source
    if isinstance(obj, CIDR):
        return str(obj.network)
    if isinstance(obj, Duration):
        return format_duration(obj)
    if isinstance(obj, ByteSize):
        return int(obj)
    raise NotImplementedError(type(obj))


def to_builtins(value: object) -> Any:
    """A decoded config as plain dicts / lists / strings, secrets included (callers redact)."""
    return msgspec.to_builtins(value, enc_hook=_enc_hook)


# --- the walker -----------------------------------------------------------------------------


@dataclass
class _Ctx:
    errors: list[tuple[str, str]]


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "mapping", list: "list", str: "string", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


class _Invalid(Exception):
    """Raised inside the walker once an error has been recorded for a value."""


def _convert(value: object, tp: Any, path: str, ctx: _Ctx) -> Any:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base = typing.get_args(tp)[0]
        inner = _convert(value, base, path, ctx)
        try:
            return msgspec.convert(inner, tp)
        except msgspec.ValidationError as exc:
            ctx.errors.append((path, str(exc).split(" - at")[0]))
            raise _Invalid from None
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _convert(value, rest[0], path, ctx)
        for arg in rest:  # first member that accepts the value, without reporting
            trial = _Ctx([])
            try:
                return _convert(value, arg, path, trial)
            except _Invalid:
                continue
        ctx.errors.append((path, f"unexpected {_type_name(value)}"))
        raise _Invalid
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value in allowed and type(value) is type(allowed[0]):
            return value
        shown = ", ".join(repr(a) for a in allowed)
        ctx.errors.append((path, f"invalid value {value!r}; expected one of {shown}"))
        raise _Invalid
    if origin in (list, tuple, frozenset, Sequence) or tp in (list, tuple):
        if not isinstance(value, list):
            ctx.errors.append((path, f"expected a list, got {_type_name(value)}"))
            raise _Invalid
        args = typing.get_args(tp)
        item_tp = args[0] if args else Any
        items = []
        failed = False
        for i, item in enumerate(value):
            try:
                items.append(_convert(item, item_tp, _join(path, i), ctx))
            except _Invalid:
                failed = True
        if failed:
            raise _Invalid
        if origin is frozenset:
            return frozenset(items)
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, dict):
            ctx.errors.append((path, f"expected a mapping, got {_type_name(value)}"))
            raise _Invalid
        args = typing.get_args(tp)
        key_tp, val_tp = args if args else (Any, Any)
        out = {}
        failed = False
        for k, v in value.items():
            try:
                ck = _convert(k, key_tp, _join(path, str(k)), ctx)
                out[ck] = _convert(v, val_tp, _join(path, str(k)), ctx)
            except _Invalid:
                failed = True
        if failed:
            raise _Invalid
        return out
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return _convert_struct(value, tp, path, ctx)
    if tp in _LEAF_PARSERS:
        try:
            return _LEAF_PARSERS[tp](value)
        except ValueError as exc:
            ctx.errors.append((path, str(exc)))
            raise _Invalid from None
    if tp is Any:
        return value
    try:
        return msgspec.convert(value, tp)
    except msgspec.ValidationError:
        expected = getattr(tp, "__name__", str(tp))
        expected = {"str": "string", "bool": "boolean", "int": "integer", "float": "number"}.get(
            expected, expected
        )
        ctx.errors.append((path, f"expected {expected}, got {_type_name(value)} {value!r}"))
        raise _Invalid from None


def _convert_struct(value: object, tp: type[msgspec.Struct], path: str, ctx: _Ctx) -> Any:
    if value is None:
        value = {}  # `http:` with nothing under it, as YAML users write, means "defaults"
    if not isinstance(value, dict):
        ctx.errors.append((path, f"expected a mapping, got {_type_name(value)}"))
        raise _Invalid
    fields = msgspec.structs.fields(tp)
    by_name = {f.encode_name: f for f in fields}
    kwargs: dict[str, Any] = {}
    failed = False
    for key in value:
        if isinstance(key, bool):
            ctx.errors.append(
                (
                    path,
                    f"a key reads as the boolean {key} (YAML 1.1 turns bare on/off/yes/no into "
                    "booleans); quote it if you meant a name",
                )
            )
            failed = True
        elif key not in by_name:
            known = ", ".join(sorted(by_name))
            ctx.errors.append(
                (_join(path, str(key)), f"field {key} not found (known fields: {known})")
            )
            failed = True
    for f in fields:
        if f.encode_name in value:
            try:
                kwargs[f.name] = _convert(
                    value[f.encode_name], f.type, _join(path, f.encode_name), ctx
                )
            except _Invalid:
                failed = True
        elif f.required:
            ctx.errors.append((_join(path, f.encode_name), "required field is missing"))
            failed = True
    if failed:
        raise _Invalid
    try:
        return tp(**kwargs)
    except (ValueError, TypeError) as exc:
        # A validator reports several problems as one message, a line each.
        ctx.errors.extend((path, line) for line in str(exc).splitlines() if line)
        raise _Invalid from None


def decode(data: object, tp: type[T], *, lines: Mapping[str, int] | None = None) -> T:
    """Convert plain YAML data into ``tp``; raise :class:`ConfigError` listing every problem.

    ``lines`` maps a path (``modules.http_2xx.timeout``) to its line in the source file so
    messages can say where to look.
    """
    ctx = _Ctx([])
    try:
        return typing.cast(T, _convert(data, tp, "", ctx))
    except _Invalid:
        pass
    messages = []
    for path, msg in ctx.errors:
        line = _line_for(path, lines) if lines else None
        where = path or "(top level)"
        messages.append(f"{where}: {msg}" + (f" (line {line})" if line else ""))
    raise ConfigError(messages)


def _line_for(path: str, lines: Mapping[str, int]) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None


def _node_lines(node: yaml.Node, path: str, out: dict[str, int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = _join(path, str(key_node.value))
            out[key] = key_node.start_mark.line + 1
            _node_lines(value_node, key, out)
            out[key] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _node_lines(item, _join(path, i), out)


def load_yaml(path: str | Path) -> tuple[Any, dict[str, int]]:
    """Read a YAML file: its data and a map of path → line for error messages.

    Raises :class:`ConfigError` for unreadable files and YAML syntax errors.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read config file: {exc.strerror or exc}"], source) from None
    return parse_yaml(text, source)


def parse_yaml(text: str, source: str = "<config>") -> tuple[Any, dict[str, int]]:
    """Parse YAML text (see :func:`load_yaml`)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"invalid YAML: {exc}"], source) from None
    lines: dict[str, int] = {}
    if node is not None:
        _node_lines(node, "", lines)
    return data, lines


def load(path: str | Path, tp: type[T]) -> T:
    """Read and decode a YAML config file into ``tp`` (every error in one ConfigError)."""
    data, lines = load_yaml(path)
    try:
        return decode(data, tp, lines=lines)
    except ConfigError as exc:
        raise ConfigError(exc.errors, str(path)) from None
