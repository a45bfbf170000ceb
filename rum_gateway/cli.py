"""``twinlens gateway``: the RUM gateway on uvicorn (one process, one event loop).

    twinlens gateway --config.file gateway.yml --web.listen-address :9117

Scale out with more processes behind a load balancer (histograms add up across replicas
with ``sum by (le, ...)``); one process keeps every label cap and budget exact.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from types import FrameType
from typing import Any

from twinlens.runtime.config import ConfigError
from twinlens.runtime.flags import add_server_flags, config_check, parse_listen_address
from twinlens.runtime.log import setup_logging

__all__ = ["configure", "run"]

log = logging.getLogger("rum_gateway")


def configure(parser: argparse.ArgumentParser) -> None:
    add_server_flags(parser, default_port=9117)
    parser.add_argument(
        "--sdk.path",
        dest="sdk_path",
        metavar="FILE",
        help="the SDK bundle served as /sdk.js (default: rum_gateway/sdk/dist/twinlens-rum.js, "
        "built by `make sdk`)",
    )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _fast_parts() -> tuple[str, str]:
    """uvloop and httptools when installed (they are, with twinlens's dependencies)."""
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    try:
        import httptools  # noqa: F401

        http = "httptools"
    except ImportError:
        http = "h11"
    return loop, http


def _server_class() -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, exiting 0 after a graceful stop on SIGINT / SIGTERM.

        uvicorn re-raises the signal once it has shut down, which ends the process as if
        killed (130, -15); a clean stop should say so, as the exporter's does.
        """

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return Server


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, args.log_format)
    from rum_gateway.config import load_config

    if args.config_check:
        return config_check(load_config, args.config_file, "gateway")
    try:
        host, port = parse_listen_address(args.listen_address)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from rum_gateway.app import create_app
    from rum_gateway.ingest import compiled_in_use

    try:
        app = create_app(args.config_file, sdk_path=args.sdk_path, install_sighup=True)
    except ConfigError as exc:
        log.error("invalid config, not starting", extra={"fields": {"err": str(exc)}})
        return 1
    try:
        sock = _bind(host, port)
    except OSError as exc:
        log.error("cannot listen", extra={"fields": {"address": args.listen_address, "err": exc}})
        return 1
    loop, http = _fast_parts()
    config = uvicorn.Config(
        app,
        loop=loop,
        http=http,
        lifespan="on",
        access_log=False,
        log_config=None,
        # trusted_proxies in the config decide whom X-Forwarded-For is believed from;
        # uvicorn's own rewrite of the client address (on for 127.0.0.1) would pre-empt it.
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=30,
    )
    server = _server_class()(config)
    bound = sock.getsockname()
    log.info(
        "gateway listening",
        extra={
            "fields": {
                "address": f"{bound[0]}:{bound[1]}",
                "config": args.config_file or "<embedded>",
                "apps": ",".join(sorted(app.config.apps)),
                "sdk": "available" if app.sdk.body is not None else "missing (run make sdk)",
                "ingest": "compiled" if compiled_in_use() else "python",
            }
        },
    )
    if loop == "uvloop":
        import uvloop

        uvloop.run(server.serve(sockets=[sock]))
    else:
        asyncio.run(server.serve(sockets=[sock]))
    return 0
