"""``twinlens grafana push`` against a local fake of Grafana's HTTP API.

No Grafana binary can be installed here, so the fake (aiohttp, port 0) answers the
endpoints grafana-client calls the way Grafana does: 401 without the token, 404 for
unknown uids, 400 for invalid alert rules (checked against Grafana's alerting JSON schema,
and for queries naming a datasource it does not have), 409 for duplicate rule titles. It
records every call so the tests can assert exactly what was written.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp import web

from tests.support.ports import free_port
from twinlens import grafana_sync
from twinlens.observability import DASHBOARDS, Spec, alerts, build_dashboards

TOKEN = "glsa_test_token"


class FakeGrafana:
    def __init__(self, rule_schema: dict[str, Any]) -> None:
        self.calls: list[tuple[str, str]] = []
        self.folders: dict[str, dict[str, Any]] = {}
        self.datasources: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.rules: dict[str, dict[str, Any]] = {}
        # Built once: checking the schema itself is the slow part of jsonschema.validate.
        self.rule_validator = jsonschema.validators.validator_for(rule_schema)(rule_schema)
        self.app = web.Application(middlewares=[self._auth])
        r = self.app.router
        r.add_get("/api/folders/{uid}", self.get_folder)
        r.add_post("/api/folders", self.create_folder)
        r.add_put("/api/folders/{uid}", self.update_folder)
        r.add_get("/api/datasources/uid/{uid}", self.get_datasource)
        r.add_post("/api/datasources", self.create_datasource)
        r.add_put("/api/datasources/uid/{uid}", self.update_datasource)
        r.add_get("/api/dashboards/uid/{uid}", self.get_dashboard)
        r.add_post("/api/dashboards/db", self.save_dashboard)
        r.add_get("/api/v1/provisioning/alert-rules/{uid}", self.get_rule)
        r.add_post("/api/v1/provisioning/alert-rules", self.create_rule)
        r.add_put("/api/v1/provisioning/alert-rules/{uid}", self.update_rule)

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] != "GET"]

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.calls.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"message": "Unauthorized"}, status=401)
        return await handler(request)

    @staticmethod
    def _not_found(what: str) -> web.Response:
        return web.json_response({"message": f"{what} not found"}, status=404)

    async def get_folder(self, request: web.Request) -> web.Response:
        folder = self.folders.get(request.match_info["uid"])
        return web.json_response(folder) if folder else self._not_found("folder")

    async def create_folder(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not body.get("title"):
            return web.json_response({"message": "folder title cannot be empty"}, status=400)
        if body.get("uid") in self.folders:
            return web.json_response({"message": "a folder with that uid exists"}, status=409)
        folder = {
            "id": len(self.folders) + 1,
            "uid": body["uid"],
            "title": body["title"],
            "version": 1,
        }
        self.folders[body["uid"]] = folder
        return web.json_response(folder)

    async def update_folder(self, request: web.Request) -> web.Response:
        folder = self.folders.get(request.match_info["uid"])
        if folder is None:
            return self._not_found("folder")
        body = await request.json()
        folder.update(title=body["title"], version=folder["version"] + 1)
        return web.json_response(folder)

    async def get_datasource(self, request: web.Request) -> web.Response:
        ds = self.datasources.get(request.match_info["uid"])
        return web.json_response(ds) if ds else self._not_found("Data source")

    async def create_datasource(self, request: web.Request) -> web.Response:
        body = await request.json()
        if any(d["name"] == body["name"] for d in self.datasources.values()):
            return web.json_response(
                {"message": "data source with the same name already exists"}, status=409
            )
        ds = {"id": len(self.datasources) + 1, "orgId": 1, "readOnly": False, **body}
        self.datasources[body["uid"]] = ds
        return web.json_response({"datasource": ds, "id": ds["id"], "message": "Datasource added"})

    async def update_datasource(self, request: web.Request) -> web.Response:
        ds = self.datasources.get(request.match_info["uid"])
        if ds is None:
            return self._not_found("Data source")
        ds.update(await request.json())
        return web.json_response({"datasource": ds, "message": "Datasource updated"})

    async def get_dashboard(self, request: web.Request) -> web.Response:
        stored = self.dashboards.get(request.match_info["uid"])
        return web.json_response(stored) if stored else self._not_found("Dashboard")

    async def save_dashboard(self, request: web.Request) -> web.Response:
        body = await request.json()
        dash = body.get("dashboard") or {}
        if not dash.get("title"):
            return web.json_response({"message": "Dashboard title cannot be empty"}, status=400)
        if body.get("folderUid") not in self.folders:
            return web.json_response({"message": "folder not found"}, status=400)
        old = self.dashboards.get(dash["uid"])
        if old and not body.get("overwrite"):
            return web.json_response({"message": "version-mismatch"}, status=412)
        version = old["dashboard"]["version"] + 1 if old else 1
        dash = {
            **dash,
            "id": old["dashboard"]["id"] if old else len(self.dashboards) + 1,
            "version": version,
        }
        self.dashboards[dash["uid"]] = {
            "dashboard": dash,
            "meta": {"folderUid": body["folderUid"], "version": version, "provisioned": False},
        }
        return web.json_response(
            {
                "id": dash["id"],
                "uid": dash["uid"],
                "status": "success",
                "version": version,
                "url": f"/d/{dash['uid']}",
            }
        )

    async def get_rule(self, request: web.Request) -> web.Response:
        rule = self.rules.get(request.match_info["uid"])
        return web.json_response(rule) if rule else web.Response(status=404)

    def _invalid(self, rule: dict[str, Any], uid: str | None) -> str | None:
        try:
            self.rule_validator.validate(rule)
        except jsonschema.ValidationError as exc:
            return f"invalid alert rule: {exc.message}"
        if rule["folderUID"] not in self.folders:
            return "invalid alert rule: folder does not exist"
        for query in rule["data"]:
            if (
                query["datasourceUid"] != "__expr__"
                and query["datasourceUid"] not in self.datasources
            ):
                ref = query["refId"]
                return f"invalid alert rule: failed to build query '{ref}': data source not found"
        for other in self.rules.values():
            if (
                other["uid"] != uid
                and other["title"] == rule["title"]
                and other["folderUID"] == rule["folderUID"]
            ):
                return (
                    "a conflicting alert rule is found: rule title under the same "
                    "organisation and folder should be unique"
                )
        return None

    async def create_rule(self, request: web.Request) -> web.Response:
        rule = await request.json()
        problem = self._invalid(rule, rule.get("uid"))
        if problem:
            return web.json_response({"message": problem}, status=400)
        stored = {
            **rule,
            "id": len(self.rules) + 1,
            "provenance": "api",
            "updated": "2024-01-01T00:00:00Z",
        }
        self.rules[rule["uid"]] = stored
        return web.json_response(stored, status=201)

    async def update_rule(self, request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        if uid not in self.rules:
            return web.Response(status=404)
        rule = await request.json()
        problem = self._invalid(rule, uid)
        if problem:
            return web.json_response({"message": problem}, status=400)
        self.rules[uid].update(rule)
        return web.json_response(self.rules[uid])


@pytest.fixture
async def grafana(shared_dir: Path) -> Any:
    schema = json.loads((shared_dir / "grafana-schema/alerting.jsonschema.json").read_text())
    fake = FakeGrafana({**schema, "$ref": "#/definitions/Rule"})
    runner = web.AppRunner(fake.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield fake
    await runner.cleanup()


async def _push(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    grafana_sync.configure(parser)
    args = parser.parse_args(["push", *argv])
    return await asyncio.to_thread(grafana_sync.run, args)


RULES = len(alerts(Spec()))


async def test_first_push_creates_everything_then_nothing_changes(
    grafana: Any, capsys: Any
) -> None:
    code = await _push(
        "--url", grafana.url, "--token", TOKEN, "--datasource-url", "http://prom:9090"
    )
    assert code == 0
    writes = grafana.writes
    assert writes[:2] == [("POST", "/api/folders"), ("POST", "/api/datasources")]
    assert writes[2:7] == [("POST", "/api/dashboards/db")] * 5
    assert writes[7:] == [("POST", "/api/v1/provisioning/alert-rules")] * RULES
    out = capsys.readouterr().out
    assert f"changed: {2 + 5 + RULES} created, 0 updated, 0 unchanged (5 dashboards)" in out
    assert "create    dashboard twinlens-rum" in out

    # What Grafana holds is exactly what was generated, in the twinlens folder.
    for uid, dash in build_dashboards(Spec()).items():
        stored = grafana.dashboards[uid]
        assert stored["dashboard"] == {**dash, "id": stored["dashboard"]["id"], "version": 1}
        assert stored["meta"]["folderUid"] == "twinlens"
    down = grafana.rules["twinlenscheckdown"]
    assert down["ruleGroup"] == "twinlens-synthetic" and down["for"] == "1m"
    assert down["labels"] == {"severity": "critical"}
    prom = next(a for a in alerts(Spec()) if a.name == "TwinlensCheckDown")
    assert down["data"][0]["model"]["expr"] == prom.expr
    assert "{{ $values.A.Value | humanize }}" in down["annotations"]["summary"]
    assert {r["title"] for r in grafana.rules.values()} >= {
        "TwinlensCheckErrorBudgetBurn 1h/5m",
        "TwinlensCheckErrorBudgetBurn 3d/6h",
        "TwinlensRUMRegionGoodShareLow",
    }
    assert grafana.datasources["twinlens-prometheus"]["url"] == "http://prom:9090"

    grafana.calls.clear()
    assert (
        await _push("--url", grafana.url, "--token", TOKEN, "--datasource-url", "http://prom:9090")
        == 0
    )
    assert grafana.writes == []
    assert f"changed: 0 created, 0 updated, {2 + 5 + RULES} unchanged" in capsys.readouterr().out


async def test_only_what_drifted_is_written(grafana: Any, capsys: Any) -> None:
    assert (
        await _push("--url", grafana.url, "--token", TOKEN, "--datasource-url", "http://prom:9090")
        == 0
    )
    grafana.dashboards["twinlens-sla"]["dashboard"]["title"] = "edited in the UI"
    grafana.rules["twinlenscheckstale"]["for"] = "10m"
    grafana.calls.clear()
    capsys.readouterr()
    assert (
        await _push("--url", grafana.url, "--token", TOKEN, "--datasource-url", "http://prom:9090")
        == 0
    )
    assert grafana.writes == [
        ("POST", "/api/dashboards/db"),
        ("PUT", "/api/v1/provisioning/alert-rules/twinlenscheckstale"),
    ]
    assert grafana.dashboards["twinlens-sla"]["dashboard"]["title"] == DASHBOARDS["twinlens-sla"]
    assert grafana.dashboards["twinlens-sla"]["meta"]["version"] == 2
    assert grafana.rules["twinlenscheckstale"]["for"] == "0s"
    assert "update    dashboard twinlens-sla" in capsys.readouterr().out


async def test_dry_run_writes_nothing(grafana: Any, capsys: Any) -> None:
    assert await _push("--url", grafana.url, "--token", TOKEN, "--dry-run") == 0
    assert grafana.writes == []
    out = capsys.readouterr().out
    assert "would create    folder twinlens" in out
    assert "would create    dashboard twinlens-overview" in out
    assert "would create    alert-rule twinlensrumtrafficdrop" in out
    assert f"would change: {1 + 5 + RULES} created, 0 updated, 0 unchanged" in out


async def test_bad_token_is_a_clear_error(grafana: Any, capsys: Any) -> None:
    assert await _push("--url", grafana.url, "--token", "wrong") == 1
    assert (
        capsys.readouterr().err.strip() == f"error: Grafana at {grafana.url}: the token was refused"
    )
    assert grafana.writes == []


async def test_grafana_refusing_a_rule_is_reported(grafana: Any, capsys: Any) -> None:
    # No --datasource-url and no such datasource in Grafana: rules cannot be created.
    assert await _push("--url", grafana.url, "--token", TOKEN) == 1
    err = capsys.readouterr().err
    assert "failed to build query 'A': data source not found" in err
    assert grafana.rules == {}
    assert len(grafana.dashboards) == 5  # what came before the rules is in place


async def test_unreachable_grafana_is_a_clear_error(capsys: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert await _push("--url", url, "--token", TOKEN, "--timeout", "2") == 1
    assert capsys.readouterr().err.startswith(f"error: cannot reach Grafana at {url}: ")


def test_grafana_rules_validate_against_grafanas_schema(shared_dir: Path) -> None:
    schema = json.loads((shared_dir / "grafana-schema/alerting.jsonschema.json").read_text())
    rule_schema = {**schema, "$ref": "#/definitions/Rule"}
    validator = jsonschema.validators.validator_for(rule_schema)(rule_schema)
    uids = set()
    for alert in alerts(Spec()):
        rule = grafana_sync.grafana_rule(alert, Spec())
        validator.validate(rule)
        uids.add(rule["uid"])
    assert len(uids) == RULES
    broken = copy.deepcopy(rule)
    broken["noDataState"] = "Nope"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)
