"""Start the whole demo on loopback, print where to look, keep a live summary, stop cleanly.

Processes: two exporters (two "locations", so quorum alerts mean something), the gateway,
Prometheus and Alertmanager when their binaries are on PATH, Chromium (through Playwright)
when present. The shop, the traffic generator and the summary run in this process. Every
child is started in its own session and is terminated, then killed if need be, on Ctrl-C,
SIGTERM or ``--duration``; the work directory is removed unless ``--keep-data``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import yaml
from aiohttp import web

from twinlens.demo import summary
from twinlens.demo.shop import build_shop
from twinlens.demo.traffic import BeaconTraffic, BrowserTraffic, find_chromium
from twinlens.runtime.flags import parse_listen_address
from twinlens.runtime.log import setup_logging

__all__ = ["configure", "run"]

log = logging.getLogger("twinlens.demo")

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "alerts" / "twinlens-rules.yml"
DEFAULT_PORTS = {
    "exporter": 9116,
    "gateway": 9117,
    "shop": 9118,
    "exporter2": 9119,
    "prometheus": 9190,
    "alertmanager": 9193,
}
LOCATIONS = ("eu-west", "ap-southeast")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration",
        type=float,
        default=0,
        metavar="SECONDS",
        help="stop by itself after this long (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--random-ports",
        action="store_true",
        help="use free ephemeral ports instead of 9116-9119, 9190, 9193",
    )
    parser.add_argument(
        "--traffic",
        choices=("auto", "browser", "beacons", "none"),
        default="auto",
        help="browser = headless Chromium sessions; beacons = generated beacons; "
        "auto = browser when Chromium is installed (default)",
    )
    parser.add_argument(
        "--browser-sessions", type=int, default=2, help="Chromium sessions at once (default 2)"
    )
    parser.add_argument(
        "--refresh", type=float, default=5.0, help="seconds between summaries (default 5)"
    )
    parser.add_argument(
        "--summary-json",
        metavar="FILE",
        help="also write each summary as JSON to FILE (for scripts and tests)",
    )
    parser.add_argument(
        "--no-prometheus",
        action="store_true",
        help="do not start Prometheus and Alertmanager even when installed",
    )
    parser.add_argument("--keep-data", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--shop-only",
        metavar="HOST:PORT",
        help="serve only the demo shop on HOST:PORT (for docker compose / Kubernetes)",
    )
    parser.add_argument(
        "--gateway-url",
        default="http://localhost:9117",
        help="with --shop-only: the gateway URL as browsers reach it (default %(default)s)",
    )
    parser.add_argument("--log.level", dest="log_level", default="warn")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def choose_ports(random_ports: bool) -> dict[str, int]:
    """The default ports, or free ones for any that is taken (or all, with --random-ports)."""
    return {
        name: _free_port() if random_ports or not _port_free(port) else port
        for name, port in DEFAULT_PORTS.items()
    }


def _child_setup() -> Callable[[], None]:
    """What each child runs between fork and exec: its own session (Ctrl-C in the terminal
    reaches only the demo, which stops children in order), and SIGTERM from the kernel if
    the demo itself dies without cleaning up (SIGKILL, a crash): no process is left behind.
    libc is loaded here, in the parent, so the child only makes two system calls."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def setup() -> None:
        os.setsid()
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return setup


_PR_SET_PDEATHSIG = 1


class Child:
    """One child process with its log file; stopped by SIGTERM, then SIGKILL."""

    def __init__(self, name: str, argv: list[str], workdir: Path, ready_url: str) -> None:
        self.name = name
        self.argv = argv
        self.ready_url = ready_url
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                # Only system calls run there, no locks taken: safe with threads around.
                preexec_fn=_child_setup(),  # noqa: PLW1509
            )

    async def wait_ready(self, session: aiohttp.ClientSession, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.tail()}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(self.ready_url) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.tail()}")

    def tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def exporter_config(shop: str) -> dict[str, Any]:
    """Checks against the demo shop: page, API with a body assertion, health, TCP."""
    host_port = shop.split("://", 1)[1].rstrip("/")
    return {
        "modules": {
            "http_2xx": {"prober": "http", "timeout": "5s"},
            "http_api": {
                "prober": "http",
                "timeout": "5s",
                "http": {"fail_if_body_not_matches_regexp": ['"name"']},
            },
            "tcp_connect": {"prober": "tcp", "timeout": "3s"},
        },
        "checks": [
            {"name": "shop-home", "module": "http_2xx", "target": f"{shop}/", "interval": "10s"},
            {
                "name": "shop-api",
                "module": "http_api",
                "target": f"{shop}/api/products",
                "interval": "10s",
                "retries": {"count": 1, "backoff": "1s"},
                "labels": {"team": "shop"},
            },
            {
                "name": "shop-health",
                "module": "http_2xx",
                "target": f"{shop}/healthz",
                "interval": "15s",
            },
            {"name": "shop-tcp", "module": "tcp_connect", "target": host_port, "interval": "15s"},
        ],
    }


def gateway_config(shop: str) -> dict[str, Any]:
    """One app, ``shop``, trusting the country header and client address from loopback."""
    origins = [shop, shop.replace("127.0.0.1", "localhost")]
    return {
        "apps": {"shop": {"origins": origins}},
        "geo": {"country_header": "CF-IPCountry"},
        "trusted_proxies": ["127.0.0.0/8", "::1/128"],
    }


def prometheus_config(ports: dict[str, int], rules: Path | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "scrape_configs": [
            {
                "job_name": "twinlens-exporter",
                "static_configs": [
                    {
                        "targets": [
                            f"127.0.0.1:{ports['exporter']}",
                            f"127.0.0.1:{ports['exporter2']}",
                        ]
                    }
                ],
            },
            {
                "job_name": "twinlens-gateway",
                "static_configs": [{"targets": [f"127.0.0.1:{ports['gateway']}"]}],
            },
            {
                "job_name": "demo-shop",
                "static_configs": [{"targets": [f"127.0.0.1:{ports['shop']}"]}],
            },
        ],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}
            ]
        },
    }
    if rules is not None:
        config["rule_files"] = [str(rules)]
    return config


ALERTMANAGER_CONFIG = {
    "route": {"receiver": "log", "group_by": ["alertname", "severity"], "group_wait": "5s"},
    "receivers": [{"name": "log"}],
}


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ports = choose_ports(args.random_ports)
        self.workdir = Path(tempfile.mkdtemp(prefix="twinlens-demo-"))
        self.children: list[Child] = []
        self.url = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        self.traffic: BeaconTraffic | BrowserTraffic | None = None
        self.traffic_mode = "none"
        self.prometheus = False

    def _write(self, name: str, data: dict[str, Any]) -> Path:
        path = self.workdir / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def _plan(self) -> None:
        py = [sys.executable, "-m", "twinlens"]
        level = ["--log.level", "info"]
        exp_cfg = self._write("exporter.yml", exporter_config(self.url["shop"]))
        for name, location in zip(("exporter", "exporter2"), LOCATIONS, strict=True):
            self.children.append(
                Child(
                    name,
                    [
                        *py,
                        "exporter",
                        "--config.file",
                        str(exp_cfg),
                        "--location",
                        location,
                        "--web.listen-address",
                        f"127.0.0.1:{self.ports[name]}",
                        *level,
                    ],
                    self.workdir,
                    self.url[name] + "/-/ready",
                )
            )
        gw_cfg = self._write("gateway.yml", gateway_config(self.url["shop"]))
        self.children.append(
            Child(
                "gateway",
                [
                    *py,
                    "gateway",
                    "--config.file",
                    str(gw_cfg),
                    "--web.listen-address",
                    f"127.0.0.1:{self.ports['gateway']}",
                    *level,
                ],
                self.workdir,
                self.url["gateway"] + "/-/ready",
            )
        )
        prom = shutil.which("prometheus")
        am = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if prom and am and not self.args.no_prometheus:
            self.prometheus = True
            rules = RULES if RULES.exists() else None
            prom_cfg = self._write("prometheus.yml", prometheus_config(self.ports, rules))
            am_cfg = self._write("alertmanager.yml", ALERTMANAGER_CONFIG)
            self.children.append(
                Child(
                    "alertmanager",
                    [
                        am,
                        f"--config.file={am_cfg}",
                        f"--storage.path={self.workdir / 'am'}",
                        f"--web.listen-address=127.0.0.1:{self.ports['alertmanager']}",
                        "--cluster.listen-address=",
                        "--log.level=warn",
                    ],
                    self.workdir,
                    self.url["alertmanager"] + "/-/ready",
                )
            )
            self.children.append(
                Child(
                    "prometheus",
                    [
                        prom,
                        f"--config.file={prom_cfg}",
                        f"--storage.tsdb.path={self.workdir / 'prom'}",
                        f"--web.listen-address=127.0.0.1:{self.ports['prometheus']}",
                        "--log.level=warn",
                    ],
                    self.workdir,
                    self.url["prometheus"] + "/-/ready",
                )
            )

    def _choose_traffic(self) -> None:
        mode = self.args.traffic
        chromium = find_chromium()
        if mode == "auto":
            mode = "browser" if chromium and _playwright_available() else "beacons"
        if mode == "browser":
            if not chromium:
                raise RuntimeError(
                    "--traffic browser: no chromium on PATH (apt-get install chromium)"
                )
            self.traffic = BrowserTraffic(self.url["shop"], chromium, self.args.browser_sessions)
        elif mode == "beacons":
            self.traffic = BeaconTraffic(self.url["gateway"], self.url["shop"])
        self.traffic_mode = mode

    def banner(self) -> str:
        lines = ["twinlens demo is up:"]
        lines.append(f"  shop          {self.url['shop']}/")
        for name, location in zip(("exporter", "exporter2"), LOCATIONS, strict=True):
            lines.append(f"  exporter      {self.url[name]}/   (location {location})")
        lines.append(f"  gateway       {self.url['gateway']}/metrics   (SDK at /sdk.js)")
        if self.prometheus:
            lines.append(f"  prometheus    {self.url['prometheus']}/alerts")
            lines.append(f"  alertmanager  {self.url['alertmanager']}/")
        else:
            lines.append(
                "  prometheus    not started (install: apt-get install prometheus "
                "prometheus-alertmanager)"
            )
        traffic = {
            "browser": f"headless Chromium, {self.args.browser_sessions} sessions at a time",
            "beacons": "generated beacons (no Chromium found)",
            "none": "none",
        }
        lines.append(f"  traffic       {traffic[self.traffic_mode]}")
        lines.append(f"  work dir      {self.workdir}")
        lines.append("Ctrl-C stops everything.")
        return "\n".join(lines) + "\n"

    async def snapshot(self, session: aiohttp.ClientSession) -> summary.Snapshot:
        checks: list[summary.CheckRow] = []
        for name in ("exporter", "exporter2"):
            checks += summary.check_rows(await _get(session, self.url[name] + "/metrics"))
        rum = summary.rum_rows(await _get(session, self.url["gateway"] + "/metrics"))
        alerts: list[dict[str, str]] = []
        if self.prometheus:
            body = await _get(session, self.url["prometheus"] + "/api/v1/alerts")
            with contextlib.suppress(ValueError, KeyError):
                for a in json.loads(body)["data"]["alerts"]:
                    if a.get("state") == "firing":
                        alerts.append(
                            {**a["labels"], "summary": a.get("annotations", {}).get("summary", "")}
                        )
        traffic: dict[str, object] = {"mode": self.traffic_mode}
        if isinstance(self.traffic, BrowserTraffic):
            traffic.update(sessions=self.traffic.sessions, failed=self.traffic.failed)
        elif isinstance(self.traffic, BeaconTraffic):
            traffic.update(beacons=self.traffic.sent, failed=self.traffic.failed)
        return summary.Snapshot(
            time=time.time(), checks=checks, rum=rum, alerts=alerts, traffic=traffic
        )

    async def run(self) -> int:
        self._plan()
        self._choose_traffic()
        edge = isinstance(self.traffic, BrowserTraffic)
        shop_runner = web.AppRunner(build_shop(self.url["gateway"], edge=edge), access_log=None)
        await shop_runner.setup()
        await web.TCPSite(shop_runner, "127.0.0.1", self.ports["shop"]).start()
        tasks: list[asyncio.Task[Any]] = []
        timeout = aiohttp.ClientTimeout(total=5)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                for child in self.children:
                    child.start()
                await asyncio.gather(*(c.wait_ready(session) for c in self.children))
                sys.stdout.write(self.banner())
                sys.stdout.flush()
                if self.traffic is not None:
                    tasks.append(asyncio.create_task(self.traffic.run(), name="traffic"))
                await self._summaries(session, tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await shop_runner.cleanup()
            for child in reversed(self.children):
                child.stop()
            if not self.args.keep_data:
                shutil.rmtree(self.workdir, ignore_errors=True)
        return 0

    async def _summaries(
        self, session: aiohttp.ClientSession, tasks: list[asyncio.Task[Any]]
    ) -> None:
        started = time.monotonic()
        tty = sys.stdout.isatty()
        while True:
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise RuntimeError(f"{task.get_name()} stopped: {task.exception()!r}")
            for child in self.children:
                if child.proc is not None and child.proc.poll() is not None:
                    raise RuntimeError(f"{child.name} exited unexpectedly:\n{child.tail()}")
            snap = await self.snapshot(session)
            text = summary.render(snap)
            sys.stdout.write(("\x1b[H\x1b[2J" + self.banner() if tty else "") + text)
            sys.stdout.flush()
            if self.args.summary_json:
                _write_atomic(Path(self.args.summary_json), msgspec.json.encode(snap))
            if self.args.duration and time.monotonic() - started >= self.args.duration:
                return
            await asyncio.sleep(self.args.refresh)


def _write_atomic(path: Path, data: bytes) -> None:
    """Readers never see a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


async def _get(session: aiohttp.ClientSession, url: str) -> str:
    try:
        async with session.get(url) as resp:
            return await resp.text()
    except (aiohttp.ClientError, TimeoutError):
        return ""


def _playwright_available() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return True


async def serve_shop(address: str, gateway_url: str) -> int:
    """Only the shop, until cancelled (``--shop-only``)."""
    host, port = parse_listen_address(address)
    runner = web.AppRunner(build_shop(gateway_url), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    sys.stdout.write(f"demo shop on http://{host}:{port}/ (SDK from {gateway_url}/sdk.js)\n")
    sys.stdout.flush()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
    return 0


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, "logfmt")

    async def main() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            if args.shop_only:
                return await serve_shop(args.shop_only, args.gateway_url)
            return await Demo(args).run()
        except asyncio.CancelledError:
            sys.stdout.write("\nstopped; every demo process is gone.\n")
            return 0

    try:
        return asyncio.run(main())
    except RuntimeError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
