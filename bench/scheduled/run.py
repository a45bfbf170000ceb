"""10,000 scheduled HTTP checks in one exporter process: CPU, memory, /metrics, lag.

The real ``twinlens exporter`` (its own process, uvloop when installed) runs N HTTP checks
at a 60 s interval against a local target (a minimal HTTP/1.1 server in a third process,
not measured). After a warm-up of one interval (every check has run, every series
exists) it is measured for five minutes while being scraped every 15 s like Prometheus:

* CPU share of one core: ``utime + stime`` of the exporter from ``/proc`` over the window;
* RSS: the largest ``VmRSS`` seen, sampled every second;
* ``/metrics``: wall time of each scrape (request to last byte) and body size;
* scheduling lag: from the exporter's own ``twinlens_scheduler_start_lag_seconds``
  histogram, how many runs in the window started more than 25 / 100 / 250 ms after their
  slot, split into runs whose slot fell while a scrape was being answered and the rest;
* runs per second against the expected N / interval, and skipped runs.

    .venv/bin/python bench/scheduled/run.py                  # 10,000 checks, 5 minutes
    .venv/bin/python bench/scheduled/run.py --checks 2000 --minutes 1

Goal (issue 3): <= 25 % of one core, <= 300 MB RSS, /metrics <= 1 s, no run delayed by a
scrape. Every loop here is bounded in count and time; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLK_TCK = os.sysconf("SC_CLK_TCK")
GOALS = {"cpu": 0.25, "rss_mb": 300.0, "metrics_s": 1.0}
_LAG = re.compile(r'^twinlens_scheduler_start_lag_seconds_bucket\{[^}]*le="([^"]+)"\} (\S+)$', re.M)
_RUNS = re.compile(r"^twinlens_check_runs_total\{[^}]*\} (\S+)$", re.M)
_SKIPPED = re.compile(r"^twinlens_check_skipped_total\{[^}]*\} (\S+)$", re.M)


# --- the target ----------------------------------------------------------------------------------


#: (check index, wall-clock arrival) of every request, for the lag of each run.
_ARRIVALS: list[tuple[int, float]] = []


class _Target(asyncio.Protocol):
    """HTTP/1.1, keep-alive, 200 "ok" to every ``/c/N``; ``/arrivals`` dumps the log."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            path = head.split(b" ", 2)[1]
            if path.startswith(b"/c/"):
                _ARRIVALS.append((int(path[3:]), now))
                body = b"ok\n"
            else:
                body = "".join(f"{i} {t:.6f}\n" for i, t in _ARRIVALS).encode()
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )


async def _serve_target() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Target, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(3600)  # bounded: the bench terminates it long before


# --- measuring -----------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _scrape(url: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as resp:
        body = resp.read()
    return time.perf_counter() - t0, body.decode()


def _lag_buckets(text: str) -> dict[str, float]:
    return {le: float(v) for le, v in _LAG.findall(text)}


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"exporter exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("exporter not ready in 120 s")


def _config(checks: int, interval: int, port: int) -> str:
    lines = [
        "modules:",
        "  http_2xx:",
        "    prober: http",
        "    timeout: 5s",
        "    http: {preferred_ip_protocol: ip4}",
        "checks:",
    ]
    for i in range(checks):
        lines.append(
            f"  - {{name: check-{i:05d}, module: http_2xx, "
            f"target: 'http://127.0.0.1:{port}/c/{i}', interval: {interval}s}}"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--interval", type=int, default=60)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--scrape-every", type=float, default=15.0)
    parser.add_argument("--serve-target", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_target:
        asyncio.run(_serve_target())
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-scheduled-"))
    target = subprocess.Popen(
        [sys.executable, __file__, "--serve-target"], stdout=subprocess.PIPE, text=True
    )
    exporter: subprocess.Popen[bytes] | None = None
    try:
        assert target.stdout is not None
        target_port = int(target.stdout.readline())
        config = work / "exporter.yml"
        config.write_text(_config(args.checks, args.interval, target_port))
        with socket_port() as port:
            pass
        log = work / "exporter.log"
        # TWINLENS_BENCH_RUNNER=script.py runs a variant of the exporter (same flags).
        runner = os.environ.get("TWINLENS_BENCH_RUNNER")
        command = [sys.executable, runner] if runner else [sys.executable, "-m", "twinlens"]
        exporter = subprocess.Popen(
            [
                *command,
                "exporter",
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--location=bench",
                "--log.level=warn",
            ],
            cwd=ROOT,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, exporter, log)
        print(f"{args.checks} checks at {args.interval}s; warm-up {args.interval + 10}s ...")
        time.sleep(args.interval + 10)  # every check has run once: full-size /metrics

        pid = exporter.pid
        window = args.minutes * 60
        scrapes: list[tuple[float, float, float]] = []  # (start, end, seconds)
        rss: list[float] = []
        size = 0
        _, first = _scrape(f"{url}/metrics")
        lag0, runs0, t_start = (
            _lag_buckets(first),
            sum(map(float, _RUNS.findall(first))),
            time.time(),
        )
        cpu0 = _cpu_seconds(pid)
        next_scrape = time.monotonic() + args.scrape_every
        end = time.monotonic() + window
        while time.monotonic() < end:
            rss.append(_rss_mb(pid))
            if time.monotonic() >= next_scrape:
                start = time.time()
                seconds, body = _scrape(f"{url}/metrics")
                scrapes.append((start, time.time(), seconds))
                size = len(body)
                next_scrape += args.scrape_every
            time.sleep(1.0)
        cpu = (_cpu_seconds(pid) - cpu0) / (time.time() - t_start)
        _, last = _scrape(f"{url}/metrics")
        elapsed = time.time() - t_start
        lag1 = _lag_buckets(last)
        runs = sum(map(float, _RUNS.findall(last))) - runs0
        skipped = sum(map(float, _SKIPPED.findall(last)))
        _, dump = _scrape(f"http://127.0.0.1:{target_port}/arrivals")
    finally:
        for proc in (exporter, target):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()

    inf = lag1["+Inf"] - lag0["+Inf"]

    def later_than(le: str) -> float:
        return inf - (lag1[le] - lag0[le])

    times = [s for _, _, s in scrapes]
    print(
        f"\n== bench/scheduled: {args.checks} HTTP checks, {args.interval}s interval, "
        f"{elapsed:.0f}s measured, scrape every {args.scrape_every:.0f}s"
    )
    print(
        f"runs/s            {runs / elapsed:8.1f}   (expected {args.checks / args.interval:.1f}); "
        f"skipped total {skipped:.0f}"
    )
    print(
        f"CPU share         {cpu:8.1%}   of one core   goal <= {GOALS['cpu']:.0%}   "
        f"ratio {cpu / GOALS['cpu']:.2f}"
    )
    print(
        f"RSS max           {max(rss):8.1f} MB           goal <= {GOALS['rss_mb']:.0f} MB  "
        f"ratio {max(rss) / GOALS['rss_mb']:.2f}"
    )
    print(
        f"/metrics          {statistics.median(times):8.3f} s median, {max(times):.3f} s max, "
        f"{size / 1e6:.1f} MB, {len(times)} scrapes   goal <= {GOALS['metrics_s']:.0f} s  "
        f"ratio {max(times) / GOALS['metrics_s']:.2f}"
    )
    print(
        f"start lag         {inf:.0f} runs: > 25 ms {later_than('0.025'):.0f}, "
        f"> 100 ms {later_than('0.1'):.0f}, > 250 ms {later_than('0.25'):.0f}, "
        f"> 1 s {later_than('1'):.0f}"
    )
    scrape_share = sum(e - s for s, e, _ in scrapes) / elapsed
    print(f"                  scrapes were being answered {scrape_share:.1%} of the time")
    during, outside = _lag_by_scrape(dump, args.interval, scrapes, t_start, t_start + elapsed)
    for name, lags in (("slot during a scrape", during), ("slot outside scrapes", outside)):
        if len(lags) > 1:
            q = statistics.quantiles(lags, n=100)
            print(
                f"  {name:22s} {len(lags):6d} runs: lag p50 {q[49] * 1000:7.1f} ms, "
                f"p99 {q[98] * 1000:7.1f} ms, max {max(lags) * 1000:7.1f} ms"
            )
    return 0


def _lag_by_scrape(
    dump: str, interval: int, scrapes: list[tuple[float, float, float]], t0: float, t1: float
) -> tuple[list[float], list[float]]:
    """Each request's lag behind its check's slot, split by whether a scrape was running."""
    sys.path.insert(0, str(ROOT))
    from exporter.scheduler import offset_fraction

    during: list[float] = []
    outside: list[float] = []
    offsets: dict[int, float] = {}
    for line in dump.splitlines():
        index_text, at_text = line.split()
        index, at = int(index_text), float(at_text)
        if not t0 <= at <= t1:
            continue
        offset = offsets.get(index)
        if offset is None:
            offset = offsets[index] = offset_fraction(f"check-{index:05d}") * interval
        # nearest slot: timers may fire a hair early, so the lag can be slightly negative
        lag = (at - offset + interval / 2) % interval - interval / 2
        slot = at - lag
        hit = any(s <= slot <= e for s, e, _ in scrapes)
        (during if hit else outside).append(max(lag, 0.0))
    return during, outside


class socket_port:
    """A free loopback port (closed again before the exporter binds it)."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


if __name__ == "__main__":
    sys.exit(main())
