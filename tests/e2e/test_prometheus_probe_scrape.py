"""A real Prometheus scrapes ``twinlens exporter`` through the standard blackbox relabel
config (``__address__`` → ``__param_target`` → ``instance``, the exporter as the address),
and the verdicts for two targets are read back from Prometheus's query API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_blackbox_side_by_side import target_server, twinlens_exporter
from tests.support.ports import free_port
from tests.support.prometheus import PrometheusServer

pytestmark = pytest.mark.e2e

CONFIG = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
"""


def test_prometheus_reads_probe_success_for_two_targets(tmp_path: Path) -> None:
    config = tmp_path / "blackbox.yml"
    config.write_text(CONFIG)
    with target_server() as port, twinlens_exporter(config, tmp_path) as exporter:
        up = f"http://127.0.0.1:{port}/ok"
        down = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
        scrape = {
            "job_name": "blackbox",
            "metrics_path": "/probe",
            "params": {"module": ["http_2xx"]},
            "static_configs": [{"targets": [up, down]}],
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "__param_target"},
                {"source_labels": ["__param_target"], "target_label": "instance"},
                {"target_label": "__address__", "replacement": exporter.split("://", 1)[1]},
            ],
        }
        with PrometheusServer(tmp_path / "prom", scrape_configs=[scrape]) as prom:
            result = prom.wait_for(
                'probe_success{job="blackbox"}', lambda r: len(r) == 2, timeout=30
            )
            by_instance = {r["metric"]["instance"]: r["value"][1] for r in result}
            assert by_instance == {up: "1", down: "0"}
            reasons = prom.wait_for('probe_failure_info{job="blackbox"}', lambda r: len(r) == 1)
            assert reasons[0]["metric"]["instance"] == down
            assert reasons[0]["metric"]["reason"] == "connect"
            status = prom.query(f'probe_http_status_code{{instance="{up}"}}')
            assert status[0]["value"][1] == "200"
