"""Multi-step API journeys against a real local API on loopback.

The API (aiohttp, port 0) does login → token → authenticated calls → logout, checks an API
key from a secret file on every request, and can be told to fail any one step in a chosen
way. Each failure is injected at its step in turn and must be reported with that step's
name and the right reason, the steps before it green and the steps after it not run. The
last test runs the real ``twinlens exporter`` and proves the secrets (an environment
variable, a file, an extracted token) reach neither ``/metrics``, ``/``, ``/logs``,
``/config``, ``/probe?debug=true`` nor the process log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from exporter.config import Module
from exporter.probe import ProbeOutcome, run_probe
from tests.support.procs import TwinlensProcess
from twinlens.runtime.config import decode

PASSWORD = "pw-Correct-Horse-7"
API_KEY = "key-9f8e7d6c5b4a"


class Api:
    """The API under test. ``inject[step] = how`` makes that step's endpoint misbehave."""

    def __init__(self) -> None:
        self.inject: dict[str, str] = {}
        self.tokens: set[str] = set()
        self.issued: list[str] = []
        self.seen: list[tuple[str, str | None, str | None]] = []  # path, auth, marker
        self.url = ""
        self.closing = asyncio.Event()  # set on stop: a "slow" answer returns at once
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(middlewares=[self._gate])
        app.router.add_post("/api/login", self.login)
        app.router.add_get("/api/me", self.me)
        app.router.add_get("/api/orders/{id}", self.order)
        app.router.add_post("/api/logout", self.logout)
        app.router.add_post("/session", self.session)
        app.router.add_get("/dashboard", self.dashboard)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        assert self._runner is not None
        self.closing.set()
        await self._runner.cleanup()

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.seen.append(
            (
                request.path,
                request.headers.get("Authorization"),
                request.headers.get("X-Twinlens-Synthetic"),
            )
        )
        if request.headers.get("X-Api-Key") != API_KEY:
            return web.json_response({"error": "bad api key"}, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    def _user(self, request: web.Request) -> str:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            raise web.HTTPUnauthorized(text='{"error": "no session"}')
        return "alice"

    async def login(self, request: web.Request) -> web.Response:
        how = self.inject.get("login")
        if how == "503":
            return web.json_response({"error": "maintenance"}, status=503)
        body = await request.json()
        if body != {"user": "alice", "password": PASSWORD}:
            return web.json_response({"error": "bad credentials"}, status=403)
        token = secrets.token_hex(16)
        self.tokens.add(token)
        self.issued.append(token)
        if how == "no_token":
            return web.json_response({"user": {"name": "alice"}})
        return web.json_response({"token": token, "user": {"name": "alice"}})

    async def me(self, request: web.Request) -> web.Response:
        user = self._user(request)
        how = self.inject.get("profile")
        if how == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), 3)
        email = {"wrong_email": "mallory@example.com", "leak": PASSWORD}.get(
            how or "", f"{user}@example.com"
        )
        orders = [] if how == "no_orders" else [{"id": 11}, {"id": 42}]
        return web.json_response(
            {"email": email, "roles": ["buyer", "admin"], "orders": orders},
            headers={"X-Request-Id": "req-7731"},
        )

    async def order(self, request: web.Request) -> web.Response:
        self._user(request)
        status = "cancelled" if self.inject.get("order") == "cancelled" else "shipped"
        return web.json_response(
            {"id": int(request.match_info["id"]), "status": status, "total": 9.5}
        )

    async def logout(self, request: web.Request) -> web.Response:
        if self.inject.get("logout") == "401":
            return web.json_response({"error": "expired"}, status=401)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.tokens.discard(token)
        return web.Response(status=204)

    async def session(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("password") != PASSWORD:
            return web.Response(status=403)
        response = web.HTTPSeeOther("/dashboard")
        response.set_cookie("sid", "s-123")
        raise response

    async def dashboard(self, request: web.Request) -> web.Response:
        if request.cookies.get("sid") != "s-123":
            return web.Response(status=401)
        return web.Response(text="<h1>Dashboard of alice</h1>", content_type="text/html")


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    server = Api()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def secrets_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The password in the environment, the API key in a file (as a Kubernetes secret)."""
    monkeypatch.setenv("API_PASSWORD", PASSWORD)
    key_file = tmp_path / "api_key"
    key_file.write_text(API_KEY + "\n")
    return key_file


def journey(key_file: Path) -> dict[str, Any]:
    return {
        "prober": "journey",
        "timeout": "10s",
        "journey": {
            "variables": {"user": "alice", "password": "${env:API_PASSWORD}"},
            "headers": {"X-Api-Key": f"${{file:{key_file}}}"},
            "steps": [
                {
                    "name": "login",
                    "method": "POST",
                    "url": "/api/login",
                    "json": {"user": "${user}", "password": "${password}"},
                    "expect_status": [200],
                    "assert": [
                        {"json": "$.token", "type": "string"},
                        {"header": "Content-Type", "matches": "^application/json"},
                    ],
                    "extract": {"token": {"json": "$.token", "secret": True}},
                },
                {
                    "name": "profile",
                    "url": "/api/me",
                    "headers": {"Authorization": "Bearer ${token}"},
                    "timeout": "1s",
                    "assert": [
                        {"json": "$.email", "equals": "${user}@example.com"},
                        {"json": "$.roles", "contains": "admin"},
                        {"max_duration": "900ms"},
                    ],
                    "extract": {
                        "order_id": {"json": "$.orders[-1].id"},
                        "request_id": {"header": "X-Request-Id", "regex": r"req-(\d+)"},
                    },
                },
                {
                    "name": "order",
                    "url": "/api/orders/${order_id}?req=${request_id}",
                    "headers": {"Authorization": "Bearer ${token}"},
                    "assert": [
                        {"json": "$.status", "equals": "shipped"},
                        {"json": "$.total", "type": "number"},
                        {"body_not_matches": "error"},
                    ],
                },
                {
                    "name": "logout",
                    "method": "POST",
                    "url": "/api/logout",
                    "headers": {"Authorization": "Bearer ${token}"},
                    "expect_status": [204],
                },
            ],
        },
    }


STEPS = ["login", "profile", "order", "logout"]


async def probe(module: dict[str, Any], target: str) -> ProbeOutcome:
    return await run_probe("api_journey", decode(module, Module), target, 10.0)


def sample(outcome: ProbeOutcome, name: str, **labels: str) -> float | None:
    return outcome.metrics.get(name, **labels)


async def test_full_journey_succeeds_with_per_step_series(api: Api, secrets_env: Path) -> None:
    outcome = await probe(journey(secrets_env), api.url)
    log = outcome.log.text()
    assert outcome.success, log
    statuses = {"login": 200, "profile": 200, "order": 200, "logout": 204}
    for step in STEPS:
        assert sample(outcome, "twinlens_journey_step_success", step=step) == 1
        duration = sample(outcome, "twinlens_journey_step_duration_seconds", step=step)
        assert duration is not None and 0 < duration < 1
        assert sample(outcome, "twinlens_journey_step_status_code", step=step) == statuses[step]
        phases = {
            phase: sample(
                outcome, "twinlens_journey_step_http_duration_seconds", step=step, phase=phase
            )
            for phase in ("resolve", "connect", "tls", "processing", "transfer")
        }
        assert phases["tls"] == 0  # plain http
        assert all(v is not None and v >= 0 for v in phases.values()), phases
        assert phases["connect"] > 0 and phases["processing"] > 0  # type: ignore[operator]
    # The extracted token authorised the later calls, then logout revoked it.
    (token,) = api.issued
    assert [s[1] for s in api.seen[1:]] == [f"Bearer {token}"] * 3
    assert api.tokens == set()
    assert [s[0] for s in api.seen] == ["/api/login", "/api/me", "/api/orders/42", "/api/logout"]
    assert all(s[2] == "1" for s in api.seen)  # X-Twinlens-Synthetic on every request
    for secret in (PASSWORD, API_KEY, token):
        assert secret not in log
    assert "step=logout" in log and 'msg="Journey completed"' in log


@pytest.mark.parametrize(
    ("step", "how", "reason", "message"),
    [
        ("login", "503", "http_status", "status 503, expected 200"),
        ("login", "no_token", "assertion", "$.token type 'string': missing"),
        ("profile", "slow", "timeout", "no answer within the step's time"),
        ("profile", "wrong_email", "assertion", "got 'mallory@example.com'"),
        ("profile", "no_orders", "step", "extract order_id: $.orders[-1].id not in the response"),
        ("order", "cancelled", "assertion", "$.status equals 'shipped': got 'cancelled'"),
        ("logout", "401", "http_status", "status 401, expected 204"),
    ],
)
async def test_a_failure_at_each_step_names_that_step(
    api: Api, secrets_env: Path, step: str, how: str, reason: str, message: str
) -> None:
    api.inject[step] = how
    started = time.monotonic()
    outcome = await probe(journey(secrets_env), api.url)
    assert not outcome.success
    assert outcome.reason == reason
    assert sample(outcome, "probe_failure_info", reason=reason) == 1
    failed_at = STEPS.index(step)
    for i, name in enumerate(STEPS):
        got = sample(outcome, "twinlens_journey_step_success", step=name)
        assert got == (1 if i < failed_at else 0 if i == failed_at else None), (name, got)
    log = outcome.log.text()
    assert f'msg="Step failed" step={step} reason={reason}' in log
    assert message in log
    if how == "slow":  # the step's own 1s bound, not the 10s probe timeout
        assert time.monotonic() - started < 3


async def test_form_login_redirect_keeps_the_session_cookie(api: Api, secrets_env: Path) -> None:
    module = {
        "prober": "journey",
        "journey": {
            "headers": {"X-Api-Key": f"${{file:{secrets_env}}}"},
            "steps": [
                {
                    "name": "sign_in",
                    "method": "POST",
                    "url": "/session",
                    "form": {"user": "alice", "password": "${env:API_PASSWORD}"},
                    "assert": [{"body_matches": "Dashboard of (alice)"}],
                },
                {"name": "again", "url": "/dashboard", "expect_status": [200]},
                {
                    "name": "no_follow",
                    "url": "/session",
                    "method": "POST",
                    "follow_redirects": False,
                    "form": {"password": "${env:API_PASSWORD}"},
                    "expect_status": [303],
                },
            ],
        },
    }
    outcome = await probe(module, api.url)
    assert outcome.success, outcome.log.text()
    assert [p for p, _, _ in api.seen] == ["/session", "/dashboard", "/dashboard", "/session"]
    assert sample(outcome, "twinlens_journey_step_status_code", step="sign_in") == 200
    assert sample(outcome, "twinlens_journey_step_status_code", step="no_follow") == 303


async def test_unreachable_target_fails_the_first_step_with_connect(secrets_env: Path) -> None:
    from tests.support.ports import free_port

    outcome = await probe(journey(secrets_env), f"http://127.0.0.1:{free_port()}")
    assert (outcome.success, outcome.reason) == (False, "connect")
    assert sample(outcome, "twinlens_journey_step_success", step="login") == 0
    assert sample(outcome, "twinlens_journey_step_success", step="profile") is None


# --- secrets never leave the process, through the real exporter -----------------------------------


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=20) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


async def test_secrets_reach_neither_metrics_nor_logs_nor_pages(
    api: Api, secrets_env: Path, tmp_path: Path
) -> None:
    leaky = journey(secrets_env)
    config = {
        "modules": {"api_journey": journey(secrets_env), "leaky_journey": leaky},
        "checks": [
            {"name": "api", "module": "api_journey", "target": api.url, "interval": "1s"},
        ],
    }
    path = tmp_path / "exporter.yml"
    path.write_text(yaml.safe_dump(config))

    def exercise() -> dict[str, tuple[int, str]]:
        got: dict[str, tuple[int, str]] = {}
        with TwinlensProcess(tmp_path, "exporter", "--config.file", str(path)) as exp:
            got["probe"] = fetch(f"{exp.url}/probe?module=api_journey&target={api.url}")
            api.inject["profile"] = "leak"  # the API echoes the password into a failed check
            got["leak"] = fetch(f"{exp.url}/probe?module=leaky_journey&target={api.url}")
            got["debug"] = fetch(
                f"{exp.url}/probe?module=leaky_journey&target={api.url}&debug=true"
            )
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:  # the scheduled check has run at least once
                got["/metrics"] = fetch(f"{exp.url}/metrics")
                if 'twinlens_journey_step_success{check="api"' in got["/metrics"][1]:
                    break
                time.sleep(0.2)
            got["/"] = fetch(f"{exp.url}/")
            got["/config"] = fetch(f"{exp.url}/config")
            ids = sorted(set(re.findall(r"/logs\?id=(\d+)", got["/"][1])))
            logs = [fetch(f"{exp.url}/logs?id={i}")[1] for i in ids]
            got["/logs"] = (200, "\n".join(logs))
        got["process log"] = (0, exp.logs())
        return got

    got = await asyncio.to_thread(exercise)
    assert got["probe"][0] == 200 and "probe_success 1" in got["probe"][1]
    assert 'probe_failure_info{reason="assertion"} 1' in got["leak"][1]
    assert 'twinlens_journey_step_success{check="api"' in got["/metrics"][1]
    assert "Assertion failed" in got["/logs"][1] and "got '<secret>'" in got["/logs"][1]
    # /config shows references (or <secret> for keys named like one), never values.
    assert f"X-Api-Key: ${{file:{secrets_env}}}" in got["/config"][1]
    assert "password: <secret>" in got["/config"][1]
    assert "<secret>" in got["debug"][1]
    for token in api.issued:
        for where, (_, text) in got.items():
            assert token not in text, where
    for secret in (PASSWORD, API_KEY):
        for where, (_, text) in got.items():
            assert secret not in text, where
    # Labels stay bounded by the config: step names only, never values.
    steps = {
        line.split('step="')[1].split('"')[0]
        for line in got["/metrics"][1].splitlines()
        if line.startswith("twinlens_journey_step_success{")
    }
    assert steps <= set(STEPS)
    assert json.dumps(PASSWORD) not in got["/metrics"][1]
