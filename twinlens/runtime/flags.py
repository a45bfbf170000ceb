"""Command-line flags shared by every twinlens server, named as in Prometheus exporters."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from twinlens.runtime.config import ConfigError
from twinlens.runtime.log import LEVELS

__all__ = ["add_server_flags", "config_check", "parse_listen_address"]


def add_server_flags(parser: argparse.ArgumentParser, *, default_port: int) -> None:
    """``--config.file``, ``--web.listen-address``, ``--log.level``, ``--log.format``."""
    parser.add_argument(
        "--config.file",
        dest="config_file",
        metavar="FILE",
        help="YAML config file (default: the embedded example config)",
    )
    parser.add_argument(
        "--config.check",
        dest="config_check",
        action="store_true",
        help="validate the config file, print the result and exit (0 = valid)",
    )
    parser.add_argument(
        "--web.listen-address",
        dest="listen_address",
        metavar="HOST:PORT",
        default=f":{default_port}",
        help=f"address to listen on (default :{default_port}, all interfaces)",
    )
    parser.add_argument(
        "--log.level", dest="log_level", choices=LEVELS, default="info", help="default info"
    )
    parser.add_argument(
        "--log.format",
        dest="log_format",
        choices=("logfmt", "json"),
        default="logfmt",
        help="default logfmt",
    )


def parse_listen_address(text: str) -> tuple[str, int]:
    """``:9116`` → ``("0.0.0.0", 9116)``; ``[::1]:9116`` → ``("::1", 9116)``.

    >>> parse_listen_address("127.0.0.1:0")
    ('127.0.0.1', 0)
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--web.listen-address must be HOST:PORT or :PORT, not {text!r}")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def config_check(load: Callable[[str | None], object], path: str | None, kind: str) -> int:
    """``--config.check``: validate with ``load``, say so, and return the exit status."""
    try:
        load(path)
    except ConfigError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"SUCCESS: {path or '<embedded>'} is a valid {kind} config")
    return 0
