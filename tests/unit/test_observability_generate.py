"""The generator: checked-in output equals a fresh generation; the CLI and spec guards."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from twinlens.observability import Spec, SpecError, generate_files
from twinlens.observability import generate as gen_mod

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    gen_mod.configure(parser)
    return gen_mod.run(parser.parse_args(list(argv)))


def test_checked_in_files_equal_a_fresh_generation() -> None:
    files = generate_files(Spec())
    stale = [rel for rel, text in files.items() if (ROOT / rel).read_text() != text]
    assert stale == [], f"run `twinlens generate`: {stale}"


def test_no_stray_generated_files() -> None:
    files = set(generate_files(Spec()))
    on_disk = {
        str(p.relative_to(ROOT))
        for pattern in ("dashboards/*.json", "dashboards/provisioning/*", "alerts/tests/*.yml")
        for p in ROOT.glob(pattern)
    }
    assert on_disk - files == set()


def test_check_flags_a_hand_edit_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run("--out", str(tmp_path)) == 0
    rules = tmp_path / "alerts/twinlens-rules.yml"
    rules.write_text(rules.read_text().replace(">= 0.0144", ">= 0.02", 1))
    capsys.readouterr()
    assert _run("--out", str(tmp_path), "--check") == 1
    assert capsys.readouterr().out.splitlines() == ["differs: alerts/twinlens-rules.yml"]
    assert ">= 0.02" in rules.read_text()  # --check never writes
    assert _run("--out", str(tmp_path)) == 0
    assert _run("--out", str(tmp_path), "--check") == 0


def test_set_changes_thresholds_everywhere(tmp_path: Path) -> None:
    assert _run("--out", str(tmp_path), "--set", "down_quorum=3", "--set", "check_slo=0.995") == 0
    rules = (tmp_path / "alerts/twinlens-rules.yml").read_text()
    assert 'probe_success{check!=""}), 3)' in rules
    # 14.4 x (1 - 0.995), without binary noise
    assert "twinlens:check_errors:ratio_rate1h >= 0.072\n" in rules
    assert "probe-down quorum 3 locations" in (tmp_path / "docs/runbook.md").read_text()


def test_bad_settings_are_all_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = _run(
        "--out",
        str(tmp_path),
        "--set",
        "check_slo=1.5",
        "--set",
        "nope=1",
        "--set",
        "down_quorum=x",
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown setting 'nope'" in err
    assert "down_quorum: expected a int, got 'x'" in err
    assert not list(tmp_path.iterdir())
    with pytest.raises(SpecError) as exc:
        Spec(check_slo=1.5, down_quorum=0, api_latency_threshold=0.3)
    message = str(exc.value)
    assert "check_slo must be between 0 and 1" in message
    assert "down_quorum must be at least 1" in message
    assert "api_latency_threshold must be an OTel bucket bound" in message


def test_time_scale_shrinks_every_window_and_for() -> None:
    fast = generate_files(Spec(time_scale=1 / 60))
    rules = fast["alerts/twinlens-rules.yml"]
    assert "increase(twinlens_check_runs_total[1m]))" in rules  # the 1h window
    assert "increase(twinlens_check_runs_total[1h12m]))" in rules  # the 3d window
    assert "increase(rum_beacons_total[1m] offset 2h48m))" in rules  # 1h, a week ago
    assert "[1h]" not in rules
    assert "    for: 1s\n" in rules  # probe down: 1m
    # recorded names keep the production window, so dashboards read the same series
    assert "record: twinlens:check_errors:ratio_rate1h\n" in rules
    assert not any(path.startswith("alerts/tests/") for path in fast)
