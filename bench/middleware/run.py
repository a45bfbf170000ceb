"""What the twinlens HTTP middleware costs per request, with and without it, in one run.

Two measurements, each of a trivial endpoint (``GET /items/7`` on a ``/items/{id}`` route):

1. **CPU µs per request, in process** (the goal: overhead <= 15 µs). Starlette (ASGI),
   aiohttp and Flask (WSGI) apps are called directly, no sockets, in bounded loops timed
   with ``time.process_time``; bare and instrumented rounds alternate and the fastest
   round of each counts (the least disturbed by the other work on this shared box). This
   isolates the middleware from network and server noise, which on loopback is larger
   than the thing measured. aiohttp is driven through ``Application._handle`` (private,
   the function its server calls per request) with a reused mocked request.
2. **Requests/s end to end**: ``wrk`` against two real aiohttp servers (the demo shop's
   framework), bare and instrumented, in separate processes running side by side, with
   short runs alternating between them (medians); the server's CPU per request comes
   from ``/proc/<pid>/stat`` (10 ms ticks). Loopback plus wrk on the same two cores make
   this the noisier figure.

    .venv/bin/python bench/middleware/run.py            # both parts, ~40 s
    .venv/bin/python bench/middleware/run.py --no-wrk   # in-process part only

Exits 1 if an in-process overhead exceeds the goal.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GOAL_US = 15.0
PATH = "/items/7"


# --- in-process apps -------------------------------------------------------------------


def starlette_app(instrumented: bool) -> Any:
    from prometheus_client import CollectorRegistry
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from twinlens.middleware import instrument_starlette

    async def item(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/items/{id:int}", item)])
    return instrument_starlette(app, registry=CollectorRegistry()) if instrumented else app


def aiohttp_app(instrumented: bool) -> Any:
    from aiohttp import web
    from prometheus_client import CollectorRegistry

    from twinlens.middleware import instrument_aiohttp

    async def item(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/items/{id}", item)
    return instrument_aiohttp(app, registry=CollectorRegistry()) if instrumented else app


def flask_app(instrumented: bool) -> Any:
    from flask import Flask
    from prometheus_client import CollectorRegistry

    from twinlens.middleware import instrument_flask

    app = Flask("bench")

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> str:
        return "ok"

    return instrument_flask(app, registry=CollectorRegistry()) if instrumented else app


# --- in-process drivers: run n requests, return CPU seconds ----------------------------


def drive_asgi(app: Any, n: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    async def loop() -> float:
        start = time.process_time()
        for _ in range(n):
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": PATH,
                "raw_path": PATH.encode(),
                "root_path": "",
                "query_string": b"",
                "headers": [(b"host", b"bench")],
                "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 80),
            }
            await app(scope, receive, send)
        return time.process_time() - start

    return asyncio.run(loop())


def drive_aiohttp(app: Any, n: int) -> float:
    from aiohttp.test_utils import make_mocked_request

    async def loop() -> float:
        app.freeze()
        request = make_mocked_request("GET", PATH, app=app)
        handle: Callable[[Any], Awaitable[Any]] = app._handle
        start = time.process_time()
        for _ in range(n):
            response = await handle(request)
        elapsed = time.process_time() - start
        assert response.status == 200, response.status
        return elapsed

    return asyncio.run(loop())


def drive_wsgi(app: Any, n: int) -> float:
    base = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": PATH,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "bench",
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return None

    start = time.process_time()
    for _ in range(n):
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(b"")
        body = app(environ, start_response)
        for _chunk in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
    elapsed = time.process_time() - start
    assert statuses[-1].startswith("200"), statuses[-1]
    return elapsed


def in_process(requests: int, rounds: int) -> dict[str, tuple[float, float]]:
    """adapter -> (bare µs/request, instrumented µs/request), fastest round of each."""
    cases = {
        "starlette (ASGI)": (starlette_app, drive_asgi),
        "aiohttp": (aiohttp_app, drive_aiohttp),
        "flask (WSGI)": (flask_app, drive_wsgi),
    }
    results = {}
    for name, (make, drive) in cases.items():
        apps = {False: make(False), True: make(True)}
        for app in apps.values():
            drive(app, min(requests, 500))  # warm up: route caches, label children
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(rounds):
            for instrumented in (False, True):
                times[instrumented].append(drive(apps[instrumented], requests) / requests * 1e6)
        results[name] = (min(times[False]), min(times[True]))
        print(
            f"  {name:18} bare {min(times[False]):7.2f} µs  instrumented "
            f"{min(times[True]):7.2f} µs  overhead {min(times[True]) - min(times[False]):6.2f} µs"
            f"   (medians {statistics.median(times[False]):.2f} / "
            f"{statistics.median(times[True]):.2f})",
            flush=True,
        )
    return results


# --- end to end: wrk against two aiohttp servers ---------------------------------------


def serve(instrumented: bool) -> None:
    """Child-process mode: serve the aiohttp app on a free port and print the port."""
    from aiohttp import web

    async def main() -> None:
        runner = web.AppRunner(aiohttp_app(instrumented), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def wrk_once(wrk: str, pid: int, url: str, seconds: int) -> tuple[float, float]:
    """One wrk run: (requests/s, server CPU µs per request)."""
    cpu_before = cpu_seconds(pid)
    out = subprocess.run(
        [wrk, "-t1", "-c8", f"-d{seconds}s", "--timeout", "5s", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    cpu = cpu_seconds(pid) - cpu_before
    total = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if total is None or rps is None or "Non-2xx" in out:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return float(rps.group(1)), cpu / int(total.group(1)) * 1e6


def end_to_end(seconds: int, rounds: int) -> None:
    """Both servers up at once; short wrk runs alternate so load drift hits both alike."""
    wrk = shutil.which("wrk")
    if wrk is None:
        print("  wrk not found (Debian package wrk): end-to-end part skipped")
        return
    servers: dict[str, tuple[subprocess.Popen[str], str]] = {}
    try:
        for variant in ("bare", "instrumented"):
            argv = [sys.executable, __file__, "--serve", variant]
            server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
            servers[variant] = (server, "")  # registered first, so finally stops it
            assert server.stdout is not None
            servers[variant] = (server, f"http://127.0.0.1:{int(server.stdout.readline())}{PATH}")
        for _, url in servers.values():  # warm up
            subprocess.run([wrk, "-t1", "-c4", "-d1s", url], capture_output=True, check=True)
        runs: dict[str, list[tuple[float, float]]] = {variant: [] for variant in servers}
        for _ in range(rounds):
            for variant, (server, url) in servers.items():
                runs[variant].append(wrk_once(wrk, server.pid, url, seconds))
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(10)
    medians = {
        variant: (
            statistics.median(r for r, _ in results),
            statistics.median(c for _, c in results),
        )
        for variant, results in runs.items()
    }
    for variant, (rps, cpu) in medians.items():
        print(f"  aiohttp {variant:13} {rps:9.0f} req/s   server CPU {cpu:6.1f} µs/request")
    (bare_rps, bare_cpu), (inst_rps, inst_cpu) = medians["bare"], medians["instrumented"]
    print(
        f"  ratio instrumented/bare: {inst_rps / bare_rps:.3f} of the requests/s, "
        f"{inst_cpu - bare_cpu:+.1f} µs server CPU per request (medians of {rounds} runs; "
        "noisy when the box is busy)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=5000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per variant")
    parser.add_argument("--wrk-seconds", type=int, default=2, help="seconds per wrk run")
    parser.add_argument("--wrk-rounds", type=int, default=5, help="wrk runs per server")
    parser.add_argument("--no-wrk", action="store_true", help="skip the end-to-end part")
    parser.add_argument("--serve", choices=("bare", "instrumented"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve == "instrumented")
        return 0

    print(
        f"middleware overhead, in process: {args.requests} requests x {args.rounds} rounds "
        "per variant, CPU time (process_time), fastest round"
    )
    results = in_process(args.requests, args.rounds)
    if not args.no_wrk:
        print(
            f"end to end: wrk -t1 -c8 -d{args.wrk_seconds}s, {args.wrk_rounds} alternating "
            "runs per server"
        )
        end_to_end(args.wrk_seconds, args.wrk_rounds)
    worst = max(inst - bare for bare, inst in results.values())
    verdict = "PASS" if worst <= GOAL_US else "FAIL"
    print(f"{verdict}: worst in-process overhead {worst:.2f} µs/request (goal <= {GOAL_US} µs)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
