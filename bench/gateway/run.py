"""RUM gateway throughput and ingest latency, side by side with a bare 204 app, in one run.

Both servers are uvicorn, one process, uvloop + httptools, pinned to CPU 0 (``taskset``)
while ``wrk`` (and the scraper) run on CPU 1. The same request mix goes to both: 2,000
pre-built beacons, each one view with the 5 vitals and 2 API calls, 20 user agents,
30 countries (CF-IPCountry), 300 client IPs (X-Forwarded-For from loopback, trusted) and
~40 routes over thousands of paths.

1. **Throughput** — ``wrk -c32`` for 10 s against the bare app (the ceiling: it drains the
   body and answers 204), then the gateway; five rounds, alternating, median ratio.
   ``/metrics`` is fetched every 2 s meanwhile (from both), so the gateway's flush of
   what it summed per label combination is in the CPU measured.
   Reported as beacons/s of wall time and beacons per CPU-second of the server process
   (``/proc/<pid>/stat``), the per-core figure least disturbed by other work on the box.
   Goal: gateway ≥ 50 % of the ceiling.
2. **Latency under scrape** — the gateway is filled to ≥ 50,000 series, then ``wrk -c4``
   (a closed loop: each connection sends its next beacon when the last is answered, so
   the server is saturated but the queue is at most 4 deep and p99 shows the stalls)
   runs for 10 s against the bare app, then the gateway alone, then the gateway while
   another process scrapes ``/metrics`` back to back. Goal: p99 ingest latency < 50 ms
   while scraped; the bare app's p99 under the same load is the floor this machine
   allows at that moment, which separates the machine's share from the scrape's.

    .venv/bin/python bench/gateway/run.py             # ~3 minutes
    .venv/bin/python bench/gateway/run.py --quick     # 3 s runs, for a smoke test
    .venv/bin/python bench/gateway/run.py --calibrate # also the bare app spinning 20 µs

``--calibrate`` adds a third server to the throughput rounds: the bare app made to spin
``CALIBRATION_US`` of pure CPU per request. Its ratio shows what that much work costs on
this loopback (the server also pays for waking the idle client), to read the gateway's
ratio against.

Prints the figures and the ratio; exits 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
GOAL_RATIO = 0.5
GOAL_P99_MS = 50.0
SERIES_TARGET = 50_000
#: seconds between two /metrics fetches during the throughput runs (Prometheus: 15-60 s)
SCRAPE_EVERY = 2.0
#: µs of busy loop per request in the --calibrate server
CALIBRATION_US = 20

CONFIG = """\
apps:
  shop:
    origins: ["https://shop.example.com"]
    routes: ["/products/{id}", "/category/{slug}"]
    max_routes: 2000
geo:
  country_header: CF-IPCountry
trusted_proxies: ["127.0.0.0/8"]
limits:
  max_series: 60000
  rate_limit: {per_second: 100000, burst: 100000}
"""

USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36 OPR/110.0.0.0",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Linux; Android 11; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
]
COUNTRIES = [
    *("US", "GB", "DE", "FR", "IN", "BR", "JP", "SG", "ID", "NG", "MX", "CA", "AU", "IT", "ES"),
    *("NL", "PL", "SE", "KR", "VN", "PH", "TR", "EG", "ZA", "AR", "KE", "TH", "PK", "CN", "RU"),
]
SECTIONS = ["help", "blog", "account", "orders", "search", "checkout", "deals", "stores"]


def make_requests(n: int, seed: int = 7) -> list[tuple[dict[str, str], bytes]]:
    """``n`` realistic beacon requests: (headers, body)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.4:
            path = f"/products/{rng.randrange(5000)}"
        elif kind < 0.6:
            path = f"/category/{rng.choice(['shoes', 'bags', 'hats', 'coats'])}"
        elif kind < 0.9:
            path = f"/{rng.choice(SECTIONS)}/{rng.choice(['a', 'b', 'c', 'd'])}"
        else:
            path = f"/orders/{rng.randrange(10**6)}/items/{rng.randrange(50)}"
        vitals = {
            "LCP": round(rng.lognormvariate(7.7, 0.5), 1),
            "FCP": round(rng.lognormvariate(7.2, 0.5), 1),
            "TTFB": round(rng.lognormvariate(5.5, 0.6), 1),
            "CLS": round(rng.expovariate(12), 4),
            "INP": round(rng.lognormvariate(4.8, 0.6), 1),
        }
        api = [
            {"method": "GET", "path": f"/api/items/{rng.randrange(5000)}", "status": 200,
             "ms": round(rng.lognormvariate(4.5, 0.7), 1)},
            {"method": "POST", "path": "/api/cart", "status": rng.choice([200, 201, 201, 500]),
             "ms": round(rng.lognormvariate(5, 0.7), 1)},
        ]  # fmt: skip
        beacon = {
            "v": 1,
            "app": "shop",
            "sr": 1,
            "conn": rng.choice(["4g", "4g", "3g"]),
            "views": [{"path": path, "nav": "navigate", "pv": True, "vitals": vitals, "api": api}],
        }
        headers = {
            "Content-Type": "text/plain;charset=UTF-8",
            "Origin": "https://shop.example.com",
            "User-Agent": rng.choice(USER_AGENTS),
            "CF-IPCountry": rng.choice(COUNTRIES),
            "X-Forwarded-For": f"198.51.100.{i % 250}, 10.{i % 50}.0.1",
        }
        out.append((headers, json.dumps(beacon, separators=(",", ":")).encode()))
    return out


def write_wrk_script(requests: list[tuple[dict[str, str], bytes]], path: Path) -> None:
    """A wrk Lua script that cycles through pre-formatted requests."""
    lines = ["local reqs = {}"]
    for headers, body in requests:
        hdr = ", ".join(f'["{k}"] = [==[{v}]==]' for k, v in headers.items())
        request = f'wrk.format("POST", "/v1/beacon", {{{hdr}}}, [==[{body.decode()}]==])'
        lines.append(f"reqs[#reqs + 1] = {request}")
    lines += [
        "local i = 0",
        "request = function()",
        "  i = i % #reqs + 1",
        "  return reqs[i]",
        "end",
    ]
    path.write_text("\n".join(lines) + "\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cpu: int, argv: list[str]) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(cpu), *argv]
    return argv


class Server:
    def __init__(self, name: str, argv: list[str], port: int, log: Path) -> None:
        self.name, self.port = name, port
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            pinned(0, argv), stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")
            try:
                if get(port, "/-/ready")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()  # never leave a half-started server behind
        raise RuntimeError(f"{name} did not start")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def run_wrk(port: int, script: Path, seconds: int, connections: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/v1/beacon"
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    argv = pinned(1, [*argv, "-s", str(script), url])
    out = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds + 30, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {
        "rps": rps,
        "requests": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
    }


def measure(
    server: Server, script: Path, seconds: int, connections: int, scrape_every: float = 0.0
) -> dict[str, float]:
    """One wrk run; with ``scrape_every``, ``/metrics`` is also fetched at that interval
    meanwhile, so work the server defers to a scrape is in the CPU measured."""
    stop = threading.Event()

    def scrape() -> None:
        while not stop.wait(scrape_every):
            get(server.port, "/metrics")

    scraper = threading.Thread(target=scrape, daemon=True)
    if scrape_every:
        scraper.start()
    cpu0 = server.cpu_seconds()
    try:
        result = run_wrk(server.port, script, seconds, connections)
    finally:
        stop.set()
        if scrape_every:
            scraper.join(30)
    result["cpu_s"] = server.cpu_seconds() - cpu0
    result["per_cpu_s"] = result["requests"] / max(result["cpu_s"], 1e-9)
    return result


def sample(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (len(line) == len(name) or line[len(name)] in "{ "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def populate(port: int, target: int) -> int:
    """Post beacons with new (route, device, country) combinations until ``target`` series."""
    rng = random.Random(11)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    series = 0
    for i in range(20_000):  # bounded
        views = [
            {"path": f"/s{i}-{j}/page", "pv": True,
             "vitals": {"LCP": 2000.0, "FCP": 900.0, "TTFB": 120.0, "CLS": 0.02, "INP": 80.0}}
            for j in range(4)
        ]  # fmt: skip
        body = json.dumps({"v": 1, "app": "shop", "views": views}).encode()
        headers = {"Content-Type": "text/plain", "Origin": "https://shop.example.com",
                   "User-Agent": rng.choice(USER_AGENTS), "CF-IPCountry": rng.choice(COUNTRIES),
                   "X-Forwarded-For": f"203.0.113.{i % 250}"}  # fmt: skip
        conn.request("POST", "/v1/beacon", body=body, headers=headers)
        conn.getresponse().read()
        if i % 50 == 0:
            series = int(sample(get(port, "/metrics")[1].decode(), "twinlens_gateway_series"))
            if series >= target:
                break
    conn.close()
    return series


SCRAPER = """
import http.client, json, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
durations, sizes = [], []
end = time.monotonic() + seconds
while time.monotonic() < end:
    t = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics")
    sizes.append(len(c.getresponse().read()))
    c.close()
    durations.append(time.monotonic() - t)
print(json.dumps({"scrapes": len(durations), "max_s": max(durations),
                  "mean_s": sum(durations) / len(durations), "bytes": max(sizes)}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs (smoke test)")
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help=f"also run the bare app spinning {CALIBRATION_US} µs per request",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk not found (Debian package wrk)", file=sys.stderr)
        return 2
    seconds = 3 if args.quick else 10
    rounds = 2 if args.quick else 5
    work = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    config = work / "gateway.yml"
    config.write_text(CONFIG)
    script = work / "beacons.lua"
    requests = make_requests(2000)
    write_wrk_script(requests, script)
    mean_size = sum(len(b) for _, b in requests) / len(requests)
    print(
        f"mix: {len(requests)} beacons, mean body {mean_size:.0f} bytes, "
        f"{len(USER_AGENTS)} user agents, {len(COUNTRIES)} countries; runs of {seconds}s; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )

    bare_port, gw_port = free_port(), free_port()
    bare = Server(
        "bare",
        [PYTHON, "bench/gateway/bare.py", "127.0.0.1", str(bare_port)],
        bare_port,
        work / "bare.log",
    )
    try:
        gateway = Server(
            "gateway",
            [PYTHON, "-m", "twinlens", "gateway", "--config.file", str(config),
             "--web.listen-address", f"127.0.0.1:{gw_port}", "--log.level", "warn"],
            gw_port,
            work / "gateway.log",
        )  # fmt: skip
    except RuntimeError:
        bare.stop()
        raise
    spin = None
    if args.calibrate:
        spin_port = free_port()
        spin = Server(
            "spin",
            [PYTHON, "bench/gateway/bare.py", "127.0.0.1", str(spin_port), str(CALIBRATION_US)],
            spin_port,
            work / "spin.log",
        )
    failed = False
    try:
        run_wrk(bare.port, script, 2, 32)  # warm-up
        run_wrk(gateway.port, script, 2, 32)
        # Short alternating rounds: each ratio compares two runs a few seconds apart, so a
        # change in the machine's other load hits both sides; the median ratio is reported.
        pairs = []
        spin_ratios = []
        for _ in range(rounds):
            pairs.append(
                (
                    measure(bare, script, seconds, 32, SCRAPE_EVERY),
                    measure(gateway, script, seconds, 32, SCRAPE_EVERY),
                )
            )
            if spin:
                spun = measure(spin, script, seconds, 32, SCRAPE_EVERY)
                spin_ratios.append(spun["per_cpu_s"] / pairs[-1][0]["per_cpu_s"])
        text = get(gateway.port, "/metrics")[1].decode()
        accepted = sample(text, "rum_beacons_total")
        rejected = sample(text, "rum_beacons_rejected_total")
        cpu_ratios = sorted(g["per_cpu_s"] / b["per_cpu_s"] for b, g in pairs)
        wall_ratios = sorted(g["rps"] / b["rps"] for b, g in pairs)
        print(
            "\n1. throughput (uvicorn, 1 process, pinned to CPU 0; wrk -c32 on CPU 1; "
            f"/metrics every {SCRAPE_EVERY:g} s), {rounds} rounds"
        )
        for name, index in (("bare", 0), ("gateway", 1)):
            per_cpu = statistics.median(pair[index]["per_cpu_s"] for pair in pairs)
            wall = statistics.median(pair[index]["rps"] for pair in pairs)
            bad = sum(pair[index]["non_2xx"] for pair in pairs)
            print(
                f"   {name:8s} median {per_cpu:.0f} per CPU-second, {wall:.0f}/s wall; "
                f"non-2xx {bad:.0f}"
            )
        compiled = sample(text, "twinlens_gateway_ingest_compiled")
        print(
            f"   gateway accepted {accepted:.0f} beacons, rejected {rejected:.0f}; ingest path: "
            + ("compiled" if compiled else "Python (rum_gateway._ingest not built, or pure)")
        )
        ratio_cpu = statistics.median(cpu_ratios)
        ratio_wall = statistics.median(wall_ratios)
        print(
            f"   RATIO gateway / ceiling: {ratio_cpu:.2f} per CPU-second "
            f"(rounds {cpu_ratios[0]:.2f}-{cpu_ratios[-1]:.2f}), {ratio_wall:.2f} wall "
            f"(goal >= {GOAL_RATIO:.2f})"
        )
        if spin_ratios:
            bare_us = 1e6 / statistics.median(pair[0]["per_cpu_s"] for pair in pairs)
            print(
                f"   calibration: the bare app spinning {CALIBRATION_US} µs per request scores "
                f"{statistics.median(spin_ratios):.2f} (rounds {min(spin_ratios):.2f}-"
                f"{max(spin_ratios):.2f}; bare app {bare_us:.1f} µs per request)"
            )
        if rejected or ratio_cpu < GOAL_RATIO:
            failed = True

        series = populate(gateway.port, SERIES_TARGET)
        floor = measure(bare, script, seconds, 4)  # what this machine allows at all
        quiet = measure(gateway, script, seconds, 4)  # same load, nobody scraping
        scraper = subprocess.Popen(
            pinned(1, [PYTHON, "-c", SCRAPER, str(gateway.port), str(seconds)]),
            stdout=subprocess.PIPE,
            text=True,
        )
        under = measure(gateway, script, seconds, 4)
        scrape = json.loads(scraper.communicate(timeout=seconds + 60)[0])
        size = scrape["bytes"] / 2**20
        print(
            f"\n2. ingest latency, wrk -c4, with {series} series held (/metrics is {size:.1f} MiB)"
        )
        print(
            f"   bare app (the floor):    {floor['rps']:.0f} requests/s, "
            f"p99 {floor['p99_ms']:.1f} ms"
        )
        print(
            f"   gateway, no scrape:      {quiet['rps']:.0f} beacons/s, "
            f"p99 {quiet['p99_ms']:.1f} ms"
        )
        print(
            f"   gateway, scraped:        {under['rps']:.0f} beacons/s, "
            f"p99 {under['p99_ms']:.1f} ms (goal < {GOAL_P99_MS:.0f} ms); "
            f"{scrape['scrapes']} scrapes, mean {scrape['mean_s'] * 1000:.0f} ms, "
            f"max {scrape['max_s'] * 1000:.0f} ms; load average {os.getloadavg()[0]:.1f}"
        )
        if series < SERIES_TARGET or not under["p99_ms"] < GOAL_P99_MS or under["non_2xx"]:
            failed = True
    finally:
        bare.stop()
        gateway.stop()
        if spin:
            spin.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
