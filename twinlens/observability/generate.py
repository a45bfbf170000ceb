"""``twinlens generate``: write (or ``--check``) every generated file from one :class:`Spec`.

    twinlens generate                    # regenerate dashboards/, alerts/, docs/runbook.md and
                                         # deploy/kubernetes/prometheus-operator/prometheusrule.yaml
    twinlens generate --check            # exit 1, listing files that differ from a fresh run
    twinlens generate --out /tmp/x --set time_scale=0.0166 --set down_quorum=1

``--set`` changes any scalar field of the spec (thresholds, SLO targets, windows, links);
``time_scale`` shrinks every window and ``for:`` together, which is how the end-to-end
test gets alerts in seconds from this same generator. promtool tests are only generated
at production scale (their series are laid out in production steps).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from twinlens.observability.dashboards import DASHBOARDS, build_dashboards
from twinlens.observability.render import HEADER, to_json, to_yaml
from twinlens.observability.rule_tests import promtool_tests
from twinlens.observability.rules import Alert, alerts, rule_groups
from twinlens.observability.spec import Spec, SpecError, number

__all__ = ["check", "configure", "generate_files", "run", "write"]

#: Where Grafana finds the dashboards when the provider below is used (a volume mount of
#: the repository's dashboards/ in deploy/).
GRAFANA_DASHBOARDS_PATH = "/var/lib/grafana/dashboards/twinlens"


def _provisioning(spec: Spec) -> dict[str, str]:
    providers = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "twinlens",
                "orgId": 1,
                "folder": "twinlens",
                "folderUid": spec.folder_uid,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": GRAFANA_DASHBOARDS_PATH, "foldersFromFilesStructure": False},
            }
        ],
    }
    datasources = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": spec.datasource_uid,
                "type": "prometheus",
                "access": "proxy",
                "url": "http://prometheus:9090",
                "isDefault": True,
                "editable": False,
                "jsonData": {"httpMethod": "POST", "timeInterval": "15s"},
            }
        ],
    }
    header = HEADER + "# Grafana provisioning: copy or mount into /etc/grafana/provisioning/.\n"
    return {
        "dashboards/provisioning/dashboards.yml": to_yaml(providers, header),
        "dashboards/provisioning/datasource.yml": to_yaml(datasources, header),
    }


def _alertmanager(spec: Spec) -> str:
    """An example routing tree: critical pages, warning opens a ticket, info is a digest."""
    config = {
        "route": {
            "receiver": "default",
            "group_by": ["alertname", "check", "app", "http_route"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {
                    "matchers": ['severity="critical"'],
                    "receiver": "pager",
                    "group_wait": "10s",
                    "repeat_interval": "1h",
                },
                {
                    "matchers": ['severity="warning"'],
                    "receiver": "tickets",
                    "repeat_interval": "12h",
                },
                {"matchers": ['severity="info"'], "receiver": "digest", "repeat_interval": "24h"},
            ],
        },
        # A page for a check silences the same check's tickets (one outage, one message).
        # `check=~".+"` on both sides: Alertmanager treats a label missing on both alerts
        # as equal, so without it any page would silence every RUM and API warning.
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"', 'check=~".+"'],
                "target_matchers": ['severity="warning"', 'check=~".+"'],
                "equal": ["check"],
            },
            {
                "source_matchers": ['alertname="TwinlensCheckDown"'],
                "target_matchers": ['alertname="TwinlensCheckErrorBudgetBurn"'],
                "equal": ["check"],
            },
        ],
        "receivers": [
            {"name": "default"},
            {
                "name": "pager",
                "webhook_configs": [
                    {"url": "http://pager.example.internal/alertmanager", "send_resolved": True}
                ],
            },
            {
                "name": "tickets",
                "webhook_configs": [
                    {"url": "http://tickets.example.internal/alertmanager", "send_resolved": True}
                ],
            },
            {
                "name": "digest",
                "webhook_configs": [
                    {"url": "http://digest.example.internal/alertmanager", "send_resolved": False}
                ],
            },
        ],
    }
    header = (
        HEADER + "# Example Alertmanager routing by severity; replace the receivers' URLs with\n"
        "# your pager / ticketing / chat integrations.\n"
    )
    return to_yaml(config, header)


def _runbook(spec: Spec) -> str:
    seen: dict[str, list[Alert]] = {}
    for alert in alerts(spec):
        seen.setdefault(alert.name, []).append(alert)
    lines = [
        "# twinlens runbook",
        "",
        "<!-- Generated by `twinlens generate` from twinlens/observability: do not edit. -->",
        "",
        "One section per alert; every alert's `runbook_url` points at its heading here and",
        "its `dashboard_url` opens the dashboard filtered to the alert's labels.",
        "Severities: `critical` pages someone now, `warning` is a ticket for working hours.",
        "",
        "| alert | severity | for |",
        "|---|---|---|",
    ]
    for name, group in seen.items():
        severities = ", ".join(sorted({a.severity for a in group}))
        fors = ", ".join(
            sorted({spec.window(a.for_) if spec.seconds(a.for_) else "0s" for a in group})
        )
        lines.append(f"| [{name}](#{group[0].anchor}) | {severities} | {fors} |")
    lines.append("")
    for name, group in seen.items():
        first = group[0]
        lines += [f"## {name}", "", first.runbook, ""]
        lines += ["```promql", first.expr.rstrip(), "```", ""]
        if len(group) > 1:
            lines.append("Rules under this name (one per window pair):")
            lines.append("")
            for a in group:
                extra = ", ".join(f"{k}={v}" for k, v in a.labels)
                lines.append(f"- `{a.severity}`: {extra}")
            lines.append("")
        lines.append(f"Dashboard: `{DASHBOARDS[first.dashboard]}` (uid `{first.dashboard}`).")
        lines.append("")
    lines += [
        "## Thresholds",
        "",
        "Every number above comes from `twinlens/observability/spec.py`; change it there and",
        "run `twinlens generate` (or `twinlens generate --set name=value`).",
        "",
        f"- uptime SLO {number(spec.check_slo * 100)}%, API availability SLO "
        f"{number(spec.api_availability_slo * 100)}%, API latency SLO "
        f"{number(spec.api_latency_slo * 100)}% under {number(spec.api_latency_threshold)}s, "
        f"over {spec.slo_period}",
        f"- probe-down quorum {spec.down_quorum} locations, for {spec.down_for}",
        f"- RUM good share {number(spec.rum_good_share * 100)}% with at least "
        f"{spec.rum_min_samples} samples per {spec.rum_window}",
        f"- RUM traffic drop to {number(spec.traffic_drop_ratio * 100)}% of the same hour a "
        f"week earlier, when that hour had at least {spec.traffic_floor} beacons",
        f"- browser-observed API error ratio {number(spec.rum_api_error_ratio * 100)}% with "
        f"at least {spec.rum_api_min_calls} calls per {spec.rum_api_window}",
        "",
    ]
    return "\n".join(lines)


def _prometheus_rule(groups: list[dict[str, object]]) -> str:
    """The same rule groups as a Prometheus Operator ``PrometheusRule``, for Kubernetes."""
    resource = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "twinlens", "labels": {"app.kubernetes.io/name": "twinlens"}},
        "spec": {"groups": groups},
    }
    return to_yaml(
        resource, HEADER + "# The rules of alerts/twinlens-rules.yml, for the Operator.\n"
    )


def generate_files(spec: Spec | None = None) -> dict[str, str]:
    """Relative path -> file content, for everything ``twinlens generate`` writes."""
    spec = spec or Spec()
    files = {f"dashboards/{uid}.json": to_json(d) for uid, d in build_dashboards(spec).items()}
    files.update(_provisioning(spec))
    groups = rule_groups(spec)
    files["alerts/twinlens-rules.yml"] = to_yaml({"groups": groups}, HEADER)
    files["deploy/kubernetes/prometheus-operator/prometheusrule.yaml"] = _prometheus_rule(groups)
    if spec.time_scale == 1:
        for name, doc in promtool_tests(spec).items():
            files[f"alerts/tests/{name}"] = to_yaml(doc, HEADER)
    files["alerts/alertmanager.yml"] = _alertmanager(spec)
    files["docs/runbook.md"] = _runbook(spec)
    return files


def write(files: dict[str, str], out: Path) -> list[str]:
    """Write files under ``out``; return the paths whose content changed."""
    changed = []
    for rel, text in files.items():
        path = out / rel
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        changed.append(rel)
    return changed


def check(files: dict[str, str], out: Path) -> list[str]:
    """The paths under ``out`` that are missing or differ from ``files``."""
    return [
        rel
        for rel, text in files.items()
        if not (out / rel).is_file() or (out / rel).read_text(encoding="utf-8") != text
    ]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", default=".", metavar="DIR", help="repository root to write into (default: .)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and list the files that differ from a fresh generation",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a spec field, e.g. --set check_slo=0.995 --set time_scale=0.0166",
    )


def run(args: argparse.Namespace) -> int:
    overrides = {}
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"error: --set expects NAME=VALUE, got {item!r}", file=sys.stderr)
            return 2
        overrides[key.strip()] = value.strip()
    try:
        spec = Spec().with_overrides(overrides)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files = generate_files(spec)
    out = Path(args.out)
    if args.check:
        stale = check(files, out)
        for rel in stale:
            print(f"differs: {rel}")
        if stale:
            print("run `twinlens generate` and commit the result", file=sys.stderr)
            return 1
        print(f"up to date: {len(files)} files")
        return 0
    changed = write(files, out)
    for rel in changed:
        print(f"wrote {rel}")
    print(f"{len(changed)} of {len(files)} files changed")
    return 0
