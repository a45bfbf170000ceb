"""Journey config, templates, secrets scrubbing, JSON paths and assertion rules: pure tables."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from exporter.config import Module, load_config
from exporter.jsonpath import JSONPathError, compile_path, find
from exporter.probers.journey import _json_equal, _json_type
from exporter.templating import (
    Scrubber,
    SecretUnavailable,
    TemplateError,
    check_template,
    compile_template,
)
from tests.support.tools import require_tool
from twinlens.runtime.config import ConfigError, decode, parse_yaml

# --- templates and secrets ---------------------------------------------------------------------


def test_template_renders_variables_env_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_TOKEN", "tok-123")
    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    template = compile_template(
        f"${{target}}/x?u=${{user}}&t=${{env:SHOP_TOKEN}}&p=${{file:{secret}}} $${{lit}}"
    )
    scrub = Scrubber()
    text = template.render({"target": "http://a", "user": "bob"}, scrub)
    assert text == "http://a/x?u=bob&t=tok-123&p=hunter2 ${lit}"
    assert template.variables == ["target", "user"]
    assert template.has_secret
    assert scrub(f"GET {text}") == "GET http://a/x?u=bob&t=<secret>&p=<secret> ${lit}"


def test_rotated_secret_is_read_at_render_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("one")
    template = compile_template(f"${{file:{secret}}}")
    assert template.render({}, Scrubber()) == "one"
    secret.write_text("two")
    assert template.render({}, Scrubber()) == "two"
    secret.unlink()
    with pytest.raises(SecretUnavailable, match="cannot read secret file"):
        template.render({}, Scrubber())
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    with pytest.raises(SecretUnavailable, match="NOPE_NOT_SET is not set"):
        compile_template("${env:NOPE_NOT_SET}").render({}, Scrubber())


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("${}", "is not a template reference"),
        ("${user name}", "is not a template reference"),
        ("${env:1BAD}", "not a valid environment variable name"),
        ("${file:relative/path}", "must be absolute"),
        ("${vault:x}", "is not a template reference"),
        ("abc ${user", "unclosed"),
    ],
)
def test_bad_templates_are_refused(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        compile_template(source)


def test_check_template_names_unknown_variables_and_missing_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NOT_THERE", raising=False)
    assert check_template("${tokn}", ["target", "token"]) == [
        "unknown variable 'tokn' (known here: target, token)"
    ]
    assert check_template("${env:NOT_THERE}", []) == [
        "${env:NOT_THERE}: environment variable NOT_THERE is not set"
    ]
    assert check_template("${file:/nonexistent/pw}", []) == [
        "${file:/nonexistent/pw}: not a readable file"
    ]
    assert check_template("plain", []) == []


def test_scrubber_hides_longest_first_and_encoded_forms() -> None:
    scrub = Scrubber()
    scrub.add("abc")
    scrub.add("abc def&g")
    scrub.add("")  # nothing to hide: ignored
    assert scrub("x abc def&g y abc") == "x <secret> y <secret>"
    body = b'password=abc+def%26g&json={"p":"abc def&g"}&q=abc%20def%26g'
    assert scrub.scrub_bytes(body) == (b'password=<secret>&json={"p":"<secret>"}&q=<secret>')
    assert not Scrubber()


# --- JSON paths ---------------------------------------------------------------------------------


DOC = {"user": {"name": "alice", "tags": ["a", "b"]}, "items": [{"id": 1}, {"id": 2}], "a b": 0}


@pytest.mark.parametrize(
    ("path", "found", "value"),
    [
        ("$", True, DOC),
        ("$.user.name", True, "alice"),
        ("$.user.tags[1]", True, "b"),
        ("$.items[-1].id", True, 2),
        ("$['a b']", True, 0),
        ('$["user"]["name"]', True, "alice"),
        ("$.items[2]", False, None),
        ("$.user.name.first", False, None),
        ("$.missing", False, None),
    ],
)
def test_json_path_finds(path: str, found: bool, value: Any) -> None:
    assert find(compile_path(path), DOC) == (found, value)


@pytest.mark.parametrize("path", ["user.name", "$.items[*]", "$..id", "$.a[?(@.x)]", "$["])
def test_json_path_outside_the_subset_is_refused(path: str) -> None:
    with pytest.raises(JSONPathError):
        compile_path(path)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        (True, 1, False),
        ("1", 1, False),
        (None, None, True),
        ([1, {"x": True}], [1.0, {"x": True}], True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ("alice", "alice", True),
    ],
)
def test_json_equality_is_type_aware(a: Any, b: Any, equal: bool) -> None:
    assert _json_equal(a, b) is equal


@pytest.mark.parametrize(
    ("value", "kind", "ok"),
    [
        (3, "integer", True),
        (3.0, "integer", True),
        (3.5, "integer", False),
        (True, "number", False),
        (True, "boolean", True),
        (None, "null", True),
        ([], "array", True),
        ({}, "object", True),
        ("x", "string", True),
    ],
)
def test_json_types(value: Any, kind: str, ok: bool) -> None:
    assert _json_type(value, kind) is ok


# --- config: a table of bad modules and their messages -----------------------------------------


def module(text: str) -> Module:
    data, lines = parse_yaml(text)
    return decode(data, Module, lines=lines)


GOOD_JOURNEY = """
prober: journey
journey:
  variables: {user: alice, password: "${env:JOURNEY_PW}"}
  steps:
    - name: login
      method: POST
      url: /login
      json: {user: "${user}", password: "${password}"}
      assert: [{json: $.token, type: string}, {header: Content-Type, matches: json}]
      extract: {token: {json: $.token, secret: true}}
    - name: me
      url: /me
      headers: {Authorization: "Bearer ${token}"}
      assert: [{json: $.name, equals: "${user}"}, {max_duration: 500ms}, {json: $.x, equals: null}]
"""


def test_good_journey_decodes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEY_PW", "x")
    m = module(GOOD_JOURNEY)
    assert m.journey is not None
    login, me = m.journey.steps
    assert login.json_body == {"user": "${user}", "password": "${password}"}
    assert login.extract["token"].secret
    assert me.assertions[1].max_duration == 0.5
    assert me.assertions[2].operator == "equals" and me.assertions[2].equals is None
    assert me.assertions[0].describe() == "$.name equals '${user}'"


BAD: list[tuple[str, str]] = [
    ("prober: journey\n", "a journey module needs journey: steps"),
    ("prober: browser\n", "a browser module needs browser: steps"),
    ("prober: journey\njourney: {steps: []}\n", "a journey needs 1 to 50 steps (found 0)"),
    (
        "prober: journey\njourney:\n  steps: [{name: a}, {name: a}]\n",
        "duplicate step name 'a' (step names are labels)",
    ),
    ("prober: journey\njourney:\n  steps: [{name: 'a b'}]\n", "step name 'a b' must be"),
    ("prober: journey\njourney:\n  steps: [{name: a, method: get}]\n", "method 'get' is not"),
    (
        "prober: journey\njourney:\n  steps: [{name: a, body: x, form: {a: b}}]\n",
        "at most one of body, json, form (found body, form)",
    ),
    (
        "prober: journey\njourney:\n  steps: [{name: a, expect_status: [99]}]\n",
        "expect_status: 99 is not an HTTP status code",
    ),
    (
        "prober: journey\njourney:\n  steps: [{name: a, url: '/u/${id}'}]\n",
        "steps[0] (a).url: unknown variable 'id' (known here: target)",
    ),
    (
        "prober: journey\njourney:\n  steps:\n    - {name: a, url: '/u/${id}'}\n"
        "    - {name: b, extract: {id: {json: $.id}}}\n",
        "steps[0] (a).url: unknown variable 'id'",  # extracted only by a *later* step
    ),
    (
        "prober: journey\njourney:\n  steps: [{name: a, headers: {Authorization: Bearer abc}}]\n",
        "headers.Authorization: a literal credential would show on /config",
    ),
    (
        "prober: journey\njourney:\n  variables: {api_key: abc}\n  steps: [{name: a}]\n",
        "variables.api_key: a literal credential would show on /config",
    ),
    (
        "prober: journey\njourney:\n  steps: [{name: a, assert: [{json: $.a}]}]\n",
        "a json assertion needs exactly one of equals, contains, matches, type, exists "
        "(found none)",
    ),
    (
        "prober: journey\njourney:\n  steps:\n"
        "    - {name: a, assert: [{json: $.a, header: X, exists: true}]}\n",
        "an assertion needs exactly one of json, header, body_matches, body_not_matches, "
        "max_duration (found json, header)",
    ),
    (
        "prober: journey\njourney:\n  steps: [{name: a, assert: [{header: X, type: string}]}]\n",
        "type applies to json assertions only",
    ),
    (
        "prober: journey\njourney:\n  steps: [{name: a, assert: [{json: 'a.b', exists: true}]}]\n",
        "JSON path 'a.b' must start with $",
    ),
    (
        "prober: journey\njourney:\n  steps: [{name: a, assert: [{body_matches: '[', }]}]\n",
        "Could not compile regular expression",
    ),
    (
        "prober: journey\njourney:\n  steps: [{name: a, extract: {target: {json: $.t}}}]\n",
        "extract: 'target' is not a usable variable name",
    ),
    (
        "prober: journey\njourney:\n  steps: [{name: a, extract: {t: {json: $.t, header: X}}}]\n",
        "extract needs exactly one of json, header, body_regex (found json, header)",
    ),
    (
        "prober: browser\nbrowser:\n  steps: [{goto: /, click: '#x'}]\n",
        "a browser step needs exactly one of goto, click",
    ),
    (
        "prober: browser\nbrowser:\n  steps: [{goto: /}, {name: 1_goto, click: '#x'}]\n",
        "duplicate step name '1_goto'",
    ),
    (
        "prober: browser\nbrowser:\n  steps: [{fill: {selector: '#password', value: hunter2}}]\n",
        "steps[0] (1_fill).fill.value: a literal credential would show on /config",
    ),
    (
        "prober: browser\nbrowser:\n  steps: [{wait_for: {selector: '#a', url: x}}]\n",
        "wait_for needs exactly one of selector, url, load_state (found selector, url)",
    ),
    (
        "prober: browser\nbrowser:\n  steps: [{expect_text: {selector: h1}}]\n",
        "expect_text needs exactly one of text, matches",
    ),
    (
        "prober: browser\nbrowser:\n  executable: /nonexistent/chrome\n  steps: [{goto: /}]\n",
        "executable '/nonexistent/chrome' is not an executable file",
    ),
    (
        "prober: browser\nbrowser:\n  max_concurrency: 0\n  steps: [{goto: /}]\n",
        "max_concurrency must be between 1 and 32",
    ),
    (
        "prober: browser\nbrowser:\n  artifacts: {dir: /nonexistent/a/b}\n  steps: [{goto: /}]\n",
        "artifacts.dir '/nonexistent/a/b': /nonexistent/a does not exist",
    ),
    (
        "prober: browser\nbrowser:\n  steps: [{script: {file: /nonexistent.py}}]\n",
        "script '/nonexistent.py': No such file or directory",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_journey_configs_say_why(text: str, message: str) -> None:
    # An explicit executable keeps these independent of a Chromium on PATH.
    if "executable:" not in text:
        text = text.replace("browser:\n", f"browser:\n  executable: {sys.executable}\n", 1)
    with pytest.raises(ConfigError) as err:
        module(text)
    assert message in str(err.value), str(err.value)


def test_script_without_the_function_is_refused(tmp_path: Path) -> None:
    script = tmp_path / "journey.py"
    script.write_text("def run(page):\n    pass\n")  # not async
    text = (
        f"prober: browser\nbrowser:\n  executable: {sys.executable}\n"
        f"  steps: [{{script: {{file: {script}}}}}]\n"
    )
    with pytest.raises(ConfigError, match="has no top-level 'async def run"):
        module(text)
    script.write_text("async def run(page:\n")
    with pytest.raises(ConfigError, match="line 1"):
        module(text)


def test_every_error_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISSING_ONE", raising=False)
    text = (
        "prober: journey\njourney:\n  steps:\n"
        "    - {name: a, url: '/${nope}', headers: {Cookie: 'sid=1'}}\n"
        "    - {name: b, body: '${env:MISSING_ONE}'}\n"
    )
    with pytest.raises(ConfigError) as err:
        module(text)
    assert len(err.value.errors) == 3, err.value.errors


def test_browser_step_names_default_to_position_and_action() -> None:
    m = module(
        f"prober: browser\nbrowser:\n  executable: {sys.executable}\n"
        "  steps: [{goto: /}, {name: login, click: '#in'}, {expect_visible: '#ok'}]\n"
    )
    assert m.browser is not None
    assert m.browser.step_names() == ["1_goto", "login", "3_expect_visible"]


def test_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("chromium")  # the browser module finds Chromium at load
    monkeypatch.setenv("SHOP_PASSWORD", "x")
    config = load_config(str(Path(__file__).resolve().parents[2] / "examples" / "journeys.yml"))
    assert config.modules["shop_api"].journey is not None
    assert config.modules["shop_checkout"].browser is not None
    assert [c.name for c in config.checks] == ["shop-api", "shop-checkout"]
