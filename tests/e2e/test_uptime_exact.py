"""Uptime from run counters is exact: a real Prometheus scrapes the real exporter.

A local HTTP target fails every 4th request (500), so 25 % of check runs fail. After at
least two minutes of scrapes, uptime computed in PromQL from
``twinlens_check_runs_total`` is exactly 0.75, both as the cumulative ratio and as the
``increase()`` ratio over a window that starts and ends on scrapes (no extrapolation).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.ports import free_port
from tests.support.prometheus import PrometheusServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

WINDOW = 120.0  # seconds of scraped data the assertion spans
FAIL_EVERY = 4


class _Target(BaseHTTPRequestHandler):
    count = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with _Target.lock:
            n = _Target.count
            _Target.count += 1
        status = 500 if n % FAIL_EVERY == FAIL_EVERY - 1 else 200
        body = b"ok\n" if status == 200 else b"boom\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def target() -> Iterator[str]:
    _Target.count = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()
    server.server_close()


@pytest.fixture
def exporter(tmp_path: Path, target: str) -> Iterator[str]:
    config = {
        "modules": {"http_2xx": {"prober": "http", "timeout": "900ms"}},
        "checks": [{"name": "shop", "module": "http_2xx", "target": target, "interval": "1s"}],
    }
    path = tmp_path / "exporter.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "exporter.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "twinlens",
            "exporter",
            f"--config.file={path}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--location=e2e-lab",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError((tmp_path / "exporter.log").read_text())
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("exporter not ready in 30 s")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _runs_by_scrape(prom: PrometheusServer) -> list[tuple[float, int, int]]:
    """(timestamp, success, failure) at every scrape Prometheus holds."""
    data = prom.api("query", query='twinlens_check_runs_total{check="shop"}[10m]')
    series = {s["metric"]["result"]: dict(s["values"]) for s in data["result"]}
    times = sorted(set(series.get("success", {})) & set(series.get("failure", {})))
    return [(t, int(series["success"][t]), int(series["failure"][t])) for t in times]


def test_uptime_from_run_counters_is_exact(tmp_path: Path, exporter: str) -> None:
    scrape = [{"job_name": "twinlens", "static_configs": [{"targets": [exporter]}]}]
    with PrometheusServer(tmp_path / "prom", scrape_configs=scrape) as prom:
        # Poll (no blind sleep) until the scrapes span the window between two scrapes
        # where the run count is a multiple of 4, i.e. where the target's share is exact.
        deadline = time.monotonic() + WINDOW + 90
        span: tuple[tuple[float, int, int], tuple[float, int, int]] | None = None
        while span is None:
            assert time.monotonic() < deadline, "not enough scrapes in time"
            time.sleep(2)
            samples = _runs_by_scrape(prom)
            aligned = [s for s in samples if (s[1] + s[2]) % FAIL_EVERY == 0]
            if aligned and aligned[-1][0] - aligned[0][0] >= WINDOW:
                span = (aligned[0], aligned[-1])
        (t0, s0, f0), (t1, s1, f1) = span
        runs = s1 + f1
        assert runs >= WINDOW * 0.9  # a 1 s interval ran (about) every second
        assert f1 * FAIL_EVERY == runs  # the target's share, seen by the counters
        at = f"{t1:.3f}"
        cumulative = prom.query(
            'sum(twinlens_check_runs_total{check="shop",result="success"})'
            ' / sum(twinlens_check_runs_total{check="shop"})',
            t1,
        )
        assert cumulative[0]["value"][1] == "0.75"
        window_ms = round((t1 - t0) * 1000)
        windowed = prom.query(
            f'sum(increase(twinlens_check_runs_total{{check="shop",result="success"}}[{window_ms}ms]))'
            f' / sum(increase(twinlens_check_runs_total{{check="shop"}}[{window_ms}ms]))',
            t1,
        )
        assert windowed[0]["value"][1] == "0.75", (at, windowed, s0, f0, s1, f1)
        # every failure is accounted to its reason, with the location label
        reasons = prom.query('twinlens_check_failures_total{check="shop",location="e2e-lab"}', t1)
        assert [(r["metric"]["reason"], r["value"][1]) for r in reasons] == [
            ("http_status", str(f1))
        ]
