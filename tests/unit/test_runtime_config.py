"""The config walker: typed leaves, every error at once, paths and lines."""

from __future__ import annotations

import msgspec
import pytest

from twinlens.runtime.config import (
    CIDR,
    ByteSize,
    ConfigError,
    Duration,
    Regex,
    decode,
    format_duration,
    parse_duration,
    parse_yaml,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("1h", 3600.0),
        ("2d", 172800.0),
        ("1w", 604800.0),
        ("2.5s", 2.5),
        ("1h1m1s1ms", 3661.001),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "s", "5x", "1s1m", "-5s", "5 s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (90, "1m30s"), (0.25, "250ms"), (86400 + 1, "1d1s")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "size"),
    [("1MB", 1048576), ("1MiB", 1048576), ("512KB", 524288), (100, 100), ("1GB", 1 << 30)],
)
def test_byte_size(value: object, size: int) -> None:
    assert ByteSize.parse(value) == size


def test_regex_accepts_re2_repeated_anchor() -> None:
    # Go's RE2 accepts `^+OK` (a repeated anchor); blackbox's example config uses it.
    rx = Regex("^+OK")
    assert rx.search("OK ready") is not None
    assert rx.search("x OK") is None


def test_cidr_contains() -> None:
    import ipaddress

    assert ipaddress.ip_address("10.1.2.3") in CIDR("10.0.0.0/8")
    assert ipaddress.ip_address("11.0.0.1") not in CIDR("10.0.0.0/8")


class Inner(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    codes: list[int] = []
    timeout: Duration = Duration(5)
    pattern: Regex | None = None


class Outer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    inner: dict[str, Inner] = {}

    def __post_init__(self) -> None:
        if self.name == "bad":
            raise ValueError("name must not be bad\nand a second problem")


def test_decode_reports_every_error_with_path_and_line() -> None:
    text = """\
name: x
inner:
  a:
    codes: [200, "two"]
    timeout: soon
  b:
    pattern: "(["
    extra: 1
"""
    data, lines = parse_yaml(text)
    with pytest.raises(ConfigError) as err:
        decode(data, Outer, lines=lines)
    errors = err.value.errors
    assert len(errors) == 4, errors
    assert errors[0].startswith("inner.a.codes[1]: expected integer, got string 'two' (line 4)")
    assert errors[1].startswith("inner.a.timeout: not a valid duration string: 'soon'")
    assert errors[1].endswith("(line 5)")
    assert errors[2].startswith("inner.b.extra: field extra not found")
    assert errors[2].endswith("(line 8)")
    assert errors[3].startswith('inner.b.pattern: "Could not compile regular expression"')


def test_decode_missing_required_and_validator_lines() -> None:
    with pytest.raises(ConfigError) as err:
        decode({}, Outer)
    assert err.value.errors == ["name: required field is missing"]
    with pytest.raises(ConfigError) as err:
        decode({"name": "bad"}, Outer)
    assert err.value.errors == [
        "(top level): name must not be bad",
        "(top level): and a second problem",
    ]


def test_decode_success_types() -> None:
    out = decode({"name": "x", "inner": {"a": {"timeout": "1m", "pattern": "^a"}}}, Outer)
    assert out.inner["a"].timeout == 60.0
    assert isinstance(out.inner["a"].timeout, Duration)
    assert out.inner["a"].pattern is not None and out.inner["a"].pattern.search("abc")
    assert decode({"name": "y", "inner": {"a": None}}, Outer).inner["a"] == Inner()


def test_yaml11_boolean_key_is_explained() -> None:
    class WithOn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        on: list[str] = msgspec.field(default_factory=list, name="reasons")

    data, lines = parse_yaml("on: [dns]\n")
    with pytest.raises(ConfigError) as err:
        decode(data, WithOn, lines=lines)
    assert err.value.errors == [
        "(top level): a key reads as the boolean True (YAML 1.1 turns bare on/off/yes/no into "
        "booleans); quote it if you meant a name"
    ]
    assert decode({"reasons": ["dns"]}, WithOn).on == ["dns"]
