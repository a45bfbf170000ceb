"""``twinlens grafana push``: the generated dashboards and alerts into a running Grafana.

    twinlens grafana push --url https://grafana.example.com --token "$GRAFANA_TOKEN" \\
        --datasource-url http://prometheus:9090 --dry-run

It creates or updates, through Grafana's HTTP API (grafana-client): the ``twinlens``
folder; optionally the Prometheus datasource (``--datasource-url``); the five dashboards;
and Grafana-managed versions of the alert rules (for teams that route alerts through
Grafana rather than Alertmanager). Every object has a fixed uid, and each is compared with
what Grafana holds before writing, so a second push writes nothing; ``--dry-run`` prints
the same plan and writes nothing at all.

Grafana-managed rules evaluate the same PromQL as ``alerts/twinlens-rules.yml``, so the
Prometheus behind the datasource must load that file's recording rules.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twinlens.observability import DASHBOARDS, Spec, SpecError, alerts, build_dashboards
from twinlens.observability.rules import Alert

__all__ = ["Change", "PushError", "configure", "grafana_rule", "plan_and_push", "run"]

#: Fields of a dashboard Grafana manages itself; ignored when comparing.
_VOLATILE = ("id", "version")


class PushError(Exception):
    """Grafana refused or could not be reached; the message says which and why."""


@dataclass(frozen=True)
class Change:
    kind: str  # folder, datasource, dashboard, alert-rule
    uid: str
    action: str  # create, update, unchanged

    def __str__(self) -> str:
        return f"{self.action:9} {self.kind} {self.uid}"


def _rule_title(alert: Alert) -> str:
    """Grafana wants titles unique per folder; burn-rate pairs share an alert name."""
    windows = dict(alert.labels)
    if "long_window" in windows:
        return f"{alert.name} {windows['long_window']}/{windows['short_window']}"
    return alert.name


def _rule_uid(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    if len(slug) <= 40:
        return slug
    return f"{slug[:31]}-{hashlib.sha1(title.encode()).hexdigest()[:8]}"


def grafana_rule(alert: Alert, spec: Spec) -> dict[str, Any]:
    """A Grafana-managed alert rule (provisioning API shape) equivalent to ``alert``.

    Query A is the Prometheus alert expression, which returns only the series that are
    alerting; B (``$A == $A``: 1 for every series A returned) is the condition.
    """
    ds = spec.datasource_uid
    annotations = {
        k: v.replace("$value", "$values.A.Value") for k, v in alert.annotations(spec).items()
    }
    return {
        "uid": _rule_uid(_rule_title(alert)),
        "title": _rule_title(alert),
        "orgID": 1,
        "folderUID": spec.folder_uid,
        "ruleGroup": alert.group,
        "condition": "B",
        "data": [
            {
                "refId": "A",
                "datasourceUid": ds,
                "relativeTimeRange": {"from": 600, "to": 0},
                "model": {
                    "refId": "A",
                    "datasource": {"type": "prometheus", "uid": ds},
                    "expr": alert.expr,
                    "instant": True,
                    "range": False,
                },
            },
            {
                "refId": "B",
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "B",
                    "datasource": {"type": "__expr__", "uid": "__expr__"},
                    "type": "math",
                    "expression": "$A == $A",
                },
            },
        ],
        "noDataState": "OK",
        "execErrState": "Error",
        "for": spec.window(alert.for_) if spec.seconds(alert.for_) else "0s",
        "labels": {"severity": alert.severity, **dict(alert.labels)},
        "annotations": annotations,
        "isPaused": False,
    }


def _datasource(spec: Spec, url: str) -> dict[str, Any]:
    return {
        "uid": spec.datasource_uid,
        "name": "twinlens Prometheus",
        "type": "prometheus",
        "access": "proxy",
        "url": url,
        "isDefault": False,
        "jsonData": {"httpMethod": "POST", "timeInterval": "15s"},
    }


def _differs(want: dict[str, Any], have: dict[str, Any]) -> bool:
    """True when a field we set has another value in Grafana (extra fields are Grafana's)."""
    return any(have.get(k) != v for k, v in want.items())


def _get_or_none(call: Callable[[], Any]) -> Any:
    from grafana_client.client import GrafanaClientError

    try:
        return call()
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise


def plan_and_push(
    api: Any,
    spec: Spec,
    *,
    datasource_url: str | None = None,
    dry_run: bool = False,
    with_alerts: bool = True,
    say: Callable[[str], None] = print,
) -> list[Change]:
    """Bring Grafana in line with the generated objects; return what was (or would be) done.

    ``api`` is a ``grafana_client.GrafanaApi``. Objects are handled in dependency order
    (folder, datasource, dashboards, rules) and each decision is reported through ``say``.
    """
    changes: list[Change] = []

    def record(kind: str, uid: str, action: str, write: Callable[[], Any]) -> None:
        change = Change(kind, uid, action)
        changes.append(change)
        say(f"{'would ' if dry_run and action != 'unchanged' else ''}{change}".rstrip())
        if action != "unchanged" and not dry_run:
            write()

    folder_uid = spec.folder_uid
    folder = _get_or_none(lambda: api.folder.get_folder(folder_uid))
    if folder is None:
        record(
            "folder",
            folder_uid,
            "create",
            lambda: api.folder.create_folder("twinlens", uid=folder_uid),
        )
    elif folder.get("title") != "twinlens":
        record(
            "folder",
            folder_uid,
            "update",
            lambda: api.folder.update_folder(folder_uid, title="twinlens", overwrite=True),
        )
    else:
        record("folder", folder_uid, "unchanged", lambda: None)

    if datasource_url:
        want = _datasource(spec, datasource_url)
        have = _get_or_none(lambda: api.datasource.get_datasource_by_uid(spec.datasource_uid))
        if have is None:
            record(
                "datasource", want["uid"], "create", lambda: api.datasource.create_datasource(want)
            )
        elif _differs(want, have):
            record(
                "datasource",
                want["uid"],
                "update",
                lambda: api.datasource.update_datasource_by_uid(want["uid"], want),
            )
        else:
            record("datasource", want["uid"], "unchanged", lambda: None)

    for uid, dashboard in build_dashboards(spec).items():
        have = _get_or_none(functools.partial(api.dashboard.get_dashboard, uid))
        action = "create"
        if have is not None:
            current = {k: v for k, v in have.get("dashboard", {}).items() if k not in _VOLATILE}
            wanted = {k: v for k, v in dashboard.items() if k not in _VOLATILE}
            same_folder = have.get("meta", {}).get("folderUid") == folder_uid
            action = "unchanged" if current == wanted and same_folder else "update"
        body = {
            "dashboard": {**dashboard, "id": None},
            "folderUid": folder_uid,
            "overwrite": True,
            "message": "twinlens grafana push",
        }
        record("dashboard", uid, action, functools.partial(api.dashboard.update_dashboard, body))

    if with_alerts:
        for alert in alerts(spec):
            rule = grafana_rule(alert, spec)
            have = _get_or_none(
                functools.partial(api.alertingprovisioning.get_alertrule, rule["uid"])
            )
            if have is None:
                record(
                    "alert-rule",
                    rule["uid"],
                    "create",
                    functools.partial(api.alertingprovisioning.create_alertrule, rule),
                )
            elif _differs(rule, have):
                record(
                    "alert-rule",
                    rule["uid"],
                    "update",
                    functools.partial(api.alertingprovisioning.update_alertrule, rule["uid"], rule),
                )
            else:
                record("alert-rule", rule["uid"], "unchanged", lambda: None)
    return changes


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["push"], help="push: create or update in Grafana")
    parser.add_argument("--url", required=True, help="Grafana base URL, e.g. https://grafana:3000")
    parser.add_argument(
        "--token",
        default=os.environ.get("GRAFANA_TOKEN"),
        help="service-account token (default: $GRAFANA_TOKEN)",
    )
    parser.add_argument(
        "--datasource-url",
        metavar="URL",
        help="also create/update a Prometheus datasource pointing here (uid twinlens-prometheus)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument("--no-alerts", action="store_true", help="skip Grafana-managed alert rules")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per HTTP request (default 10)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a spec field, as in `twinlens generate`",
    )


def run(args: argparse.Namespace) -> int:
    from grafana_client import GrafanaApi
    from grafana_client.client import GrafanaException

    if not args.token:
        print("error: --token (or $GRAFANA_TOKEN) is required", file=sys.stderr)
        return 2
    bad = [item for item in args.overrides if "=" not in item]
    if bad:
        print(f"error: --set expects NAME=VALUE, got {bad[0]!r}", file=sys.stderr)
        return 2
    try:
        spec = Spec().with_overrides(dict(item.split("=", 1) for item in args.overrides))
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    api = GrafanaApi.from_url(args.url, credential=args.token, timeout=args.timeout)
    try:
        changes = plan_and_push(
            api,
            spec,
            datasource_url=args.datasource_url,
            dry_run=args.dry_run,
            with_alerts=not args.no_alerts,
        )
    except GrafanaException as exc:
        reason = "the token was refused" if exc.status_code == 401 else exc.message
        print(f"error: Grafana at {args.url}: {reason}", file=sys.stderr)
        return 1
    except OSError as exc:  # connection refused, DNS, TLS, timeout (niquests raises OSErrors)
        print(f"error: cannot reach Grafana at {args.url}: {exc}", file=sys.stderr)
        return 1
    counts = {a: sum(c.action == a for c in changes) for a in ("create", "update", "unchanged")}
    verb = "would change" if args.dry_run else "changed"
    print(
        f"{verb}: {counts['create']} created, {counts['update']} updated, "
        f"{counts['unchanged']} unchanged ({len(DASHBOARDS)} dashboards)"
    )
    return 0
