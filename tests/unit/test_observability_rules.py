"""Alert rules: required labels and annotations, runbook anchors, promtool coverage, and the
Go template functions the expected annotations are rendered with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from twinlens.observability import Spec, alerts, rule_groups
from twinlens.observability.rule_tests import covered_alerts, promtool_tests, render_template
from twinlens.observability.spec import le_matcher, number

ROOT = Path(__file__).resolve().parents[2]


def test_every_alert_fires_and_stays_silent_in_promtool_tests() -> None:
    coverage = covered_alerts(promtool_tests(Spec()))
    names = {a.name for a in alerts(Spec())}
    assert set(coverage) == names
    assert {n: c for n, c in coverage.items() if c[0] < 1 or c[1] < 1} == {}


def test_every_burn_pair_is_tested_at_its_boundary() -> None:
    files = promtool_tests(Spec())
    names = [t["name"] for doc in files.values() for t in doc["tests"]]
    for alert in (
        "TwinlensCheckErrorBudgetBurn",
        "TwinlensAPIErrorBudgetBurn",
        "TwinlensAPILatencyBudgetBurn",
    ):
        for pair in (
            "14.4x budget over 1h/5m",
            "6x budget over 6h/30m",
            "3x budget over 1d/2h",
            "1x budget over 3d/6h",
        ):
            assert any(n.startswith(f"{alert} fires at {pair}") for n in names), (alert, pair)
            assert any(n.startswith(f"{alert} is silent one below {pair}") for n in names), (
                alert,
                pair,
            )


def test_alerts_carry_severity_and_annotations() -> None:
    runbook = (ROOT / "docs/runbook.md").read_text()
    headings = set(re.findall(r"^## (\S+)$", runbook, re.M))
    for group in rule_groups(Spec()):
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            assert rule["labels"]["severity"] in ("critical", "warning", "info")
            assert set(rule["annotations"]) == {
                "summary",
                "description",
                "runbook_url",
                "dashboard_url",
            }
            anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
            assert anchor == rule["alert"].lower() and rule["alert"] in headings


def test_rules_file_has_the_required_alerts() -> None:
    doc = yaml.safe_load((ROOT / "alerts/twinlens-rules.yml").read_text())
    names = {r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r}
    assert names == {
        "TwinlensCheckErrorBudgetBurn",
        "TwinlensCheckDown",
        "TwinlensCheckDownSingleLocation",
        "TwinlensCertificateExpiringSoon",
        "TwinlensCertificateExpired",
        "TwinlensCheckStale",
        "TwinlensRUMGoodShareLow",
        "TwinlensRUMRegionGoodShareLow",
        "TwinlensRUMTrafficDrop",
        "TwinlensRUMAPIErrorRate",
        "TwinlensAPIErrorBudgetBurn",
        "TwinlensAPILatencyBudgetBurn",
    }
    burn = [
        r
        for g in doc["groups"]
        for r in g["rules"]
        if r.get("alert") == "TwinlensCheckErrorBudgetBurn"
    ]
    assert [
        (
            r["labels"]["severity"],
            r["labels"]["long_window"],
            r["labels"]["short_window"],
            r.get("for"),
        )
        for r in burn
    ] == [
        ("critical", "1h", "5m", "2m"),
        ("critical", "6h", "30m", "2m"),
        ("warning", "1d", "2h", "15m"),
        ("warning", "3d", "6h", "15m"),
    ]
    assert (
        burn[0]["expr"] == "twinlens:check_errors:ratio_rate1h >= 0.0144\n"
        "and twinlens:check_errors:ratio_rate5m >= 0.0144\n"
    )


# Outputs of Prometheus's own template functions (Go), for the values our alerts show.
@pytest.mark.parametrize(
    ("template", "value", "expected"),
    [
        ("{{ $value | humanizePercentage }}", 0.0144, "1.44%"),
        ("{{ $value | humanizePercentage }}", 0.74975, "74.98%"),
        ("{{ $value | humanizePercentage }}", 0.123456, "12.35%"),
        ("{{ $value | humanize }}", 1234567.0, "1.235M"),
        ("{{ $value | humanize }}", 0.0012, "1.2m"),
        ("{{ $value | humanize }}", 2.0, "2"),
        ("{{ $value | humanize }}", 0.0, "0"),
        ("{{ $value | humanizeDuration }}", 90061.0, "1d 1h 1m 1s"),
        ("{{ $value | humanizeDuration }}", 1209600.0, "14d 0h 0m 0s"),
        ("{{ $value | humanizeDuration }}", 90.0, "1m 30s"),
        ("{{ $value | humanizeDuration }}", 1.5, "1.5s"),
        ("{{ $value | humanizeDuration }}", 0.25, "250ms"),
        ("{{ $value | humanizeDuration }}", 0.0, "0s"),
        ("{{ $labels.route | urlquery }}", 0, "%2Fproducts%2F%7Bid%7D"),
        ("{{ $labels.region | urlquery }}", 0, "South-eastern+Asia"),
    ],
)
def test_template_functions_match_prometheus(template: str, value: float, expected: str) -> None:
    labels = {"route": "/products/{id}", "region": "South-eastern Asia"}
    assert render_template(template, labels, value) == expected


def test_template_typos_fail_generation() -> None:
    with pytest.raises(KeyError, match=r"\$labels.chek"):
        render_template("{{ $labels.chek }}", {"check": "a"}, 0)
    with pytest.raises(ValueError, match="unknown template filter"):
        render_template("{{ $value | humanise }}", {}, 0)


def test_bucket_matchers_and_numbers() -> None:
    assert le_matcher(2.5) == 'le="2.5"'
    assert le_matcher(4.0) == 'le=~"4|4.0"'
    assert number(6 * (1 - 0.999)) == "0.006"
    assert number(100.0) == "100"
