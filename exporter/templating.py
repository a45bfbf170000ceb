"""``${...}`` templates for journeys, with secrets that never leave the process.

Journey steps (URLs, headers, bodies, form values, browser ``fill`` values) are templates::

    ${target}          the probe target (the check's ``target`` or ``/probe?target=``)
    ${token}           a variable: from ``variables:`` or extracted by an earlier step
    ${env:SHOP_PASS}   an environment variable   (a secret)
    ${file:/run/pw}    a file's text, stripped   (a secret)
    $${                a literal ``${``

Secrets are read when a run needs them, so a rotated file or a restarted-with-new-env
process is picked up without a reload; the config itself only ever holds the *reference*
(``${env:SHOP_PASS}``), which is why ``/config`` can show it. Every secret value a run
renders (and every extracted variable marked ``secret: true``) is added to the run's
:class:`Scrubber`, which replaces it with ``<secret>`` in anything written to the probe
log, so neither the log on ``/`` nor an error message can carry it.

    >>> t = compile_template("Bearer ${env:API_TOKEN}")
    >>> scrub = Scrubber()
    >>> t.render({}, scrub)            # with API_TOKEN=abc123 in the environment
    'Bearer abc123'
    >>> scrub("got Bearer abc123")
    'got Bearer <secret>'

Templates are checked at load (:func:`check_template`): syntax, that every variable is
known at that point of the journey, that environment variables are set and files readable.
"""

from __future__ import annotations

import functools
import json
import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SECRET_PLACEHOLDER",
    "Scrubber",
    "SecretUnavailable",
    "Template",
    "TemplateError",
    "check_template",
    "compile_template",
    "is_template",
]

SECRET_PLACEHOLDER = "<secret>"
#: Secrets larger than this are refused: a template reference is for credentials, not files.
_MAX_SECRET_BYTES = 64 * 1024

_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TemplateError(ValueError):
    """A template that cannot be parsed (found at load)."""


class SecretUnavailable(Exception):
    """A secret reference that cannot be read at run time (env unset, file gone)."""


@dataclass(frozen=True, slots=True)
class _Ref:
    kind: str  # "var", "env" or "file"
    name: str

    def describe(self) -> str:
        return self.name if self.kind == "var" else f"{self.kind}:{self.name}"


class Scrubber:
    """Replaces the secret values one run has seen with ``<secret>``.

    One per run, never shared: it holds the secrets in memory for the run's lifetime only.
    Longer secrets are replaced first so a secret containing another is hidden whole.
    """

    __slots__ = ("_secrets",)

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def add(self, value: str) -> None:
        if value and value not in self._secrets:
            self._secrets.append(value)
            self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, SECRET_PLACEHOLDER)
        return text

    def scrub_bytes(self, data: bytes) -> bytes:
        """Like calling it, for bytes, and for the encoded forms a secret takes in transit
        (URL-encoded in a form post or query, JSON-escaped in a body): Playwright traces
        hold request bodies and typed values."""
        for secret in self._secrets:
            for form in _encoded_forms(secret):
                if form in data:
                    data = data.replace(form, SECRET_PLACEHOLDER.encode())
        return data

    def __bool__(self) -> bool:
        return bool(self._secrets)


def _encoded_forms(secret: str) -> list[bytes]:
    forms = [
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    ]
    out: list[bytes] = []
    for form in forms:
        encoded = form.encode()
        if encoded not in out:
            out.append(encoded)
    return sorted(out, key=len, reverse=True)


def _read_env(name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise SecretUnavailable(f"environment variable {name} is not set")
    return value


def _read_file(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise SecretUnavailable(f"cannot read secret file {path}: {exc.strerror or exc}") from None
    if len(data) > _MAX_SECRET_BYTES:
        raise SecretUnavailable(f"secret file {path} is larger than {_MAX_SECRET_BYTES} bytes")
    return data.decode("utf-8", errors="replace").strip()


class Template:
    """A parsed template: literal text and references, rendered per run."""

    __slots__ = ("parts", "source")

    def __init__(self, source: str, parts: tuple[str | _Ref, ...]) -> None:
        self.source = source
        self.parts = parts

    @property
    def variables(self) -> list[str]:
        """Names of the ``${name}`` variables this template uses."""
        return [p.name for p in self.parts if isinstance(p, _Ref) and p.kind == "var"]

    @property
    def has_secret(self) -> bool:
        return any(isinstance(p, _Ref) and p.kind != "var" for p in self.parts)

    @property
    def is_literal(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    def render(self, variables: Mapping[str, str], scrub: Scrubber) -> str:
        """The text for this run; secrets read now are added to ``scrub``.

        Raises :class:`SecretUnavailable` when a secret cannot be read and ``KeyError``
        for a variable not set (load-time checks make that a bug, not a user error).
        """
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part.kind == "var":
                out.append(variables[part.name])
            else:
                value = _read_env(part.name) if part.kind == "env" else _read_file(part.name)
                scrub.add(value)
                out.append(value)
        return "".join(out)


@functools.lru_cache(maxsize=4096)
def compile_template(source: str) -> Template:
    """Parse ``source`` once (cached: probes render the same templates every run).

    Raises :class:`TemplateError` for ``${}`` forms that are not a variable name,
    ``env:NAME`` or ``file:/path``.
    """
    parts: list[str | _Ref] = []
    pos = 0
    for match in _REF.finditer(source):
        parts.append(source[pos : match.start()])
        pos = match.end()
        if match.group(0) == "$${":
            parts.append("${")
            continue
        inner = match.group(1).strip()
        kind, sep, rest = inner.partition(":")
        if sep and kind == "env":
            if not _ENV_NAME.match(rest):
                raise TemplateError(f"${{{inner}}}: not a valid environment variable name")
            parts.append(_Ref("env", rest))
        elif sep and kind == "file":
            if not rest.startswith("/"):
                raise TemplateError(f"${{{inner}}}: a secret file path must be absolute")
            parts.append(_Ref("file", rest))
        elif not sep and _VAR_NAME.match(inner):
            parts.append(_Ref("var", inner))
        else:
            raise TemplateError(
                f"${{{inner}}} is not a template reference (use ${{name}}, ${{env:NAME}} "
                "or ${file:/path}; write $${ for a literal ${)"
            )
    if "${" in source[pos:]:
        raise TemplateError(f"unclosed ${{ in {source!r}")
    parts.append(source[pos:])
    return Template(source, tuple(p for p in parts if p != ""))


def is_template(text: str) -> bool:
    """Does ``text`` hold any reference (so its value is not known from the config)?"""
    return not compile_template(text).is_literal


def check_template(source: str, known: Iterable[str]) -> list[str]:
    """Load-time problems with ``source``: syntax, unknown variables, unreadable secrets.

    >>> check_template("${tokn}", ["target", "token"])
    ["unknown variable 'tokn' (known here: target, token)"]
    """
    try:
        template = compile_template(source)
    except TemplateError as exc:
        return [str(exc)]
    known_set = set(known)
    problems = []
    for part in template.parts:
        if not isinstance(part, _Ref):
            continue
        if part.kind == "var" and part.name not in known_set:
            listed = ", ".join(sorted(known_set)) or "none"
            problems.append(f"unknown variable {part.name!r} (known here: {listed})")
        elif part.kind == "env" and part.name not in os.environ:
            problems.append(f"${{env:{part.name}}}: environment variable {part.name} is not set")
        elif part.kind == "file":
            path = Path(part.name)
            if not path.is_file() or not os.access(path, os.R_OK):
                problems.append(f"${{file:{part.name}}}: not a readable file")
    return problems
