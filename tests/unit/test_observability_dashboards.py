"""Generated dashboards against Grafana's own JSON schemas, and the conventions they keep."""

from __future__ import annotations

import functools
import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from twinlens.observability import DASHBOARDS, Spec, alerts, build_dashboards

ROOT = Path(__file__).resolve().parents[2]
ANGULAR = {"graph", "singlestat", "table-old", "grafana-piechart-panel", "grafana-worldmap-panel"}
BUILTIN_VARS = {"__rate_interval", "__range", "__range_s", "__interval", "__all"}


@functools.cache
def _validator(shared_dir: Path, name: str, definition: str | None = None) -> Any:
    """A validator for one schema (or one of its definitions), built once: checking the
    schema itself is the slow part of ``jsonschema.validate``."""
    path = shared_dir / "grafana-schema" / f"{name}.jsonschema.json"
    doc = json.loads(path.read_text())
    if definition is not None:
        doc = {**doc, "$ref": f"#/definitions/{definition}"}
    cls = jsonschema.validators.validator_for(doc)
    cls.check_schema(doc)
    return cls(doc)


def _dashboards() -> dict[str, dict[str, Any]]:
    return {uid: json.loads((ROOT / f"dashboards/{uid}.json").read_text()) for uid in DASHBOARDS}


def _panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dash["panels"] if p["type"] != "row"]


@pytest.mark.parametrize("uid", sorted(DASHBOARDS))
def test_dashboard_validates_against_grafana_schemas(shared_dir: Path, uid: str) -> None:
    dash = _dashboards()[uid]
    _validator(shared_dir, "dashboard").validate(dash)
    for panel in _panels(dash):
        kind = panel["type"]
        _validator(shared_dir, kind, "Options").validate(panel["options"])
        custom = panel["fieldConfig"]["defaults"].get("custom")
        if custom is not None:
            _validator(shared_dir, kind, "FieldConfig").validate(custom)
        for target in panel["targets"]:
            _validator(shared_dir, "prometheus").validate(target)


def test_schema_validation_rejects_a_broken_panel(shared_dir: Path) -> None:
    # The check above can fail: an Angular-era option set is refused.
    panel = next(
        p for p in _panels(_dashboards()["twinlens-overview"]) if p["type"] == "timeseries"
    )
    options = _validator(shared_dir, "timeseries", "Options")
    options.validate(panel["options"])
    with pytest.raises(jsonschema.ValidationError):
        options.validate({**panel["options"], "legend": {"show": True}})
    dashboard = _validator(shared_dir, "dashboard")
    dashboard.validate(_dashboards()["twinlens-sla"])
    with pytest.raises(jsonschema.ValidationError):
        dashboard.validate({**_dashboards()["twinlens-sla"], "rows": []})


@pytest.mark.parametrize("uid", sorted(DASHBOARDS))
def test_dashboard_conventions(uid: str) -> None:
    dash = _dashboards()[uid]
    assert dash["uid"] == uid and dash["editable"] is False
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in _panels(dash):
        where = f"{uid}: {panel['title']}"
        assert panel["type"] not in ANGULAR, where
        assert panel["description"].strip(), where
        assert panel["fieldConfig"]["defaults"]["unit"], where
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
        assert panel["targets"], where
        for target in panel["targets"]:
            expr = target["expr"]
            assert target["datasource"]["uid"] == "${datasource}", where
            for fn, window in re.findall(r"\b(rate|increase)\([^\[]*\[([^\]]+)\]", expr):
                allowed = (
                    {"$__rate_interval"} if fn == "rate" else {"$__rate_interval", "$__range", "1d"}
                )
                assert window in allowed, f"{where}: {fn}(...[{window}])"
            for var in re.findall(r"\$\{?(\w+)", expr):
                assert var in variables or var in BUILTIN_VARS, f"{where}: unknown ${var}"
    for var in variables.values():
        for ref in re.findall(r"\$\{?(\w+)", json.dumps(var.get("query", ""))):
            assert ref in variables, f"{uid}: variable {var['name']} uses unknown ${ref}"


def test_no_panels_overlap() -> None:
    for uid, dash in _dashboards().items():
        cells: dict[tuple[int, int], str] = {}
        for panel in dash["panels"]:
            g = panel["gridPos"]
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    assert (x, y) not in cells, f"{uid}: {panel['title']} overlaps {cells[(x, y)]}"
                    cells[(x, y)] = panel["title"]


def test_every_dashboard_url_points_at_a_dashboard_and_its_variables() -> None:
    dashboards = build_dashboards(Spec())
    seen = set()
    for alert in alerts(Spec()):
        url = urllib.parse.urlsplit(alert.annotations(Spec())["dashboard_url"])
        match = re.fullmatch(r"/d/([\w-]+)/[\w-]+", url.path)
        assert match, url
        uid = match.group(1)
        assert uid in dashboards, f"{alert.name}: no dashboard {uid}"
        variables = {v["name"] for v in dashboards[uid]["templating"]["list"]}
        params = urllib.parse.parse_qs(url.query)
        assert params, f"{alert.name}: no variables filled"
        for key, values in params.items():
            assert key.startswith("var-") and key[4:] in variables, f"{alert.name}: {key}"
            assert re.fullmatch(r"\{\{ \$labels\.\w+ \| urlquery \}\}", values[0]), values
        seen.add(uid)
    assert seen == {"twinlens-synthetic", "twinlens-sla", "twinlens-rum", "twinlens-api"}


def test_provisioning_is_read_only_and_points_at_the_datasource() -> None:
    providers = yaml.safe_load((ROOT / "dashboards/provisioning/dashboards.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["allowUiUpdates"] is False and provider["disableDeletion"] is True
    sources = yaml.safe_load((ROOT / "dashboards/provisioning/datasource.yml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["uid"] == Spec().datasource_uid


def test_required_views_are_present() -> None:
    titles = {uid: {p["title"] for p in _panels(d)} for uid, d in _dashboards().items()}
    assert {
        "Availability by check and location",
        "Error budget left by check",
        "Firing alerts",
        "Good share per core vital by route and device",
        "Browser-observed API error ratio",
        "Probe availability by check",
    } <= titles["twinlens-overview"]
    assert {
        "HTTP phases",
        "HTTP status code",
        "Failures by reason",
        "TLS certificate expires in",
        "Journey step success",
        "Journey step duration",
    } <= titles["twinlens-synthetic"]
    assert {
        "Routes ranked by slow experiences",
        "LCP distribution",
        "p75 LCP by browser",
        "LCP good share by region and device",
        "p75 and good share by country",
        "JavaScript errors",
        "API p95 seen by browsers",
        "LCP: good / needs improvement / poor",
    } <= titles["twinlens-rum"]
    assert {"Uptime against target", "Error budget left"} <= titles["twinlens-sla"]
    assert {
        "Request rate by route",
        "5xx ratio by route",
        "4xx ratio by route",
        "Latency p50 / p95 / p99 by route",
        "p95: server vs browser, same route",
    } <= titles["twinlens-api"]
    kinds = {p["type"] for d in _dashboards().values() for p in _panels(d)}
    assert "heatmap" in kinds
