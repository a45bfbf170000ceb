"""Config of the two journey probers: ``journey:`` (multi-step HTTP) and ``browser:``.

Both sit in a module next to blackbox's sections and are decoded at load, like the rest of
the exporter config (:mod:`exporter.config`): unknown keys rejected, regexes and JSON paths
compiled, every template checked against the variables known at its step, environment
variables and secret files checked, step names unique (they become the ``step`` label, so
the config bounds it). A multi-step HTTP module::

    modules:
      shop_api:
        prober: journey
        timeout: 15s
        journey:
          variables: {user: probe@example.com}
          steps:
            - name: login
              method: POST
              url: /api/login                     # relative to the target
              json: {user: "${user}", password: "${env:SHOP_PASSWORD}"}
              expect_status: [200]
              assert:
                - {json: $.token, type: string}
              extract:
                token: {json: $.token, secret: true}
            - name: profile
              url: /api/me
              headers: {Authorization: "Bearer ${token}"}
              assert:
                - {json: $.email, equals: probe@example.com}
                - {max_duration: 500ms}

and a browser journey::

    modules:
      shop_checkout:
        prober: browser
        timeout: 30s
        browser:
          artifacts: {dir: /var/lib/twinlens/artifacts, keep: 20}
          steps:
            - goto: /
            - {name: search, fill: {selector: "#q", value: socks}}
            - press: {selector: "#q", key: Enter}
            - expect_text: {selector: h1, text: Results}
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
from pathlib import Path
from typing import Any, Literal

import msgspec

from exporter.jsonpath import JSONPathError, compile_path
from exporter.templating import check_template, compile_template
from twinlens.runtime.chromium import CHROMIUM_CANDIDATES, find_chromium
from twinlens.runtime.config import Duration, Regex

__all__ = [
    "CHROMIUM_CANDIDATES",
    "Artifacts",
    "Assertion",
    "BrowserProbe",
    "BrowserStep",
    "ExpectText",
    "Extract",
    "Fill",
    "JourneyProbe",
    "JourneyStep",
    "Press",
    "Script",
    "Viewport",
    "WaitFor",
    "find_chromium",
]

MAX_STEPS = 50
_STEP_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: Headers whose literal value would be a credential on ``/config``: refused unless templated.
_CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-access-token",
    }
)
#: Names that say "credential": their values must be references, never literals.
_SECRET_NAME = re.compile(r"pass(word|wd)?|secret|token|api[_-]?key|credential", re.IGNORECASE)
JSONType = Literal["string", "number", "integer", "boolean", "array", "object", "null"]


class _Base(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


def _set(value: object) -> bool:
    return value is not None and value is not msgspec.UNSET and value != ""


# --- multi-step HTTP ---------------------------------------------------------------------------


class Assertion(_Base, frozen=True):
    """One check on a step's response. Exactly one subject: ``json`` (a path), ``header``,
    ``body_matches`` / ``body_not_matches`` or ``max_duration``; ``json`` and ``header``
    take exactly one operator (``equals``, ``contains``, ``matches``, ``type``, ``exists``).
    """

    json: str = ""
    header: str = ""
    equals: Any | msgspec.UnsetType = msgspec.UNSET
    contains: Any | msgspec.UnsetType = msgspec.UNSET
    matches: Regex | None = None
    type: JSONType | None = None
    exists: bool | None = None
    body_matches: Regex | None = None
    body_not_matches: Regex | None = None
    max_duration: Duration | None = None

    def __post_init__(self) -> None:
        subjects = [
            name
            for name in ("json", "header", "body_matches", "body_not_matches", "max_duration")
            if _set(getattr(self, name))
        ]
        if len(subjects) != 1:
            raise ValueError(
                "an assertion needs exactly one of json, header, body_matches, "
                f"body_not_matches, max_duration (found {', '.join(subjects) or 'none'})"
            )
        ops = self._operators()
        subject = subjects[0]
        if subject in ("json", "header"):
            if len(ops) != 1:
                raise ValueError(
                    f"a {subject} assertion needs exactly one of equals, contains, matches, "
                    f"type, exists (found {', '.join(ops) or 'none'})"
                )
            if subject == "header" and self.type is not None:
                raise ValueError("type applies to json assertions only")
        elif ops:
            raise ValueError(f"{subject} takes no {', '.join(ops)}")
        if self.json:
            try:
                compile_path(self.json)
            except JSONPathError as exc:
                raise ValueError(str(exc)) from None
        if self.header and not _HEADER_NAME.match(self.header):
            raise ValueError(f"header {self.header!r} is not a valid header name")

    def _operators(self) -> list[str]:
        ops = [n for n in ("equals", "contains") if getattr(self, n) is not msgspec.UNSET]
        return ops + [n for n in ("matches", "type", "exists") if getattr(self, n) is not None]

    @property
    def operator(self) -> str:
        """``equals``, ``contains``, ``matches``, ``type`` or ``exists`` (json/header only)."""
        return self._operators()[0]

    def describe(self) -> str:
        """What is asserted, for the probe log (``$.user.id equals 42``)."""
        if self.json or self.header:
            subject = self.json or f"header {self.header}"
            value = getattr(self, self.operator)
            shown = value.source if isinstance(value, Regex) else value
            return f"{subject} {self.operator} {shown!r}"
        if self.body_matches is not None:
            return f"body matches {self.body_matches.source!r}"
        if self.body_not_matches is not None:
            return f"body does not match {self.body_not_matches.source!r}"
        return f"step time under {self.max_duration}"


class Extract(_Base, frozen=True):
    """A variable for later steps, from a JSON path, a header or a body regex.

    ``regex`` narrows a JSON string or header value; the first group (or the whole match)
    is kept. ``secret: true`` hides the value from the probe log like an env/file secret.
    """

    json: str = ""
    header: str = ""
    body_regex: Regex | None = None
    regex: Regex | None = None
    secret: bool = False

    def __post_init__(self) -> None:
        sources = [n for n in ("json", "header", "body_regex") if _set(getattr(self, n))]
        if len(sources) != 1:
            raise ValueError(
                "extract needs exactly one of json, header, body_regex "
                f"(found {', '.join(sources) or 'none'})"
            )
        if self.body_regex is not None and self.regex is not None:
            raise ValueError("regex narrows json or header; body_regex is already a regex")
        if self.json:
            try:
                compile_path(self.json)
            except JSONPathError as exc:
                raise ValueError(str(exc)) from None
        if self.header and not _HEADER_NAME.match(self.header):
            raise ValueError(f"header {self.header!r} is not a valid header name")


class JourneyStep(_Base, frozen=True):
    """One HTTP request of a journey. ``url`` is relative to the target (or absolute);
    the body is one of ``body`` (text), ``json`` (a structure, sent as JSON) or ``form``
    (sent urlencoded); string values in all of them are templates."""

    name: str
    url: str = ""
    method: str = "GET"
    headers: dict[str, str] = {}
    body: str = ""
    json_body: Any | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET, name="json")
    form: dict[str, str] = {}
    expect_status: list[int] = []
    assertions: list[Assertion] = msgspec.field(default_factory=list, name="assert")
    extract: dict[str, Extract] = {}
    timeout: Duration | None = None
    follow_redirects: bool | None = None

    def __post_init__(self) -> None:
        problems = []
        if not _STEP_NAME.match(self.name):
            problems.append(
                f"step name {self.name!r} must be 1-64 characters of letters, digits, _.:-"
            )
        if not re.fullmatch(r"[A-Z]+", self.method):
            problems.append(f"method {self.method!r} is not an upper-case HTTP method")
        bodies = [
            n
            for n, on in (
                ("body", bool(self.body)),
                ("json", self.json_body is not msgspec.UNSET),
                ("form", bool(self.form)),
            )
            if on
        ]
        if len(bodies) > 1:
            problems.append(f"at most one of body, json, form (found {', '.join(bodies)})")
        for code in self.expect_status:
            if not 100 <= code <= 599:
                problems.append(f"expect_status: {code} is not an HTTP status code")
        for var in self.extract:
            if not _VAR_NAME.match(var) or var == "target":
                problems.append(f"extract: {var!r} is not a usable variable name")
        if self.timeout is not None and self.timeout <= 0:
            problems.append("timeout must be more than 0s")
        if problems:
            raise ValueError("\n".join(problems))

    def templates(self) -> list[tuple[str, str]]:
        """``(where, template)`` for every templated string of this step."""
        out = [("url", self.url), ("body", self.body)]
        out += [(f"headers.{k}", v) for k, v in self.headers.items()]
        out += [(f"form.{k}", v) for k, v in self.form.items()]
        out += [(f"json{where}", v) for where, v in _json_strings(self.json_body, "")]
        return [(w, t) for w, t in out if t]


def _json_strings(value: Any, where: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _json_strings(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in _json_strings(v, f"{where}[{i}]")]
    return []


def _check_headers(headers: dict[str, str], where: str) -> list[str]:
    problems = []
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            problems.append(f"{where}.{name}: not a valid header name")
        elif name.lower() in _CREDENTIAL_HEADERS and value and not _templated(value):
            problems.append(_literal_secret(f"{where}.{name}"))
    return problems


def _templated(text: str) -> bool:
    try:
        return not compile_template(text).is_literal
    except ValueError:
        return True  # reported by the template check


def _literal_secret(where: str) -> str:
    return (
        f"{where}: a literal credential would show on /config; "
        "write it as ${env:NAME}, ${file:/path} or a variable"
    )


def _check_variables(variables: dict[str, str]) -> list[str]:
    problems = []
    for name, value in variables.items():
        if not _VAR_NAME.match(name) or name == "target":
            problems.append(f"variables.{name}: not a usable variable name")
        elif _SECRET_NAME.search(name) and value and not _templated(value):
            problems.append(_literal_secret(f"variables.{name}"))
        # Variables may use the target and secrets, not each other (no ordering puzzles).
        problems += [f"variables.{name}: {p}" for p in check_template(value, ["target"])]
    return problems


def _check_steps_known(
    steps: list[tuple[str, list[tuple[str, str]], list[str]]], known: set[str]
) -> list[str]:
    """Each step's templates against the variables known when it runs."""
    problems = []
    for label, templates, provides in steps:
        for where, template in templates:
            problems += [f"{label}.{where}: {p}" for p in check_template(template, known)]
        known = known | set(provides)
    return problems


class JourneyProbe(_Base, frozen=True):
    """A multi-step HTTP check. The HTTP client settings (``tls_config``,
    ``preferred_ip_protocol``, ``follow_redirects``, ``body_size_limit``…) come from the
    module's ``http:`` section, so a journey reaches whatever an ``http`` module reaches."""

    steps: list[JourneyStep] = []
    variables: dict[str, str] = {}
    headers: dict[str, str] = {}

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= len(self.steps) <= MAX_STEPS:
            problems.append(f"a journey needs 1 to {MAX_STEPS} steps (found {len(self.steps)})")
        seen: set[str] = set()
        for step in self.steps:
            if step.name in seen:
                problems.append(f"duplicate step name {step.name!r} (step names are labels)")
            seen.add(step.name)
        problems += _check_variables(self.variables)
        problems += _check_headers(self.headers, "headers")
        known = {"target", *self.variables}
        problems += [
            f"headers.{k}: {p}" for k, v in self.headers.items() for p in check_template(v, known)
        ]
        table = []
        for i, step in enumerate(self.steps):
            label = f"steps[{i}] ({step.name})"
            problems += _check_headers(step.headers, f"{label}.headers")
            table.append((label, step.templates(), list(step.extract)))
        problems += _check_steps_known(table, known)
        if problems:
            raise ValueError("\n".join(problems))


# --- browser -------------------------------------------------------------------------------


class Fill(_Base, frozen=True):
    selector: str
    value: str  # a template: ${env:PASSWORD} types a secret


class Press(_Base, frozen=True):
    key: str  # Playwright key names: Enter, Tab, Control+A…
    selector: str = ""  # empty: the focused element


class WaitFor(_Base, frozen=True):
    """Wait for an element's ``state``, a URL (regex) or a page load state."""

    selector: str = ""
    state: Literal["attached", "detached", "visible", "hidden"] = "visible"
    url: Regex | None = None
    load_state: Literal["load", "domcontentloaded", "networkidle"] | None = None

    def __post_init__(self) -> None:
        given = [n for n in ("selector", "url", "load_state") if _set(getattr(self, n))]
        if len(given) != 1:
            raise ValueError(
                "wait_for needs exactly one of selector, url, load_state "
                f"(found {', '.join(given) or 'none'})"
            )


class ExpectText(_Base, frozen=True):
    """The element's text contains ``text`` (a template) or matches ``matches``."""

    selector: str
    text: str = ""
    matches: Regex | None = None

    def __post_init__(self) -> None:
        if bool(self.text) == (self.matches is not None):
            raise ValueError("expect_text needs exactly one of text, matches")


class Script(_Base, frozen=True):
    """The escape hatch: ``async def run(page, target)`` in a Python file, awaited as a
    step; raising (``assert`` included) fails the step."""

    file: str
    function: str = "run"

    def __post_init__(self) -> None:
        path = Path(self.file)
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"script {self.file!r}: {exc.strerror or exc}") from None
        try:
            tree = ast.parse(source, filename=self.file)
        except SyntaxError as exc:
            raise ValueError(f"script {self.file!r}: line {exc.lineno}: {exc.msg}") from None
        found = [
            node
            for node in tree.body
            if isinstance(node, ast.AsyncFunctionDef) and node.name == self.function
        ]
        if not found:
            raise ValueError(
                f"script {self.file!r} has no top-level 'async def {self.function}(page, target)'"
            )


_ACTIONS = (
    "goto",
    "click",
    "fill",
    "press",
    "wait_for",
    "expect_text",
    "expect_visible",
    "expect_url",
    "script",
)


class BrowserStep(_Base, frozen=True):
    """One action; exactly one of the action keys. ``name`` (the ``step`` label) defaults
    to ``<n>_<action>`` (``1_goto``); ``timeout`` overrides the module's ``step_timeout``."""

    name: str = ""
    timeout: Duration | None = None
    goto: str | None = None  # a URL template, relative to the target
    click: str | None = None  # a Playwright selector
    fill: Fill | None = None
    press: Press | None = None
    wait_for: WaitFor | None = None
    expect_text: ExpectText | None = None
    expect_visible: str | None = None
    expect_url: Regex | None = None
    script: Script | None = None

    def __post_init__(self) -> None:
        given = [a for a in _ACTIONS if getattr(self, a) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a browser step needs exactly one of {', '.join(_ACTIONS)} "
                f"(found {', '.join(given) or 'none'})"
            )
        if self.name and not _STEP_NAME.match(self.name):
            raise ValueError(
                f"step name {self.name!r} must be 1-64 characters of letters, digits, _.:-"
            )
        for selector in (self.click, self.expect_visible):
            if selector is not None and not selector.strip():
                raise ValueError(f"{given[0]}: the selector is empty")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError("timeout must be more than 0s")

    @property
    def action(self) -> str:
        return next(a for a in _ACTIONS if getattr(self, a) is not None)

    def templates(self) -> list[tuple[str, str]]:
        out = []
        if self.goto is not None:
            out.append(("goto", self.goto))
        if self.fill is not None:
            out.append(("fill.value", self.fill.value))
        if self.expect_text is not None and self.expect_text.text:
            out.append(("expect_text.text", self.expect_text.text))
        return out


class Viewport(_Base, frozen=True):
    width: int = 1280
    height: int = 720

    def __post_init__(self) -> None:
        if not (200 <= self.width <= 8000 and 200 <= self.height <= 8000):
            raise ValueError("viewport width and height must be between 200 and 8000")


class Artifacts(_Base, frozen=True):
    """Where a failed run's screenshot and Playwright trace go; ``dir: ""`` keeps none."""

    dir: str = ""
    keep: int = 20  # failed runs kept in ``dir``; older ones are deleted
    trace: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.keep <= 10_000:
            raise ValueError("artifacts.keep must be between 1 and 10000")
        if self.dir:
            path = Path(self.dir)
            probe = path if path.exists() else path.parent
            if probe.exists() and not (probe.is_dir() and os.access(probe, os.W_OK)):
                raise ValueError(f"artifacts.dir {self.dir!r} is not a writable folder")
            if not probe.exists():
                raise ValueError(f"artifacts.dir {self.dir!r}: {probe} does not exist")


class BrowserProbe(_Base, frozen=True):
    """A real-browser journey: Playwright driving Chromium, one browser process shared by
    every browser module, a fresh context per run."""

    steps: list[BrowserStep] = []
    variables: dict[str, str] = {}
    headers: dict[str, str] = {}  # sent with every request of the run (templates)
    executable: str = ""  # Chromium; empty: found on PATH (CHROMIUM_CANDIDATES)
    max_concurrency: int = 2  # a run starts only while fewer browser runs are in flight
    step_timeout: Duration = Duration(5)
    viewport: Viewport = Viewport()
    user_agent: str = ""  # empty: Chromium's own; TwinlensSynthetic/<version> is appended
    ignore_https_errors: bool = False
    vitals: bool = True
    fail_on_js_error: bool = False
    artifacts: Artifacts = Artifacts()

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= len(self.steps) <= MAX_STEPS:
            problems.append(
                f"a browser journey needs 1 to {MAX_STEPS} steps (found {len(self.steps)})"
            )
        names = self.step_names()
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"duplicate step name {name!r} (step names are labels)")
        if not 1 <= self.max_concurrency <= 32:
            problems.append("max_concurrency must be between 1 and 32")
        if self.step_timeout <= 0:
            problems.append("step_timeout must be more than 0s")
        if self.executable and not os.access(self.executable, os.X_OK):
            problems.append(f"executable {self.executable!r} is not an executable file")
        elif not self.executable and find_chromium() is None:
            problems.append(
                "no Chromium found on PATH (looked for "
                f"{', '.join(CHROMIUM_CANDIDATES)}); install one or set browser.executable"
            )
        if importlib.util.find_spec("playwright") is None:
            problems.append("browser journeys need Playwright: pip install 'twinlens[browser]'")
        problems += _check_variables(self.variables)
        problems += _check_headers(self.headers, "headers")
        known = {"target", *self.variables}
        problems += [
            f"headers.{k}: {p}" for k, v in self.headers.items() for p in check_template(v, known)
        ]
        for i, step in enumerate(self.steps):
            fill = step.fill
            if fill and _SECRET_NAME.search(fill.selector) and not _templated(fill.value):
                problems.append(_literal_secret(f"steps[{i}] ({names[i]}).fill.value"))
        table: list[tuple[str, list[tuple[str, str]], list[str]]] = [
            (f"steps[{i}] ({names[i]})", step.templates(), []) for i, step in enumerate(self.steps)
        ]
        problems += _check_steps_known(table, known)
        if problems:
            raise ValueError("\n".join(problems))

    def step_names(self) -> list[str]:
        """The ``step`` label of each step: its ``name``, else ``<n>_<action>``."""
        return [s.name or f"{i + 1}_{s.action}" for i, s in enumerate(self.steps)]
