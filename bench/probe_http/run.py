"""CPU per HTTP probe: twinlens vs blackbox_exporter, side by side in one run.

Both exporters run as their own processes with the same ``blackbox.yml`` and probe the
same local target (a tiny asyncio server in a third process) through ``/probe``, driven by
``wrk`` at a fixed concurrency. CPU is read from ``/proc/<pid>/stat`` (user + system, all
threads) of each exporter process around each ``wrk`` run, so the numbers cover the
whole exporter: HTTP server, probe, metrics, exposition. Rounds alternate the order so
neither exporter always runs on a warmer (or noisier) box.

    .venv/bin/python bench/probe_http/run.py               # 2 rounds x 5 s each, -c16
    .venv/bin/python bench/probe_http/run.py --duration 10 --rounds 3

Goal (issue 2): twinlens CPU per probe <= 0.8 x blackbox_exporter's, full metric set.
Every load loop is bounded (``wrk -d``), loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOAL = 0.8
CLK_TCK = os.sysconf("SC_CLK_TCK")

CONFIG = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
"""

_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
    b"Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\nhello, world\n"
)


# --- the target: a minimal HTTP/1.1 server (its CPU is not measured) ----------------------------


class _TargetProtocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\r\n\r\n" in self.buf:
            self.transport.write(_RESPONSE)
            self.transport.close()


def serve_target(port_file: Path, seconds: float) -> None:
    """Serve the target on a free loopback port for at most ``seconds``."""

    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_TargetProtocol, sock=sock)
        await asyncio.sleep(seconds)
        server.close()

    port_file.write_text(str(sock.getsockname()[1]))

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Exporter:
    name: str
    proc: subprocess.Popen[bytes]
    url: str

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


def _get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return str(resp.read().decode())


@contextmanager
def start(name: str, argv: list[str], ready: str, workdir: Path) -> Iterator[Exporter]:
    port = free_port()
    log = (workdir / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [*argv, f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT
    )
    exporter = Exporter(name, proc, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start: {(workdir / f'{name}.log').read_text()}")
            try:
                _get(exporter.url + ready, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield exporter
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@contextmanager
def target(workdir: Path, seconds: float) -> Iterator[int]:
    port_file = workdir / "target.port"
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-target", str(port_file), "--for", str(seconds)]
    )
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() or not port_file.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("target server did not start")
            time.sleep(0.05)
        yield int(port_file.read_text())
    finally:
        proc.terminate()
        proc.wait(10)


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Result:
    exporter: str
    round: int
    requests: int
    seconds: float
    cpu: float
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_per_probe(self) -> float:
        return self.cpu / self.requests


def run_wrk(wrk: str, url: str, seconds: float, connections: int) -> tuple[int, float, int]:
    out = subprocess.run(
        [wrk, "-t2", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    match = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if match is None:
        raise SystemExit(f"cannot read wrk output:\n{out}")
    took = float(match.group(2)) / (1000 if match.group(3) == "ms" else 1)
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|timeout) (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write) (\d+)", out))
    return int(match.group(1)), took, errors


def measure(
    exporter: Exporter, wrk: str, url: str, seconds: float, connections: int, rnd: int
) -> Result:
    cpu0 = exporter.cpu_seconds()
    requests, took, errors = run_wrk(wrk, url, seconds, connections)
    cpu1 = exporter.cpu_seconds()
    return Result(exporter.name, rnd, requests, took, cpu1 - cpu0, errors)


def check_probe(exporter: Exporter, probe_url: str) -> None:
    text = _get(exporter.url + probe_url)
    if "\nprobe_success 1" not in "\n" + text:
        raise SystemExit(f"{exporter.name}: the probe does not succeed:\n{text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="measured runs per exporter")
    parser.add_argument("--connections", type=int, default=16, help="concurrent probes")
    parser.add_argument("--serve-target", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--for", dest="serve_for", type=float, default=600, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_target:
        serve_target(args.serve_target, args.serve_for)
        return 0
    if not 1 <= args.rounds <= 10 or not 1 <= args.duration <= 120:
        parser.error("--rounds must be 1-10 and --duration 1-120 seconds")

    wrk = shutil.which("wrk")
    blackbox = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    if not wrk or not blackbox:
        print("needs wrk and prometheus-blackbox-exporter (Debian packages): make sysdeps")
        return 2
    budget = (args.rounds + 1) * 2 * (args.duration + 5) + 60
    with tempfile.TemporaryDirectory(prefix="bench-probe-http-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        config = workdir / "blackbox.yml"
        config.write_text(CONFIG)
        port = stack.enter_context(target(workdir, budget))
        twinlens_argv = [sys.executable, "-m", "twinlens", "exporter", f"--config.file={config}"]
        exporters = [
            stack.enter_context(
                start(
                    "blackbox_exporter",
                    [blackbox, f"--config.file={config}"],
                    "/-/healthy",
                    workdir,
                )
            ),
            stack.enter_context(start("twinlens", twinlens_argv, "/-/ready", workdir)),
        ]
        probe_url = f"/probe?module=http_2xx&target=http%3A%2F%2F127.0.0.1%3A{port}%2F"
        for exporter in exporters:
            check_probe(exporter, probe_url)
            run_wrk(wrk, exporter.url + probe_url, 1, args.connections)  # warm-up
        results: list[Result] = []
        for rnd in range(1, args.rounds + 1):
            order = exporters if rnd % 2 else exporters[::-1]
            for exporter in order:
                results.append(
                    measure(
                        exporter,
                        wrk,
                        exporter.url + probe_url,
                        args.duration,
                        args.connections,
                        rnd,
                    )
                )
        for exporter in exporters:
            check_probe(exporter, probe_url)
        rss = {e.name: e.rss_mib() for e in exporters}

    print(
        f"bench/probe_http: wrk -t2 -c{args.connections} -d{args.duration:g}s on /probe "
        f"(module http_2xx, loopback target), {os.cpu_count()} CPUs"
    )
    print(f"{'exporter':<18} {'round':>5} {'probes/s':>9} {'CPU µs/probe':>13} {'errors':>7}")
    for r in results:
        print(
            f"{r.exporter:<18} {r.round:>5} {r.rate:>9.0f} "
            f"{r.cpu_per_probe * 1e6:>13.0f} {r.errors:>7}"
        )
    totals = {}
    for name in ("blackbox_exporter", "twinlens"):
        mine = [r for r in results if r.exporter == name]
        totals[name] = sum(r.cpu for r in mine) / sum(r.requests for r in mine)
        rate = sum(r.requests for r in mine) / sum(r.seconds for r in mine)
        print(
            f"{name:<18} {'all':>5} {rate:>9.0f} {totals[name] * 1e6:>13.0f}"
            f"   RSS {rss[name]:.0f} MiB"
        )
    ratio = totals["twinlens"] / totals["blackbox_exporter"]
    verdict = "met" if ratio <= GOAL else "MISSED"
    print(f"ratio twinlens/blackbox CPU per probe: {ratio:.2f} (goal <= {GOAL}: {verdict})")
    if any(r.errors for r in results):
        print("warning: wrk saw errors or non-2xx answers; the figures are suspect")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
