"""The ``twinlens`` command: one entry point, a subcommand per job.

Subcommands are listed in :data:`COMMANDS` and imported only when chosen, so
``twinlens --help`` is instant and ``twinlens exporter`` never loads the gateway.
Each implementing module offers ``configure(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from twinlens import __version__

__all__ = ["COMMANDS", "main"]


class _Command(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...
    def run(self, args: argparse.Namespace) -> int: ...


# name -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "exporter": ("exporter.cli", "run the synthetic-monitoring exporter (/probe and checks)"),
    "probe": ("exporter.probe_cmd", "run one probe now and print a readable answer"),
    "check-config": ("twinlens.check_config", "validate exporter or gateway config files"),
    "generate": ("twinlens.observability.generate", "regenerate dashboards/ and alerts/ (--check)"),
    "grafana": ("twinlens.grafana_sync", "push dashboards and alert rules to Grafana's API"),
    "report": ("twinlens.report.cli", "SLA report from Prometheus: uptime, incidents, budget, RUM"),
    "gateway": ("rum_gateway.cli", "run the RUM gateway (beacons in, Prometheus metrics out)"),
    "demo": ("twinlens.demo.run", "run the whole system live on loopback (what `make run` runs)"),
}


def _build_parser(chosen: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twinlens",
        description="Synthetic and real-user monitoring for Prometheus, Grafana, Alertmanager.",
    )
    parser.add_argument("--version", action="version", version=f"twinlens {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            cast(_Command, importlib.import_module(module)).configure(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args_list if not a.startswith("-")), None)
    parser = _build_parser(chosen if chosen in COMMANDS else None)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    command = cast(_Command, importlib.import_module(COMMANDS[args.command][0]))
    try:
        return command.run(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
