"""``twinlens check-config FILE…``: validate configs without starting anything.

The kind of file is told by its top-level keys: ``apps:`` is a gateway config, ``slo:`` or
``maintenance:`` (and nothing else) a report config, anything else (``modules:``,
``checks:``) an exporter config. Exit status 0 when every file is valid.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from twinlens.runtime.config import ConfigError, load_yaml

__all__ = ["check_file", "configure", "run"]

#: kind -> "module:function" that validates a file of that kind (raising ConfigError)
LOADERS = {
    "exporter": "exporter.config:load_config",
    "gateway": "rum_gateway.config:load_config",
    "report": "twinlens.report.config:read_config",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="config files to validate")
    parser.add_argument(
        "--kind",
        choices=sorted(LOADERS),
        help="treat every file as this kind (default: tell from its top-level keys)",
    )


def _kind_of(data: Any) -> str:
    if isinstance(data, dict) and "apps" in data:
        return "gateway"
    if isinstance(data, dict) and data and set(data) <= {"slo", "maintenance"}:
        return "report"
    return "exporter"


def check_file(path: str, kind: str | None = None) -> tuple[str, Any]:
    """Validate one file; return its kind and decoded config, or raise ConfigError."""
    if kind is None:
        data, _ = load_yaml(path)
        kind = _kind_of(data)
    module, _, function = LOADERS[kind].partition(":")
    return kind, getattr(importlib.import_module(module), function)(path)


def run(args: argparse.Namespace) -> int:
    status = 0
    for path in args.files:
        try:
            kind, _ = check_file(path, args.kind)
        except ConfigError as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            status = 1
        else:
            print(f"SUCCESS: {path} is a valid {kind} config")
    return status
