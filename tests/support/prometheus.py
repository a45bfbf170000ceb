"""A real Prometheus (and Alertmanager) on loopback for a test, torn down after it.

    with PrometheusServer(tmp_path, scrape_configs=[...], rule_files=[...]) as prom:
        prom.wait_for('probe_success{instance="x"}', lambda r: r and r[0]["value"][1] == "1")

Scrape intervals are short (1s by default) so tests see data within seconds.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.support.ports import free_port
from tests.support.tools import require_tool

__all__ = ["AlertmanagerServer", "PrometheusServer", "http_get_json"]


def http_get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


class _Process:
    name = "process"

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / f"{self.name}.log"

    def _start(self, argv: list[str]) -> None:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready in 30s: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if hasattr(self, "_log"):
            self._log.close()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


class PrometheusServer(_Process):
    """``prometheus`` with the given scrape configs and rule files, 1s scrapes."""

    name = "prometheus"

    def __init__(
        self,
        workdir: Path,
        scrape_configs: list[dict[str, Any]],
        rule_files: list[str] | None = None,
        alertmanager_url: str | None = None,
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        extra_args: list[str] | None = None,
    ) -> None:
        super().__init__(workdir)
        self.binary = require_tool("prometheus")
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": scrape_interval,
                "scrape_timeout": scrape_interval,
                "evaluation_interval": evaluation_interval,
            },
            "scrape_configs": scrape_configs,
        }
        if rule_files:
            config["rule_files"] = [str(Path(f).resolve()) for f in rule_files]
        if alertmanager_url:
            target = alertmanager_url.split("://", 1)[1]
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [target]}]}]}
        self.config_path = self.workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.extra_args = extra_args or []

    def __enter__(self) -> PrometheusServer:
        self._start(
            [
                self.binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
                *self.extra_args,
            ]
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        body = http_get_json(f"{self.url}/api/v1/{path}?{query}")
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus API {path} failed: {body}")
        return body["data"]

    def query(self, expr: str, time_: float | None = None) -> list[dict[str, Any]]:
        """Instant query; the ``result`` list of a vector."""
        params = {"query": expr}
        if time_ is not None:
            params["time"] = f"{time_:.3f}"
        return list(self.api("query", **params)["result"])

    def wait_for(
        self,
        expr: str,
        predicate: Callable[[list[dict[str, Any]]], bool] = bool,
        timeout: float = 30.0,
    ) -> list[dict[str, Any]]:
        """Poll ``expr`` until ``predicate(result)``; fail with the last result."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            result = self.query(expr)
            if predicate(result):
                return result
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {expr!r}; last result: {result}")

    def targets_up(self) -> list[dict[str, Any]]:
        return list(self.api("targets")["activeTargets"])


class AlertmanagerServer(_Process):
    """``alertmanager`` with a given config dict (routes and receivers)."""

    name = "alertmanager"

    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        super().__init__(workdir)
        self.binary = require_tool("alertmanager")
        self.config_path = self.workdir / "alertmanager.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def __enter__(self) -> AlertmanagerServer:
        self._start(
            [
                self.binary,
                f"--config.file={self.config_path}",
                f"--storage.path={self.workdir / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",  # no gossip: one instance
                "--log.level=warn",
            ]
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def alerts(self) -> list[dict[str, Any]]:
        return list(http_get_json(f"{self.url}/api/v2/alerts"))
