"""Uptime, quorum, gaps, incidents and error budget on the step grid (pure)."""

from __future__ import annotations

import pytest

from twinlens.report.uptime import (
    DOWN,
    MAINTENANCE,
    NO_DATA,
    UP,
    check_status,
    error_budget,
    location_states,
    runs_of,
    spans,
)


def states(text: str) -> bytearray:
    return bytearray(text.encode())


@pytest.mark.parametrize(
    ("success", "failure", "present", "expected"),
    [
        # one run a step: failing exactly where the run failed
        ([1, 0, 1], [0, 1, 0], [1, 1, 1], "UFU"),
        # half failed counts as failing; a minority of failures does not
        ([1, 2, 3], [1, 1, 1], [1, 1, 1], "FUU"),
        # a check every 3 steps keeps its state between runs, as probe_success does
        ([0, 0, 0, 1, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1], "FFFUU"),
        # no sample in a step is no data, whatever the state before; the state resumes after
        ([0, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 1], "FNNF"),
        # before the first run in the period a location counts as up
        ([0, 0, 1], [0, 0, 0], [1, 1, 1], "UUU"),
    ],
)
def test_location_states(
    success: list[float], failure: list[float], present: list[int], expected: str
) -> None:
    assert location_states(success, failure, present).decode() == expected


@pytest.mark.parametrize(
    ("locations", "quorum", "expected"),
    [
        # two of three failing reach the default quorum; one does not
        (["FFU", "FUU", "UUU"], 2, "DUU"),
        # a single location check: quorum is capped at the number of locations
        (["FUF"], 2, "DUD"),
        # quorum 1: any failing location is an outage
        (["UFU", "UUU"], 1, "UDU"),
        # silent locations: up only if even all of them failing could not make the quorum
        (["UNN", "UUN", "UUN"], 2, "UUN"),
        (["FNU", "UNU", "UUU"], 2, "UNU"),
        (["FNU", "FNU", "NUU"], 2, "DNU"),
    ],
)
def test_quorum_and_gaps(locations: list[str], quorum: int, expected: str) -> None:
    result = check_status([states(s) for s in locations], bytearray(3), quorum, "exclude")
    assert result.decode() == expected


@pytest.mark.parametrize(("gaps", "expected"), [("exclude", "NDN"), ("down", "DDD"), ("up", "UDU")])
def test_gap_policy(gaps: str, expected: str) -> None:
    locations = [states("NFN"), states("NFN")]
    assert check_status(locations, bytearray(3), 2, gaps).decode() == expected  # type: ignore[arg-type]


def test_maintenance_wins_over_everything() -> None:
    locations = [states("FFN"), states("FFN")]
    result = check_status(locations, bytearray([0, 1, 1]), 2, "down")
    assert result == bytearray([DOWN, MAINTENANCE, MAINTENANCE])


def test_no_locations_is_no_data() -> None:
    assert check_status([], bytearray([0, 1]), 2, "exclude") == bytearray([NO_DATA, MAINTENANCE])


def test_incidents_are_maximal_runs_of_down_steps() -> None:
    codes = bytearray(b"UDDUNDDDMD")
    assert runs_of(codes, DOWN) == [(1, 2), (5, 7), (9, 9)]
    assert spans(b"UUNM") == [(0, 1, UP), (2, 2, NO_DATA), (3, 3, MAINTENANCE)]


def test_error_budget_left_and_overspent() -> None:
    ok = error_budget(99.5, measured_seconds=20_400, down_seconds=60)
    assert ok.allowed_down_seconds == pytest.approx(102)
    assert ok.left_seconds == pytest.approx(42)
    assert ok.left_ratio == pytest.approx(42 / 102)
    assert ok.met is True

    missed = error_budget(99.0, measured_seconds=16_800, down_seconds=780)
    assert missed.allowed_down_seconds == pytest.approx(168)
    assert missed.left_seconds == pytest.approx(-612)
    assert missed.left_ratio == pytest.approx(-612 / 168)
    assert missed.met is False


def test_error_budget_exactly_spent_is_met_and_nothing_measured_is_unknown() -> None:
    # 99.5% of 20400 s allows exactly 102 s: binary floating point must not miss it.
    assert error_budget(99.5, 20_400, 102).met is True
    assert error_budget(99.5, 20_400, 103).met is False
    empty = error_budget(99.9, 0, 0)
    assert empty.met is None
    assert empty.left_ratio is None
