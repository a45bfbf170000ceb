"""The ceiling for bench/gateway: an ASGI app that reads the body and answers 204.

Served exactly like ``twinlens gateway`` (uvicorn, one process, uvloop, httptools, no
access log), so the only difference measured is the gateway's own work::

    python bench/gateway/bare.py 127.0.0.1 18080
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]


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
    status = 200 if scope["path"] == "/-/ready" else 204
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def main() -> None:
    import uvicorn

    host, port = sys.argv[1], int(sys.argv[2])
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
