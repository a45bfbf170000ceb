"""``twinlens exporter`` as a real process: endpoints, reload keeping the old config, signals."""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.procs import TwinlensProcess

GOOD = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
  with_secret:
    prober: http
    http:
      basic_auth: {username: alice, password: hunter2}
"""

GOOD2 = (
    GOOD
    + """\
  tcp_connect:
    prober: tcp
"""
)

BAD = """\
modules:
  http_2xx:
    prober: http
    timeout: forever
  other:
    prober: nope
"""


def get(url: str, data: bytes | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


@pytest.fixture
def exporter(tmp_path: Path):
    cfg = tmp_path / "blackbox.yml"
    cfg.write_text(GOOD)
    with TwinlensProcess(tmp_path, "exporter", "--config.file", str(cfg)) as proc:
        proc.config_path = cfg  # type: ignore[attr-defined]
        yield proc


def test_endpoints_and_caller_errors(exporter: TwinlensProcess) -> None:
    assert get(exporter.url + "/-/healthy") == (200, "Healthy\n")
    assert get(exporter.url + "/-/ready") == (200, "Ready\n")
    assert get(exporter.url + "/probe?target=x&module=nope") == (400, 'Unknown module "nope"\n')
    assert get(exporter.url + "/probe?module=http_2xx") == (400, "Target parameter is missing\n")
    status, body = get(exporter.url + "/metrics")
    assert status == 200
    assert metric(body, "twinlens_exporter_config_last_reload_successful") == 1
    assert 'twinlens_build_info{component="exporter"' in body
    status, config = get(exporter.url + "/config")
    assert status == 200
    assert "hunter2" not in config
    assert "password: <secret>" in config and "username: alice" in config
    status, page = get(exporter.url + "/")
    assert status == 200 and "Recent failed probes" in page


def test_reload_refuses_bad_config_and_keeps_the_old_one(exporter: TwinlensProcess) -> None:
    cfg: Path = exporter.config_path  # type: ignore[attr-defined]
    cfg.write_text(BAD)
    status, body = get(exporter.url + "/-/reload", b"")
    assert status == 500
    assert "modules.http_2xx.timeout: not a valid duration string: 'forever'" in body
    assert "modules.other: prober 'nope' is not valid" in body
    _, metrics = get(exporter.url + "/metrics")
    assert metric(metrics, "twinlens_exporter_config_last_reload_successful") == 0
    _, config = get(exporter.url + "/config")
    assert "with_secret" in config and "tcp_connect" not in config  # old config still serves

    cfg.write_text(GOOD2)
    assert get(exporter.url + "/-/reload", b"") == (200, "config reloaded\n")
    _, metrics = get(exporter.url + "/metrics")
    assert metric(metrics, "twinlens_exporter_config_last_reload_successful") == 1
    assert metric(metrics, 'twinlens_exporter_config_reloads_total{result="failure"}') == 1
    _, config = get(exporter.url + "/config")
    assert "tcp_connect" in config


def test_sighup_reloads_and_sigint_stops_cleanly(exporter: TwinlensProcess) -> None:
    cfg: Path = exporter.config_path  # type: ignore[attr-defined]
    _, metrics = get(exporter.url + "/metrics")
    before = metric(metrics, "twinlens_exporter_config_last_reload_success_timestamp_seconds")
    cfg.write_text(GOOD2)
    time.sleep(0.01)
    exporter.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, config = get(exporter.url + "/config")
        if "tcp_connect" in config:
            break
        time.sleep(0.1)
    else:
        pytest.fail("SIGHUP did not reload the config")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the gauge is set right after the swap
        _, metrics = get(exporter.url + "/metrics")
        ts = metric(metrics, "twinlens_exporter_config_last_reload_success_timestamp_seconds")
        if ts > before:
            break
        time.sleep(0.1)
    else:
        pytest.fail("reload timestamp did not advance")
    assert exporter.stop() == 0
    assert "shutting down" in exporter.logs()


def test_bad_startup_config_is_fatal_with_every_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "bad.yml"
    cfg.write_text(BAD)
    proc = subprocess.run(
        [sys.executable, "-m", "twinlens", "exporter", "--config.file", str(cfg)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 1
    assert "modules.http_2xx.timeout" in proc.stderr and "modules.other" in proc.stderr


def test_config_check_flag_and_check_config_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    good = tmp_path / "good.yml"
    good.write_text(GOOD)
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD)
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "twinlens",
            "exporter",
            "--config.file",
            str(good),
            "--config.check",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert ok.returncode == 0 and "SUCCESS" in ok.stdout
    both = subprocess.run(
        [sys.executable, "-m", "twinlens", "check-config", str(good), str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert both.returncode == 1
    assert f"SUCCESS: {good} is a valid exporter config" in both.stdout
    assert "2 errors" in both.stderr and "prober 'nope' is not valid" in both.stderr


def test_probe_endpoint_honours_every_address(tmp_path: Path) -> None:
    cfg = tmp_path / "every.yml"
    cfg.write_text("modules:\n  every:\n    prober: http\n    every_address: all\n")
    with TwinlensProcess(tmp_path, "exporter", "--config.file", str(cfg)) as exp:
        target = f"http://127.0.0.1:{exp.port}/-/healthy"
        status, body = get(f"{exp.url}/probe?module=every&target={target}")
    assert status == 200
    assert metric(body, 'probe_success{ip="127.0.0.1"}') == 1
    assert metric(body, 'probe_http_status_code{ip="127.0.0.1"}') == 200
