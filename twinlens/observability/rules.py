"""Prometheus recording and alerting rules, generated from a :class:`Spec`.

Recording rules hold the SLIs (synthetic uptime from the run counters, RUM good shares,
the backend API's error and slow-request ratios) over every burn-rate window; alerts read
those. Ratios are built from ``increase()`` of counters, never from ``rate()``: a ratio of
two increases is exact for whole counts, so the shipped promtool tests can put a value
exactly on a threshold and prove the alert fires there and not one count below.

    >>> groups = rule_groups(Spec())
    >>> [g["name"] for g in groups][:2]
    ['twinlens-synthetic-sli', 'twinlens-rum-sli']

Every alert carries ``severity`` (critical pages, warning is a ticket), ``summary``,
``description``, ``runbook_url`` (an anchor in ``docs/runbook.md``) and ``dashboard_url``
(a generated dashboard with its variables filled from the alert's labels).
"""

from __future__ import annotations

from dataclasses import dataclass

from twinlens.observability.spec import (
    API_METRIC,
    CORE_VITALS,
    SLO_WINDOWS,
    BurnRate,
    Spec,
    le_matcher,
    number,
)
from twinlens.runtime.config import parse_duration

__all__ = ["Alert", "alerts", "recording_name", "rule_groups"]

# Labels dropped when check series are aggregated: what varies per scrape target and the
# counter's own split. Everything else (job, check, the check's extra labels such as
# `team`) is kept, so alerts can be routed on it.
_PER_TARGET = "instance, result"
_PER_CHECK = "instance, location, result"


@dataclass(frozen=True)
class Alert:
    """One alerting rule, with the text its runbook entry is made from."""

    name: str
    group: str
    expr: str
    severity: str
    summary: str
    description: str
    dashboard: str  # uid of a generated dashboard
    dashboard_vars: tuple[tuple[str, str], ...]  # (dashboard variable, alert label)
    runbook: str  # markdown: what it means and what to do
    for_: str = "0s"
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def anchor(self) -> str:
        """The runbook heading's anchor (GitHub lower-cases headings)."""
        return self.name.lower()

    def annotations(self, spec: Spec) -> dict[str, str]:
        query = "&".join(
            f"var-{var}={{{{ $labels.{label} | urlquery }}}}" for var, label in self.dashboard_vars
        )
        url = f"{spec.grafana_url.rstrip('/')}/d/{self.dashboard}/{self.dashboard}"
        return {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": f"{spec.runbook_url}#{self.anchor}",
            "dashboard_url": f"{url}?{query}" if query else url,
        }

    def rule(self, spec: Spec) -> dict[str, object]:
        rule: dict[str, object] = {"alert": self.name, "expr": self.expr}
        if spec.seconds(self.for_) > 0:
            rule["for"] = spec.window(self.for_)
        rule["labels"] = {"severity": self.severity, **dict(self.labels)}
        rule["annotations"] = self.annotations(spec)
        return rule


def recording_name(sli: str, window: str) -> str:
    """Recorded series are named for the *production* window whatever ``time_scale`` is,
    so dashboards and alerts read the same names in tests and in production.

    >>> recording_name("check_errors", "1h")
    'twinlens:check_errors:ratio_rate1h'
    """
    return f"twinlens:{sli}:ratio_rate{window}"


# --- recording rules ---------------------------------------------------------------------


def _check_error_ratio(spec: Spec, window: str) -> str:
    w = spec.window(window)
    total = f"sum without ({_PER_CHECK}) (increase(twinlens_check_runs_total[{w}]))"
    failed = (
        f'sum without ({_PER_CHECK}) (increase(twinlens_check_runs_total{{result="failure"}}[{w}]))'
    )
    # `or 0 * total`: a check that never failed has no failure series; its ratio is 0.
    return f"(\n  {failed}\n  or 0 * {total}\n)\n/ {total}\n"


def _api_sums(spec: Spec, window: str, selector: str = "", suffix: str = "count") -> str:
    w = spec.window(window)
    return f"sum by (job, http_route) (increase({API_METRIC}_{suffix}{selector}[{w}]))"


def _api_error_ratio(spec: Spec, window: str) -> str:
    total = _api_sums(spec, window)
    errors = _api_sums(spec, window, '{http_response_status_code=~"5.."}')
    return f"(\n  {errors}\n  or 0 * {total}\n)\n/ {total}\n"


def _api_slow_ratio(spec: Spec, window: str) -> str:
    total = _api_sums(spec, window)
    fast = _api_sums(
        spec, window, "{" + le_matcher(spec.api_latency_threshold) + "}", suffix="bucket"
    )
    return f"(\n  {total}\n  - {fast}\n)\n/ {total}\n"


def _rum_rules(spec: Spec) -> list[dict[str, object]]:
    w = spec.window(spec.rum_window)
    rules: list[dict[str, object]] = []
    for by, metric_of, suffix in (
        ("app, route, device", lambda v: v.metric, ""),
        ("app, region, device", lambda v: v.geo_metric, "_by_geo"),
    ):
        for v in CORE_VITALS:
            metric = metric_of(v)
            good = f"sum by ({by}) (increase({metric}_bucket{{{le_matcher(v.good)}}}[{w}]))"
            count = f"sum by ({by}) (increase({metric}_count[{w}]))"
            labels = {"vital": v.key}
            rules.append(
                {
                    "record": recording_name(f"rum_good{suffix}", spec.rum_window),
                    "expr": f"{good}\n/ {count}\n",
                    "labels": labels,
                }
            )
            rules.append(
                {
                    "record": f"twinlens:rum_samples{suffix}:increase{spec.rum_window}",
                    "expr": count,
                    "labels": labels,
                }
            )
    return rules


def _recording_groups(spec: Spec) -> list[dict[str, object]]:
    return [
        {
            "name": "twinlens-synthetic-sli",
            "rules": [
                {"record": recording_name("check_errors", w), "expr": _check_error_ratio(spec, w)}
                for w in SLO_WINDOWS
            ],
        },
        {"name": "twinlens-rum-sli", "rules": _rum_rules(spec)},
        {
            "name": "twinlens-api-sli",
            "rules": [
                {
                    "record": recording_name("http_server_errors", w),
                    "expr": _api_error_ratio(spec, w),
                }
                for w in SLO_WINDOWS
            ]
            + [
                {"record": recording_name("http_server_slow", w), "expr": _api_slow_ratio(spec, w)}
                for w in SLO_WINDOWS
            ],
        },
    ]


# --- alerts ------------------------------------------------------------------------------


def _burn_alerts(
    spec: Spec,
    *,
    name: str,
    group: str,
    sli: str,
    budget: float,
    what: str,
    subject: str,
    dashboard: str,
    dashboard_vars: tuple[tuple[str, str], ...],
    runbook: str,
) -> list[Alert]:
    out = []
    period_days = parse_duration(spec.slo_period) / 86400
    tiers: list[tuple[tuple[BurnRate, ...], str, str]] = [
        (spec.page_burn, "critical", spec.page_for),
        (spec.ticket_burn, "warning", spec.ticket_for),
    ]
    for burns, severity, for_ in tiers:
        for burn in burns:
            threshold = number(burn.factor * budget)
            long_, short = recording_name(sli, burn.long), recording_name(sli, burn.short)
            out.append(
                Alert(
                    name=name,
                    group=group,
                    expr=f"{long_} >= {threshold}\nand {short} >= {threshold}\n",
                    severity=severity,
                    for_=for_,
                    labels=(("long_window", burn.long), ("short_window", burn.short)),
                    summary=f"{subject} burns its {what} error budget {number(burn.factor)}x "
                    f"too fast ({burn.long} and {burn.short} windows)",
                    description=(
                        f"{what.capitalize()} error ratio {{{{ $value | humanizePercentage }}}} "
                        f"over {spec.window(burn.long)} (and over {spec.window(burn.short)}) "
                        f"against a budget of {number(budget * 100)}%: at this pace the "
                        f"{spec.slo_period} budget is gone in "
                        f"{number(round(period_days / burn.factor, 1))} days."
                    ),
                    dashboard=dashboard,
                    dashboard_vars=dashboard_vars,
                    runbook=runbook,
                )
            )
    return out


def _synthetic_alerts(spec: Spec) -> list[Alert]:
    q = spec.down_quorum
    failing = 'count without (instance, location) (probe_success{check!=""} == 0)'
    needed = f'clamp_max(count without (instance, location) (probe_success{{check!=""}}), {q})'
    expiry = 'min without (instance, location) (probe_ssl_earliest_cert_expiry{check!=""})'
    warn_seconds = number(spec.tls_warning_days * 86400)
    check_vars = (("check", "check"),)
    alerts = _burn_alerts(
        spec,
        name="TwinlensCheckErrorBudgetBurn",
        group="twinlens-synthetic",
        sli="check_errors",
        budget=spec.check_error_budget,
        what="uptime",
        subject="Check {{ $labels.check }}",
        dashboard="twinlens-sla",
        dashboard_vars=check_vars,
        runbook=(
            "The check's failed runs (after retries, over all locations) eat the uptime "
            f"SLO ({number(spec.check_slo * 100)}% over {spec.slo_period}) faster than it "
            "can afford. `critical` (14.4x over 1h, 6x over 6h) pages: the budget goes in "
            "days. `warning` (3x over 1d, 1x over 3d) is a ticket: a slow leak.\n\n"
            "1. Open the synthetic dashboard for the check: which locations fail, and why "
            "(the failure-reason panel: `dns`, `connect`, `tls`, `timeout`, "
            "`http_status`, ...).\n"
            "2. Failing from every location means the service; from one location, the "
            "network path or that exporter.\n"
            "3. The SLA dashboard shows how much budget is left this month."
        ),
    )
    alerts += [
        Alert(
            name="TwinlensCheckDown",
            group="twinlens-synthetic",
            expr=f"{failing}\n>= {needed}\n",
            severity="critical",
            for_=spec.down_for,
            summary="Check {{ $labels.check }} is down from {{ $value | humanize }} locations",
            description=(
                "The last run of {{ $labels.check }} failed from {{ $value | humanize }} "
                f"locations (quorum {q}, or every location when fewer run it). Users "
                "cannot reach it, whether or not any are online."
            ),
            dashboard="twinlens-synthetic",
            dashboard_vars=check_vars,
            runbook=(
                f"Probes from at least {q} locations (or from all of them, when fewer run "
                "the check) fail: this is an outage, not a network blip at one site. It "
                "fires at 3am with no users online, which RUM cannot see.\n\n"
                "1. The synthetic dashboard's failure-reason and status-code panels say "
                "how it fails.\n"
                "2. `twinlens probe URL` reproduces one run from a shell.\n"
                "3. Check the service's own API dashboard (5xx ratio, latency)."
            ),
        ),
        Alert(
            name="TwinlensCheckDownSingleLocation",
            group="twinlens-synthetic",
            expr=(
                f'(probe_success{{check!=""}} == 0)\nand ignoring (instance, location)\n'
                f"(\n  {failing}\n  < {needed}\n)\n"
            ),
            severity="warning",
            for_=spec.down_for,
            summary="Check {{ $labels.check }} fails from {{ $labels.location }} only",
            description=(
                "The last run of {{ $labels.check }} from {{ $labels.location }} failed, "
                f"but fewer locations than the quorum ({q}) see it down."
            ),
            dashboard="twinlens-synthetic",
            dashboard_vars=(("check", "check"), ("location", "location")),
            runbook=(
                "One location (fewer than the quorum) sees the check fail. Often the "
                "network between that location and the service, a regional CDN edge, or "
                "DNS seen from there; sometimes the exporter's own host.\n\n"
                "1. Compare the phases panel (resolve / connect / tls) of that location "
                "with the others.\n"
                "2. If it persists, it is real for users near that location: check RUM by "
                "region."
            ),
        ),
        Alert(
            name="TwinlensCertificateExpiringSoon",
            group="twinlens-synthetic",
            expr=f"{expiry} - time() <= {warn_seconds}\nand {expiry} - time() > 0\n",
            severity="warning",
            summary="Certificate of {{ $labels.check }} expires in {{ $value | humanizeDuration }}",
            description=(
                "The earliest-expiring certificate in the chain served to check "
                "{{ $labels.check }} expires in {{ $value | humanizeDuration }} "
                f"(warning at {number(spec.tls_warning_days)} days)."
            ),
            dashboard="twinlens-synthetic",
            dashboard_vars=check_vars,
            runbook=(
                "A certificate in the served chain expires within "
                f"{number(spec.tls_warning_days)} days. Automated renewal (ACME) normally "
                "renews at 30 days left, so this means renewal is failing.\n\n"
                "1. The synthetic dashboard's TLS panel shows the expiry per location "
                "(different values mean some edges still serve an old certificate).\n"
                "2. Check the renewal job's logs; renew and deploy."
            ),
        ),
        Alert(
            name="TwinlensCertificateExpired",
            group="twinlens-synthetic",
            expr=f"{expiry} - time() <= 0\n",
            severity="critical",
            summary="Certificate of {{ $labels.check }} has expired",
            description=(
                "The certificate chain served to check {{ $labels.check }} contains an "
                "expired certificate: browsers refuse the site."
            ),
            dashboard="twinlens-synthetic",
            dashboard_vars=check_vars,
            runbook=(
                "A certificate in the served chain has expired; browsers show an error "
                "page. twinlens still reports the certificate facts when verification "
                "fails, so this alert keeps firing until a valid chain is served.\n\n"
                "1. Renew and deploy the certificate now.\n"
                "2. Then find out why the expiring-soon warning was missed."
            ),
        ),
        Alert(
            name="TwinlensCheckStale",
            group="twinlens-synthetic",
            expr=(
                "time() - twinlens_check_last_run_timestamp_seconds\n"
                f">= {number(spec.stale_intervals)} * twinlens_check_interval_seconds\n"
            ),
            severity="warning",
            summary="Check {{ $labels.check }} has not run from {{ $labels.location }} "
            "for {{ $value | humanizeDuration }}",
            description=(
                "No run of {{ $labels.check }} from {{ $labels.location }} for "
                "{{ $value | humanizeDuration }}, more than "
                f"{number(spec.stale_intervals)} intervals: the scheduler is stuck or "
                "overloaded, so this check's other alerts are blind."
            ),
            dashboard="twinlens-synthetic",
            dashboard_vars=(("check", "check"), ("location", "location")),
            runbook=(
                f"A check has not run for {number(spec.stale_intervals)} of its intervals. "
                "Its other alerts read stale data, so an outage would go unnoticed.\n\n"
                "1. `twinlens_check_skipped_total` rising means runs are skipped because "
                "the previous one is still going (timeout longer than the interval) or the "
                "concurrency cap is reached.\n"
                "2. Check the exporter's logs and its `/metrics` (self-metrics).\n"
                "3. If the whole exporter is down, Prometheus's `up` for its job is 0."
            ),
        ),
    ]
    return alerts


def _rum_alerts(spec: Spec) -> list[Alert]:
    share = number(spec.rum_good_share)
    pct = number(spec.rum_good_share * 100)
    floor = spec.rum_min_samples
    rw = spec.rum_window
    alerts = []
    for suffix, by_labels, where, vars_, name in (
        (
            "",
            "route {{ $labels.route }} on {{ $labels.device }}",
            "route",
            (("app", "app"), ("route", "route"), ("device", "device")),
            "TwinlensRUMGoodShareLow",
        ),
        (
            "_by_geo",
            "{{ $labels.device }} users in {{ $labels.region }}",
            "region",
            (("app", "app"), ("region", "region"), ("device", "device")),
            "TwinlensRUMRegionGoodShareLow",
        ),
    ):
        ratio = recording_name(f"rum_good{suffix}", rw)
        samples = f"twinlens:rum_samples{suffix}:increase{rw}"
        alerts.append(
            Alert(
                name=name,
                group="twinlens-rum",
                expr=f"{ratio} < {share}\nand {samples} >= {floor}\n",
                severity="warning",
                for_=spec.rum_for,
                summary=(
                    "Only {{ $value | humanizePercentage }} of {{ $labels.vital }} samples "
                    f"are good for {by_labels}"
                ),
                description=(
                    "In {{ $labels.app }}, {{ $value | humanizePercentage }} of "
                    f"{{{{ $labels.vital }}}} samples from {by_labels} were good over the "
                    f"last {spec.window(rw)} (target: at least {pct}%)."
                ),
                dashboard="twinlens-rum",
                dashboard_vars=vars_,
                runbook=(
                    f"Fewer than {pct}% of real users' {', '.join(v.title for v in CORE_VITALS)}"
                    f" samples are 'good' (Web Vitals thresholds) for one {where} and device "
                    f"class, with at least {floor} samples in {rw} so that a handful of "
                    "slow visits cannot fire it. Synthetic probes may be green: they run "
                    "from a datacenter on a fast network.\n\n"
                    "1. The RUM dashboard, filtered as in the alert's link, shows p75 and "
                    "the good / needs-improvement / poor split over time: a step means a "
                    "deploy, a slope means growth or a third party.\n"
                    "2. LCP: image weight, render-blocking resources, TTFB (the TTFB panel "
                    "tells if the server or the CDN is the slow part). INP: long tasks on "
                    "the main thread. CLS: images and ads without reserved size.\n"
                    "3. The 'fix this first' table ranks routes by slow views."
                ),
            )
        )
    week = spec.window("1w")
    tw = spec.window(spec.traffic_window)
    now = f"sum by (app) (increase(rum_beacons_total[{tw}]))"
    before = f"sum by (app) (increase(rum_beacons_total[{tw}] offset {week}))"
    alerts.append(
        Alert(
            name="TwinlensRUMTrafficDrop",
            group="twinlens-rum",
            expr=(
                f"(\n  {now}\n  or 0 * {before}\n)\n"
                f"<= {number(spec.traffic_drop_ratio)} * {before}\n"
                f"and {before} >= {spec.traffic_floor}\n"
            ),
            severity="warning",
            for_=spec.traffic_for,
            summary="RUM beacons from {{ $labels.app }} dropped to "
            "{{ $value | humanize }} in the last hour",
            description=(
                "{{ $labels.app }} sent {{ $value | humanize }} beacons in the last "
                f"{tw}, at most {number(spec.traffic_drop_ratio * 100)}% of the same "
                f"{tw} a week earlier (when it sent at least {spec.traffic_floor}): the "
                "SDK may be broken, blocked or not deployed."
            ),
            dashboard="twinlens-rum",
            dashboard_vars=(("app", "app"),),
            runbook=(
                f"Beacons from an app fell to {number(spec.traffic_drop_ratio * 100)}% or "
                "less of the same hour a week earlier. Comparing with the same hour keeps "
                "the daily and weekly rhythm out of it: 3am with no users is not an "
                f"incident, and an hour that had fewer than {spec.traffic_floor} beacons "
                "a week ago never fires. A gateway that is gone entirely counts as zero.\n\n"
                "1. `rum_beacons_rejected_total{reason}` rising: the gateway refuses them "
                "(origin not allowed after a domain change, body too large, rate limit).\n"
                "2. Nothing rejected: the SDK is not loading (CSP, ad blockers, a deploy "
                "that dropped the script tag) or the site itself lost its traffic; "
                "compare with the synthetic checks."
            ),
        )
    )
    aw = spec.window(spec.rum_api_window)
    calls = f"sum by (app, api_route) (increase(rum_api_request_duration_seconds_count[{aw}]))"
    failed = (
        "sum by (app, api_route) (increase(rum_api_request_duration_seconds_count"
        f'{{status_class=~"5xx|error"}}[{aw}]))'
    )
    alerts.append(
        Alert(
            name="TwinlensRUMAPIErrorRate",
            group="twinlens-rum",
            expr=(
                f"{failed}\n/ {calls}\n>= {number(spec.rum_api_error_ratio)}\n"
                f"and {calls} >= {spec.rum_api_min_calls}\n"
            ),
            severity="warning",
            for_=spec.rum_api_for,
            summary="Browsers see {{ $value | humanizePercentage }} of calls to "
            "{{ $labels.api_route }} fail",
            description=(
                "Pages of {{ $labels.app }} saw {{ $value | humanizePercentage }} of their "
                "calls to {{ $labels.api_route }} fail (5xx or network error) over the "
                f"last {aw} (threshold {number(spec.rum_api_error_ratio * 100)}%)."
            ),
            dashboard="twinlens-api",
            dashboard_vars=(("app", "app"), ("route", "api_route")),
            runbook=(
                "Browsers' API calls fail (HTTP 5xx, or `error`: the request never got an "
                "answer: DNS, TLS, CORS, connection reset, offline) at or above "
                f"{number(spec.rum_api_error_ratio * 100)}%, with at least "
                f"{spec.rum_api_min_calls} calls in the window. 4xx are the caller's "
                "mistakes and do not count.\n\n"
                "1. The API dashboard puts the server's own 5xx ratio for the route next "
                "to this: 5xx at the server too means the service; only in browsers "
                "means what lies between (CDN, proxy, CORS, network).\n"
                '2. `status_class="error"` alone often points to CORS or a certificate.'
            ),
        )
    )
    return alerts


def _api_alerts(spec: Spec) -> list[Alert]:
    subject = "Route {{ $labels.http_route }} of {{ $labels.job }}"
    vars_ = (("job", "job"), ("route", "http_route"))
    alerts = _burn_alerts(
        spec,
        name="TwinlensAPIErrorBudgetBurn",
        group="twinlens-api",
        sli="http_server_errors",
        budget=spec.api_error_budget,
        what="availability",
        subject=subject,
        dashboard="twinlens-api",
        dashboard_vars=vars_,
        runbook=(
            "The server answers this route with 5xx (from the OpenTelemetry "
            "`http.server.request.duration` metric) faster than the availability SLO "
            f"({number(spec.api_availability_slo * 100)}%) allows. 4xx do not count.\n\n"
            "1. The API dashboard: which status codes, since when; the browser-observed "
            "error ratio beside it shows what users got.\n"
            "2. Recent deploys, dependencies (database, upstream APIs) and saturation "
            "(`http_server_active_requests`)."
        ),
    )
    alerts += _burn_alerts(
        spec,
        name="TwinlensAPILatencyBudgetBurn",
        group="twinlens-api",
        sli="http_server_slow",
        budget=spec.api_latency_budget,
        what="latency",
        subject=subject,
        dashboard="twinlens-api",
        dashboard_vars=vars_,
        runbook=(
            "More requests to this route than the latency SLO allows take longer than "
            f"{number(spec.api_latency_threshold)}s at the server "
            f"({number(spec.api_latency_slo * 100)}% must be faster). The threshold sits "
            "on a bucket bound of the OTel histogram, so the share is exact.\n\n"
            "1. The API dashboard: p50 / p95 / p99 for the route, and the browser-side "
            "latency beside it (the gap is network and queueing that users pay on top).\n"
            "2. Saturation (`http_server_active_requests`), slow dependencies, a deploy."
        ),
    )
    return alerts


def alerts(spec: Spec) -> list[Alert]:
    """Every alerting rule, in the order they appear in the rules file."""
    return _synthetic_alerts(spec) + _rum_alerts(spec) + _api_alerts(spec)


def rule_groups(spec: Spec) -> list[dict[str, object]]:
    """The ``groups:`` of ``alerts/twinlens-rules.yml``: recording groups, then alerts."""
    groups = _recording_groups(spec)
    by_group: dict[str, list[dict[str, object]]] = {}
    for alert in alerts(spec):
        by_group.setdefault(alert.group, []).append(alert.rule(spec))
    groups += [{"name": name, "rules": rules} for name, rules in by_group.items()]
    return groups
