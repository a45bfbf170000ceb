"""The ceiling for bench/gateway: an ASGI app that reads the body and answers 204.

Served exactly like ``twinlens gateway`` (uvicorn, one process, uvloop, httptools, no
access log), so the only difference measured is the gateway's own work::

    python bench/gateway/bare.py 127.0.0.1 18080
    python bench/gateway/bare.py 127.0.0.1 18080 20   # and spin 20 µs per request

The spinning variant calibrates the benchmark: what a known amount of pure CPU work per
request (no memory touched) costs on this machine's loopback, next to the bare app.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
#: seconds of busy loop per request (the calibration variant; 0 for the ceiling)
SPIN = 0.0


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:  # drain the body, as the gateway must
        message = await receive()
        more = message.get("more_body", False)
    if SPIN:
        end = time.perf_counter() + SPIN
        while time.perf_counter() < end:
            pass
    status = 200 if scope["path"] == "/-/ready" else 204
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def main() -> None:
    import uvicorn

    global SPIN
    host, port = sys.argv[1], int(sys.argv[2])
    SPIN = float(sys.argv[3]) / 1e6 if len(sys.argv) > 3 else 0.0
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,  # as twinlens gateway runs
        timeout_keep_alive=30,
    )


if __name__ == "__main__":
    main()
