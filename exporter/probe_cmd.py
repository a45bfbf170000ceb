"""``twinlens probe URL``: one probe, now, answered in words — the thing typed at 3am.

    $ twinlens probe https://shop.example.com/
    FAILED  http_2xx  https://shop.example.com/  in 0.212s  reason: tls
      status       (none)
      phases       resolve 0.001s · connect 0.010s · tls 0.041s
      certificate  expired 3 days ago (2026-11-25 00:00 UTC) · not verified
      log          ... the probe's own log, last lines ...

Exit status: 0 when the probe succeeded, 1 when it failed, 2 for usage or config errors.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from exporter.config import Config, load_config
from exporter.probe import ProbeOutcome, run_probe
from twinlens.runtime.config import ConfigError, Duration

__all__ = ["configure", "format_outcome", "run"]

_PHASES = ("resolve", "connect", "tls", "processing", "transfer")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="URL (http prober) or host:port, name, address…")
    parser.add_argument(
        "--module", "-m", default=None, help="module from the config (default: http_2xx)"
    )
    parser.add_argument(
        "--config.file",
        dest="config_file",
        metavar="FILE",
        help="exporter config with the module (default: the embedded config)",
    )
    parser.add_argument(
        "--timeout",
        default="10s",
        help="give up after this long when the module sets no timeout (default 10s)",
    )
    parser.add_argument("--hostname", default="", help="Host header and TLS server name")
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="print the whole probe log and every metric"
    )


def _ts(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def _relative(seconds: float) -> str:
    days = abs(seconds) / 86400
    amount = f"{days:.0f} days" if days >= 2 else f"{abs(seconds) / 3600:.1f} hours"
    return f"in {amount}" if seconds >= 0 else f"{amount} ago"


def format_outcome(outcome: ProbeOutcome, *, verbose: bool = False) -> str:
    """A few aligned lines a person can read; every number comes from the probe's samples."""
    m = outcome.metrics
    verdict = "SUCCESS" if outcome.success else "FAILED "
    head = f"{verdict} {outcome.module}  {outcome.target}  in {outcome.duration:.3f}s"
    if outcome.reason:
        head += f"  reason: {outcome.reason}"
    lines = [head]
    status = m.get("probe_http_status_code")
    if status is not None:
        detail = f"{int(status)}" if status else "(no response)"
        version = m.get("probe_http_version")
        if version:
            detail += f"  HTTP/{version:g}"
        redirects = m.get("probe_http_redirects")
        if redirects:
            detail += f"  after {int(redirects)} redirect(s)"
        lines.append(f"  status       {detail}")
    phases = [
        f"{p} {v:.3f}s"
        for p in _PHASES
        if (v := m.get("probe_http_duration_seconds", phase=p)) is not None
    ]
    if phases:
        lines.append(f"  phases       {' · '.join(phases)}")
    expiry = m.get("probe_ssl_earliest_cert_expiry")
    if expiry is not None:
        left = expiry - time.time()
        cert = ("expires " if left >= 0 else "EXPIRED ") + f"{_relative(left)} ({_ts(expiry)})"
        verified = m.get("probe_tls_cert_verified")
        if verified is not None:
            cert += " · verified" if verified else " · NOT verified"
        lines.append(f"  certificate  {cert}")
    tls_version = next(
        (
            dict(labels).get("version")
            for name, labels, _ in m.samples()
            if name == "probe_tls_version_info"
        ),
        None,
    )
    if tls_version:
        lines.append(f"  tls          {tls_version}")
    log_lines = outcome.log.lines
    if verbose:
        lines.append("  log:")
        lines.extend(f"    {line}" for line in log_lines)
        lines.append("  metrics:")
        lines.extend(f"    {line}" for line in m.render().splitlines() if not line.startswith("#"))
    elif not outcome.success:
        lines.append("  log (last lines; --verbose for all):")
        lines.extend(f"    {line}" for line in log_lines[-6:])
    return "\n".join(lines) + "\n"


def _pick_module(config: Config, name: str | None) -> str:
    if name is not None:
        if name not in config.modules:
            known = ", ".join(sorted(config.modules)) or "(none)"
            raise ConfigError([f"unknown module {name!r}; the config has: {known}"])
        return name
    if "http_2xx" in config.modules:
        return "http_2xx"
    if len(config.modules) == 1:
        return next(iter(config.modules))
    raise ConfigError(["several modules in the config and no --module given"])


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from exporter.cli import run_async

    stream = out or sys.stdout
    try:
        config = load_config(args.config_file)
        module_name = _pick_module(config, args.module)
        fallback = Duration.parse(args.timeout)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    module = config.modules[module_name]
    module = module.with_hostname(args.hostname)
    timeout = float(module.timeout) or float(fallback)
    outcome = run_async(run_probe(module_name, module, args.target, timeout))
    stream.write(format_outcome(outcome, verbose=args.verbose))
    return 0 if outcome.success else 1
