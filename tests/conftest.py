"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.tools import in_ci

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` (peer test files, Grafana schemas); required under CI."""
    if not SHARED.is_dir():
        if in_ci():
            pytest.fail(f"CI=true and {SHARED} is missing")
        pytest.skip(f"{SHARED} not present")
    return SHARED
