"""``twinlens demo`` (what ``make run`` runs): live figures within 60 s, nothing left after.

Runs the real thing: exporters, gateway, shop, Chromium traffic, and Prometheus and
Alertmanager when installed. Every process the demo starts inherits a marker in its
environment, so after the demo exits the test can prove none of them is still alive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support.tools import in_ci, require_tool

ROOT = Path(__file__).resolve().parents[2]


def _marked_pids(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ:
            pids.append(int(entry.name))
    return pids


@pytest.mark.slow
@pytest.mark.xdist_group("demo")
def test_demo_shows_live_figures_and_leaves_no_process(tmp_path: Path) -> None:
    require_tool("chromium")
    if in_ci():
        require_tool("prometheus")
        require_tool("alertmanager")
    summary = tmp_path / "summary.json"
    marker = f"demo-test-{uuid.uuid4()}"
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "twinlens",
            "demo",
            "--random-ports",
            "--duration",
            "75",
            "--refresh",
            "3",
            "--summary-json",
            str(summary),
            "--traffic",
            "browser",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TWINLENS_DEMO_MARKER": marker},
    )
    snap = None
    try:
        deadline = started + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            if summary.exists():
                snap = json.loads(summary.read_text())
                live = [r for r in snap["rum"] if r["views"] > 0 and (r["lcp_p75"] or r["inp_p75"])]
                routes = {r["route"] for r in live}
                devices = {r["device"] for r in live}
                checks = {c["check"] for c in snap["checks"] if c["runs"] > 0}
                if len(routes) >= 3 and len(devices) >= 2 and len(checks) >= 4:
                    break
            time.sleep(1)
        else:
            pytest.fail(f"no live figures within 60 s of start; last summary: {snap}")
        elapsed = time.monotonic() - started
        assert elapsed < 60
        # The checks ran from both locations, and the shop answered them.
        assert {c["location"] for c in snap["checks"]} == {"eu-west", "ap-southeast"}
        assert all(c["up"] for c in snap["checks"] if c["check"] in ("shop-home", "shop-tcp"))
        assert snap["traffic"]["mode"] == "browser" and snap["traffic"]["sessions"] > 0
        assert _marked_pids(marker)  # the marker does reach the children: the check below is real
        out, _ = proc.communicate(timeout=90)
        text = out.decode()
        assert proc.returncode == 0, text
        assert "twinlens demo is up:" in text and "Synthetic checks" in text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    time.sleep(0.5)
    left = _marked_pids(marker)
    assert left == [], f"processes left behind: {left}"


@pytest.mark.slow
@pytest.mark.xdist_group("demo")
def test_a_killed_demo_takes_its_children_with_it(tmp_path: Path) -> None:
    """SIGKILL leaves no time to clean up: the kernel's parent-death signal does it."""
    require_tool("chromium")
    summary = tmp_path / "summary.json"
    marker = f"demo-kill-test-{uuid.uuid4()}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "twinlens",
            "demo",
            "--random-ports",
            "--refresh",
            "2",
            "--summary-json",
            str(summary),
            "--traffic",
            "browser",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TWINLENS_DEMO_MARKER": marker},
    )
    try:
        deadline = time.monotonic() + 60
        while not summary.exists() and time.monotonic() < deadline:
            assert proc.poll() is None
            time.sleep(0.5)
        assert summary.exists(), "the demo did not come up"
        time.sleep(3)  # let the traffic start Chromium
        assert len(_marked_pids(marker)) > 3  # exporters, gateway, Chromium, …
    finally:
        proc.kill()
        proc.wait(10)
    deadline = time.monotonic() + 20
    while _marked_pids(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _marked_pids(marker) == []
