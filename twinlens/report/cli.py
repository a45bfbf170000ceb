"""``twinlens report``: the monthly SLA figure, incidents, error budget and Web Vitals.

    twinlens report --prometheus http://prometheus:9090 --month 2026-11 \\
        --config.file sla.yml --format html --output sla-2026-11.html

Exit status 0 with the report written, 1 with an error on stderr and nothing written (an
existing ``--output`` file is left as it was).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from twinlens.report.collect import Options, build_report
from twinlens.report.config import DEFAULT_SLO, load_config
from twinlens.report.errors import ReportError
from twinlens.report.period import resolve_period
from twinlens.report.prom import Progress, Prometheus, default_progress_stream
from twinlens.report.render import FORMATS, render
from twinlens.report.uptime import GAP_POLICIES
from twinlens.runtime.config import parse_duration

__all__ = ["configure", "run", "write_output"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Build an SLA report from Prometheus: per check, uptime per location and overall "
        "(location quorum), incidents, latency percentiles, SLO and error budget, with "
        "maintenance windows left out; per RUM app and route, Core Web Vitals."
    )
    parser.add_argument(
        "--prometheus",
        metavar="URL",
        default="http://localhost:9090",
        help="Prometheus base URL (default http://localhost:9090)",
    )
    when = parser.add_argument_group("period (UTC; default: the previous calendar month)")
    when.add_argument("--month", metavar="YYYY-MM", help="a calendar month, e.g. 2026-11")
    when.add_argument(
        "--from",
        dest="from_",
        metavar="TIME",
        help="start, inclusive: 2026-11-01, 2026-11-01T06:00:00Z or Unix seconds",
    )
    when.add_argument("--to", metavar="TIME", help="end, exclusive (same forms as --from)")
    what = parser.add_argument_group("what to report")
    what.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="REGEX",
        help="only checks whose name matches (anchored, repeatable; default all)",
    )
    what.add_argument(
        "--app",
        action="append",
        default=[],
        metavar="REGEX",
        help="only RUM apps whose name matches (anchored, repeatable; default all)",
    )
    what.add_argument(
        "--synthetic",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="include synthetic checks (default yes)",
    )
    what.add_argument(
        "--rum",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="include real-user monitoring (default yes)",
    )
    how = parser.add_argument_group("how figures are computed")
    how.add_argument(
        "--config.file",
        dest="config_file",
        metavar="FILE",
        help="YAML with SLO targets and maintenance windows (see README)",
    )
    how.add_argument(
        "--slo",
        type=float,
        metavar="PERCENT",
        help=f"default SLO target for checks the config does not name (default {DEFAULT_SLO})",
    )
    how.add_argument(
        "--quorum",
        type=int,
        default=2,
        metavar="N",
        help="a check is down when failing from at least N locations (all, if fewer; default 2)",
    )
    how.add_argument(
        "--step",
        default="1m",
        metavar="DURATION",
        help="time resolution of uptime and incidents (default 1m)",
    )
    how.add_argument(
        "--gaps",
        choices=GAP_POLICIES,
        default="exclude",
        help="how time without data counts: left out (default), as downtime, or as uptime",
    )
    how.add_argument(
        "--top",
        type=int,
        default=5,
        metavar="N",
        help="how many slowest regions and device types to list (default 5)",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=FORMATS, default="md", help="default md")
    out.add_argument(
        "--output", "-o", metavar="FILE", help="write here instead of stdout (replaced atomically)"
    )
    out.add_argument("--title", help="report title (default: Service level report — <period>)")
    out.add_argument(
        "--timeout",
        default="2m",
        metavar="DURATION",
        help="deadline for each Prometheus request (default 2m)",
    )
    out.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )


def _duration(text: str, flag: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ReportError(f"{flag}: {exc}") from None


def write_output(text: str, path: str | None) -> None:
    """Write to stdout, or replace ``path`` atomically so a failed run loses nothing."""
    if path is None or path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    target = Path(path)
    if not target.parent.is_dir():
        raise ReportError(f"--output: directory {str(target.parent)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ReportError(f"--output: cannot write {path}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    try:
        if args.quorum < 1:
            raise ReportError("--quorum must be at least 1")
        if args.top < 0:
            raise ReportError("--top cannot be negative")
        if not args.synthetic and not args.rum:
            raise ReportError("--no-synthetic and --no-rum together leave nothing to report")
        step = _duration(args.step, "--step")
        timeout = _duration(args.timeout, "--timeout")
        if timeout <= 0:
            raise ReportError("--timeout must be positive")
        period, notes = resolve_period(
            month=args.month, from_=args.from_, to=args.to, step=step, now=datetime.now(UTC)
        )
        config = load_config(args.config_file, args.slo)
        progress = Progress(0, default_progress_stream(args.progress))
        prom = Prometheus(args.prometheus, timeout)
        options = Options(
            prometheus=prom.url,
            period=period,
            checks=list(args.check),
            apps=list(args.app),
            quorum=args.quorum,
            gaps=args.gaps,
            top=args.top,
            title=args.title,
            synthetic=args.synthetic,
            rum=args.rum,
        )
        report = build_report(prom, options, config, notes, progress=progress)
        write_output(render(report, args.format), args.output)
    except ReportError as exc:
        print(f"twinlens report: {exc}", file=sys.stderr)
        return 1
    return 0
