"""The reporting period from --month / --from / --to (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from twinlens.report.errors import ReportError
from twinlens.report.period import MAX_STEPS, parse_time, resolve_period

NOW = datetime(2026, 11, 28, 1, 3, 5, tzinfo=UTC)


def resolve(**kw: object) -> tuple[str, str, int, list[str]]:
    args: dict = {"month": None, "from_": None, "to": None, "step": 60.0, "now": NOW}
    args.update(kw)
    period, notes = resolve_period(**args)
    return period.start.isoformat(), period.end.isoformat(), period.n, notes


def test_month_is_the_calendar_month_in_utc() -> None:
    assert resolve(month="2026-10") == (
        "2026-10-01T00:00:00+00:00",
        "2026-11-01T00:00:00+00:00",
        31 * 1440,
        [],
    )
    assert resolve(month="2025-12")[:2] == (
        "2025-12-01T00:00:00+00:00",
        "2026-01-01T00:00:00+00:00",
    )


def test_default_is_the_previous_month() -> None:
    assert resolve()[:2] == ("2026-10-01T00:00:00+00:00", "2026-11-01T00:00:00+00:00")


def test_a_period_reaching_into_the_future_is_cut_at_the_last_whole_step() -> None:
    start, end, n, notes = resolve(month="2026-11")
    assert (start, end) == ("2026-11-01T00:00:00+00:00", "2026-11-28T01:03:00+00:00")
    assert n == 27 * 1440 + 63
    assert notes == [
        "The period ends in the future; this report covers it up to 2026-11-28 01:03 UTC."
    ]


def test_from_to_forms() -> None:
    assert resolve(from_="2026-11-01", to="2026-11-01T06:00:00+02:00")[:3] == (
        "2026-11-01T00:00:00+00:00",
        "2026-11-01T04:00:00+00:00",
        240,
    )
    assert parse_time("1793491200").isoformat() == "2026-11-01T00:00:00+00:00"
    assert parse_time("2026-11-01T06:00").isoformat() == "2026-11-01T06:00:00+00:00"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"month": "2026-13"}, "--month must be YYYY-MM (for example 2026-11), not '2026-13'"),
        ({"month": "Nov"}, "--month must be YYYY-MM"),
        ({"month": "2026-10", "from_": "2026-10-01"}, "use either --month or --from/--to"),
        ({"from_": "2026-10-01"}, "--from and --to go together"),
        ({"from_": "yesterday", "to": "2026-10-02"}, "not a time: 'yesterday'"),
        ({"from_": "2026-10-02", "to": "2026-10-01"}, "the period is empty"),
        (
            {"from_": "2026-10-01T00:00:00Z", "to": "2026-10-01T00:10:30Z"},
            "the period (10m30s) is not a whole number of --step (1m)",
        ),
        ({"month": "2026-10", "step": 0.5}, "--step must be at least 1s"),
        ({"month": "2026-12"}, "not yet one step in the past"),
        (
            {"from_": "2020-01-01", "to": "2026-01-01"},
            f"more than {MAX_STEPS}; use a larger --step",
        ),
    ],
)
def test_bad_periods_say_what_to_do(kw: dict, message: str) -> None:
    with pytest.raises(ReportError) as exc:
        resolve(**kw)
    assert message in str(exc.value)
