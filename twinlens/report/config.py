"""The report config file: SLO targets and maintenance windows.

Loaded with the runtime config walker, so every mistake is reported at once with its path
and line. Times need an explicit zone (``Z`` or ``+02:00``): a maintenance window is a
promise to customers and must not shift with the machine that prints the report.

.. code-block:: yaml

    slo:
      default: 99.9            # percent, for checks not listed below
      checks:
        homepage: 99.95
    maintenance:
      - name: Database upgrade
        start: 2026-11-14T02:00:00Z
        end: 2026-11-14T03:30:00Z
        checks: [homepage, api]  # optional; default: every check
      - name: Weekly patching
        start: 2026-11-01T03:00:00Z
        duration: 1h
        every: 1w                # optional: repeats from start
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import msgspec

from twinlens.report.errors import ReportError
from twinlens.runtime.config import ConfigError, Duration, decode, load_yaml

__all__ = ["DEFAULT_SLO", "MaintenanceWindow", "ReportConfig", "SLOConfig", "load_config"]

#: The SLO target, in percent, for checks the config does not name.
DEFAULT_SLO = 99.9


class _Base(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


def _check_target(value: float, where: str) -> None:
    if not 0 < value < 100:
        raise ValueError(f"{where}: an SLO target is a percentage between 0 and 100, not {value}")


class SLOConfig(_Base, frozen=True):
    """Targets in percent; ``checks`` maps a check name to its own target."""

    default: float = DEFAULT_SLO
    checks: dict[str, float] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        named = [(f"checks.{name}", value) for name, value in self.checks.items()]
        for where, value in [("default", self.default), *named]:
            try:
                _check_target(value, where)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("\n".join(problems))

    def target(self, check: str) -> float:
        return self.checks.get(check, self.default)


class MaintenanceWindow(_Base, frozen=True):
    """Time excluded from the SLA figure: one-off (``end`` or ``duration``) or repeating."""

    start: datetime
    name: str = "maintenance"
    end: datetime | None = None
    duration: Duration | None = None
    every: Duration | None = None
    checks: list[str] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        problems = []
        for field, value in (("start", self.start), ("end", self.end)):
            if value is not None and value.tzinfo is None:
                problems.append(
                    f"{field} needs a time zone, as in 2026-11-14T02:00:00Z or "
                    "2026-11-14T03:00:00+01:00"
                )
        if (self.end is None) == (self.duration is None):
            problems.append("give exactly one of end and duration")
        elif not problems and self.length <= 0:
            problems.append("a maintenance window must end after it starts")
        if self.every is not None and not problems:
            if self.every < 60:
                problems.append("every must be at least 1m")
            elif self.every < self.length:
                problems.append("every must be at least as long as the window (no overlaps)")
        if problems:
            raise ValueError("\n".join(problems))

    @property
    def length(self) -> float:
        """Seconds one occurrence lasts."""
        if self.duration is not None:
            return float(self.duration)
        assert self.end is not None
        return (self.end - self.start).total_seconds()

    def applies_to(self, check: str) -> bool:
        return not self.checks or check in self.checks


class ReportConfig(_Base, frozen=True):
    slo: SLOConfig = msgspec.field(default_factory=SLOConfig)
    maintenance: list[MaintenanceWindow] = msgspec.field(default_factory=list)


def read_config(path: str | Path) -> ReportConfig:
    """Decode a report config file; :class:`ConfigError` lists every problem (check-config)."""
    data, lines = load_yaml(path)
    try:
        return decode(data if data is not None else {}, ReportConfig, lines=lines)
    except ConfigError as exc:
        raise ConfigError(exc.errors, str(path)) from None


def load_config(path: str | Path | None, default_slo: float | None = None) -> ReportConfig:
    """Read ``--config.file`` (or defaults when None); ``default_slo`` is ``--slo``.

    Raises :class:`ReportError` with every problem in the file listed.
    """
    try:
        config = ReportConfig() if path is None else read_config(path)
    except ConfigError as exc:
        where = f"{path}: " if path is not None and exc.source is None else ""
        raise ReportError(f"invalid report config: {where}{exc}") from None
    if default_slo is not None:
        try:
            _check_target(default_slo, "--slo")
        except ValueError as exc:
            raise ReportError(str(exc)) from None
        config = msgspec.structs.replace(
            config, slo=msgspec.structs.replace(config.slo, default=default_slo)
        )
    return config
