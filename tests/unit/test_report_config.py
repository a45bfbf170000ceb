"""The report config: SLO targets and maintenance windows, every error at once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from twinlens.report.config import DEFAULT_SLO, load_config
from twinlens.report.errors import ReportError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sla.yml"
    path.write_text(text)
    return path


def test_full_config(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
slo:
  default: 99.5
  checks: {homepage: 99.95}
maintenance:
  - name: Database upgrade
    start: 2026-11-14T02:00:00Z
    end: "2026-11-14T04:30:00+01:00"
    checks: [homepage]
  - start: 2026-11-01T03:00:00Z
    duration: 1h
    every: 1w
""",
        )
    )
    assert config.slo.target("homepage") == 99.95
    assert config.slo.target("api") == 99.5
    db, weekly = config.maintenance
    assert (db.name, db.length, db.checks) == ("Database upgrade", 5400.0, ["homepage"])
    assert db.start == datetime(2026, 11, 14, 2, tzinfo=UTC)
    assert (weekly.name, weekly.length, weekly.every, weekly.checks) == (
        "maintenance",
        3600.0,
        7 * 86400,
        [],
    )


def test_defaults_and_slo_flag(tmp_path: Path) -> None:
    assert load_config(None).slo.target("x") == DEFAULT_SLO
    assert load_config(None, 99.0).slo.target("x") == 99.0
    assert load_config(write(tmp_path, "")).maintenance == []
    overridden = load_config(write(tmp_path, "slo: {checks: {a: 98}}"), 99.0)
    assert (overridden.slo.target("a"), overridden.slo.target("b")) == (98.0, 99.0)
    with pytest.raises(ReportError, match="--slo: an SLO target is a percentage between 0 and 100"):
        load_config(None, 100.0)


def test_every_error_is_reported_at_once_with_its_path_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """slo:
  default: 120
  checks: {a: 99.5, b: 0}
maintenance:
  - start: 2026-11-14T02:00:00
    end: 2026-11-14T03:00:00Z
  - start: 2026-11-14T02:00:00Z
    duration: 1h
    every: 30m
  - start: 2026-11-14T02:00:00Z
    end: 2026-11-14T01:00:00Z
  - start: 2026-11-14T02:00:00Z
  - start: 2026-11-14T02:00:00Z
    duration: 1h
    until: 2027-01-01
""",
    )
    with pytest.raises(ReportError) as exc:
        load_config(path)
    assert str(exc.value).splitlines() == [
        f"invalid report config: {path}: 7 errors:",
        "  - slo: default: an SLO target is a percentage between 0 and 100, not 120.0 (line 1)",
        "  - slo: checks.b: an SLO target is a percentage between 0 and 100, not 0.0 (line 1)",
        "  - maintenance[0]: start needs a time zone, as in 2026-11-14T02:00:00Z or "
        "2026-11-14T03:00:00+01:00 (line 5)",
        "  - maintenance[1]: every must be at least as long as the window (no overlaps) (line 7)",
        "  - maintenance[2]: a maintenance window must end after it starts (line 10)",
        "  - maintenance[3]: give exactly one of end and duration (line 12)",
        "  - maintenance[4].until: field until not found (known fields: checks, duration, end, "
        "every, name, start) (line 15)",
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="cannot read config file"):
        load_config(tmp_path / "missing.yml")
