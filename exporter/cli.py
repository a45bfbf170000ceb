"""``twinlens exporter``: the blackbox-compatible exporter with scheduled checks."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from aiohttp import web

from exporter.config import load_config
from twinlens.runtime.config import ConfigError
from twinlens.runtime.flags import add_server_flags, config_check, parse_listen_address
from twinlens.runtime.log import setup_logging
from twinlens.runtime.version import __version__

__all__ = ["configure", "parse_shard", "run", "run_async"]

T = TypeVar("T")

log = logging.getLogger("exporter")


def parse_shard(text: str) -> tuple[int, int]:
    """``"1/3"`` → ``(1, 3)``: this process runs shard 1 of 3 (0-based, like hashmod).

    >>> parse_shard("0/1")
    (0, 1)
    """
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise argparse.ArgumentTypeError(f"--shard must be i/n with 0 <= i < n, not {text!r}")
    return int(match.group(1)), int(match.group(2))


def _location(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", text):
        raise argparse.ArgumentTypeError(
            f"--location must be 1-64 characters of letters, digits, _.:-, not {text!r}"
        )
    return text


def configure(parser: argparse.ArgumentParser) -> None:
    add_server_flags(parser, default_port=9116)
    parser.add_argument(
        "--timeout-offset",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="subtracted from Prometheus's scrape timeout to leave time for the answer "
        "(default 0.5)",
    )
    parser.add_argument(
        "--location",
        type=_location,
        default=os.environ.get("TWINLENS_LOCATION", "default"),
        help="the location label on every scheduled-check series "
        "(default $TWINLENS_LOCATION or 'default')",
    )
    parser.add_argument(
        "--shard",
        type=parse_shard,
        default=(0, 1),
        metavar="I/N",
        help="run only the checks whose stable hash falls in shard I of N (0-based; default 0/1)",
    )
    parser.add_argument(
        "--checks.max-concurrency",
        dest="max_concurrency",
        type=int,
        default=64,
        metavar="N",
        help="at most N scheduled check runs at once (default 64)",
    )
    parser.add_argument(
        "--history.limit",
        dest="history_limit",
        type=int,
        default=100,
        metavar="N",
        help="recent probes kept for the web page, and failed ones apart (default 100 each)",
    )


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, args.log_format)
    if args.config_check:
        return config_check(load_config, args.config_file, "exporter")
    try:
        host, port = parse_listen_address(args.listen_address)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        return int(run_async(_serve(args, host, port)))
    except ConfigError as exc:
        log.error("cannot load config", extra={"fields": {"err": str(exc)}})
        print(f"error: {exc}", file=sys.stderr)
        return 1


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on uvloop when it is installed (the ``fast`` extra), else asyncio's loop."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


async def _serve(args: argparse.Namespace, host: str, port: int) -> int:
    from exporter.web import ExporterState, build_app

    state = ExporterState(
        args.config_file,
        timeout_offset=args.timeout_offset,
        location=args.location,
        shard=args.shard,
        max_concurrency=args.max_concurrency,
        history_limit=args.history_limit,
    )
    app = build_app(state)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        log.error("cannot listen", extra={"fields": {"address": f"{host}:{port}", "err": str(exc)}})
        return 1
    bound = _bound_address(site)
    config = state.config
    log.info(
        "twinlens exporter started",
        extra={
            "fields": {
                "version": __version__,
                "address": bound,
                "config": args.config_file or "<embedded>",
                "modules": len(config.modules),
                "checks": len(config.checks),
                "location": args.location,
                "shard": f"{args.shard[0]}/{args.shard[1]}",
            }
        },
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    state.reloader.install_sighup(loop)
    await stop.wait()
    log.info("shutting down")
    await runner.cleanup()
    return 0


def _bound_address(site: web.TCPSite) -> str:
    server = site._server  # aiohttp keeps the asyncio server here
    sockets = getattr(server, "sockets", None) or []
    for sock in sockets:
        addr = sock.getsockname()
        if sock.family == socket.AF_INET6:
            return f"[{addr[0]}]:{addr[1]}"
        return f"{addr[0]}:{addr[1]}"
    return site.name
