"""The beacon path without a server: the gateway's own CPU per beacon, and where it goes.

``run.py`` measures what matters (server CPU per beacon next to a bare app, through
uvicorn and real sockets), but on a shared box its rounds scatter by ±10 %. This drives
both ASGI apps directly with the same beacon mix, in one process and a few seconds, so a
change to the Python path is seen without that noise (the box's speed still moves both
figures together); ``--profile`` adds cProfile's view::

    .venv/bin/python bench/gateway/inprocess.py            # ~20 s
    .venv/bin/python bench/gateway/inprocess.py --profile  # and the top functions

Every request goes through ``Gateway.__call__`` exactly as uvicorn would call it (headers
as bytes, the body in one ``http.request`` message); ``send`` is a no-op, so uvicorn's
and the kernel's share (~20 µs per request here) is not in these figures.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, MutableMapping
from pathlib import Path
from typing import Any

import bare  # bench/gateway/ is on sys.path when this file is run as a script
import run

from rum_gateway.app import create_app

Message = MutableMapping[str, Any]
App = Callable[..., Coroutine[Any, Any, None]]


def scopes(requests: list[tuple[dict[str, str], bytes]]) -> list[tuple[dict[str, Any], bytes]]:
    """(ASGI scope, body) per request, as uvicorn builds them."""
    out = []
    for headers, body in requests:
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        raw += [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())]
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/beacon",
            "raw_path": b"/v1/beacon",
            "query_string": b"",
            "root_path": "",
            "headers": raw,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 9117),
        }
        out.append((scope, body))
    return out


async def _send(message: Message) -> None:
    return None


def drive(app: App, requests: list[tuple[dict[str, Any], bytes]], count: int) -> float:
    """Seconds per request over ``count`` requests (cycling through ``requests``)."""
    statuses: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    start = time.perf_counter()
    for i in range(count):
        scope, body = requests[i % len(requests)]
        message = {"type": "http.request", "body": body, "more_body": False}

        async def receive(message: Message = message) -> Message:
            return message

        coroutine = app(dict(scope), receive, send if i == 0 else _send)
        try:
            coroutine.send(None)  # nothing in the beacon path really waits
        except StopIteration:
            pass
        else:
            raise RuntimeError("the beacon path suspended: this harness cannot drive it")
    elapsed = time.perf_counter() - start
    if statuses != [204]:
        raise RuntimeError(f"the app answered {statuses}, not 204")
    return elapsed / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", action="store_true", help="also print cProfile's top 25")
    parser.add_argument("--count", type=int, default=50_000, help="requests per round")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-gateway-inprocess-"))
    config = work / "gateway.yml"
    config.write_text(run.CONFIG)
    gateway = create_app(str(config))
    requests = scopes(run.make_requests(2000))
    drive(gateway, requests, 20_000)  # warm the caches and the combinations
    drive(bare.app, requests, 2_000)
    rounds = [(drive(gateway, requests, args.count), drive(bare.app, requests, args.count))]
    for _ in range(4):
        rounds.append((drive(gateway, requests, args.count), drive(bare.app, requests, args.count)))
    gw_us = statistics.median(g for g, _ in rounds) * 1e6
    bare_us = statistics.median(b for _, b in rounds) * 1e6
    print(
        f"in-process, {len(requests)} beacons of the run.py mix, 5 rounds of {args.count}:\n"
        f"   gateway {gw_us:.1f} µs per beacon, bare app {bare_us:.1f} µs "
        f"(the gateway's own Python: {gw_us - bare_us:.1f} µs)"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        drive(gateway, requests, args.count)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
