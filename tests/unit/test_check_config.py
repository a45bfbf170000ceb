"""``twinlens check-config`` tells the three kinds of config apart and validates each."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from twinlens.check_config import check_file, run
from twinlens.runtime.config import ConfigError


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("modules: {http_2xx: {prober: http}}\n", "exporter"),
        ("apps: {shop: {origins: ['https://shop.example.com']}}\n", "gateway"),
        ("slo: {default: 99.9}\nmaintenance: []\n", "report"),
    ],
)
def test_kind_is_told_by_top_level_keys(tmp_path: Path, text: str, kind: str) -> None:
    path = tmp_path / "c.yml"
    path.write_text(text)
    assert check_file(str(path))[0] == kind


def test_every_file_is_checked_and_status_reflects_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.yml"
    good.write_text("slo: {default: 99.5}\n")
    bad = tmp_path / "bad.yml"
    bad.write_text("slo: {default: 250}\n")
    assert run(argparse.Namespace(files=[str(good), str(bad)], kind=None)) == 1
    out = capsys.readouterr()
    assert f"SUCCESS: {good} is a valid report config" in out.out
    assert "FAILED" in out.err and "slo" in out.err
    with pytest.raises(ConfigError):
        check_file(str(bad))
