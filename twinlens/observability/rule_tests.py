"""promtool unit tests for every alert: at its boundary it fires, one count short it does not.

The cases are generated so they follow the thresholds in :class:`Spec`, but the expected
outcome is computed here independently of the PromQL (exact fractions, see
:func:`_burn_cases`), and the expected annotations are rendered by a small Go-template
subset (:func:`render_template`) that must agree with what Prometheus renders. A test
that passes therefore shows the expressions, ``for:`` durations, labels and templates all
do what the spec says.

Counters grow by whole numbers per step so every ratio is a ratio of integers: exact in
floating point, so a value placed *on* a threshold is on it, not 1 ulp to either side.

    >>> render_template("{{ $labels.check | urlquery }} {{ $value | humanizePercentage }}",
    ...                 {"check": "a b/c"}, 0.0144)
    'a+b%2Fc 1.44%'
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from twinlens.observability.rules import Alert, alerts, rule_groups
from twinlens.observability.spec import API_METRIC, CORE_VITALS, BurnRate, Spec, number
from twinlens.runtime.config import parse_duration

__all__ = ["TestFile", "covered_alerts", "promtool_tests", "render_template"]

RULES_FILE = "../twinlens-rules.yml"  # relative to alerts/tests/


# --- the Go template subset used in our annotations ---------------------------------------

_ACTION = re.compile(r"\{\{\s*\$(labels\.(\w+)|value)\s*(?:\|\s*(\w+)\s*)?\}\}")


def _go_g(v: float) -> str:
    """Go's ``%.4g`` (C's, which Python's ``%`` follows for finite values)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return f"{v:.4g}"


def _humanize(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return _go_g(v)
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
    else:
        for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
            if abs(v) >= 1:
                break
            prefix, v = p, v * 1000
    return f"{_go_g(v)}{prefix}"


def _humanize_duration(v: float) -> str:
    if not math.isfinite(v):
        return _go_g(v)
    if v == 0:
        return f"{_go_g(v)}s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        d = int(abs(v))
        s, m, h, days = d % 60, (d // 60) % 60, (d // 3600) % 24, d // 86400
        if days:
            return f"{sign}{days}d {h}h {m}m {s}s"
        if h:
            return f"{sign}{h}h {m}m {s}s"
        if m:
            return f"{sign}{m}m {s}s"
        return f"{sign}{_go_g(abs(v))}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return f"{_go_g(v)}{prefix}s"


_FILTERS = {
    "humanize": _humanize,
    "humanizePercentage": lambda v: f"{_go_g(v * 100)}%",
    "humanizeDuration": _humanize_duration,
}


def render_template(template: str, labels: Mapping[str, str], value: float) -> str:
    """Render ``{{ $labels.x }}``, ``{{ $value }}`` with the filters our rules use.

    Anything else (an unknown filter, a label the alert does not carry) raises, so a
    typo in an annotation fails generation instead of rendering ``<no value>``.
    """

    def action(match: re.Match[str]) -> str:
        label, fn = match.group(2), match.group(3)
        if label is not None:
            if label not in labels:
                raise KeyError(f"template uses $labels.{label}, not on the alert: {template}")
            text = labels[label]
            if fn is None:
                return text
            if fn == "urlquery":
                return urllib.parse.quote_plus(text, safe="")
            raise ValueError(f"filter {fn!r} on a label is not supported: {template}")
        if fn is None:
            return _go_g(value) if not float(value).is_integer() else str(int(value))
        if fn not in _FILTERS:
            raise ValueError(f"unknown template filter {fn!r} in {template}")
        return _FILTERS[fn](value)

    out = _ACTION.sub(action, template)
    if "{{" in out:
        raise ValueError(f"unsupported template action left in {template!r}")
    return out


# --- series in promtool's expanding notation ------------------------------------------------


def counter(*segments: tuple[int, int], gone: int = 0) -> str:
    """A counter from 0 growing ``inc`` per step for ``steps`` steps, segment by segment;
    ``gone`` missing samples at the end (a target that vanished).

    >>> counter((3, 0), (2, 5))
    '0 0+0x2 5+5x1'
    """
    parts = ["0"]
    value = 0
    for steps, inc in segments:
        if steps <= 0:
            continue
        parts.append(f"{value + inc}+{inc}x{steps - 1}")
        value += steps * inc
    if gone:
        parts.append(f"_x{gone}")
    return " ".join(parts)


def gauge(value: float, steps: int) -> str:
    return f"{number(value)}+0x{steps}"


def series(name: str, **labels: str) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}"


# --- test cases -----------------------------------------------------------------------------


@dataclass
class Expect:
    labels: dict[str, str]  # the alert's output labels, before rule labels
    value: float
    rule_labels: dict[str, str] = field(default_factory=dict)  # picks one of same-named rules


@dataclass
class Case:
    comment: str
    series: list[tuple[str, str]]
    eval_steps: int
    checks: list[tuple[str, list[Expect]]]  # (alertname, expected firing alerts)


@dataclass
class TestFile:
    name: str
    interval: str  # between samples
    comment: str
    cases: list[Case]
    eval_interval: str = ""  # between rule evaluations; default: the sample interval


def _expected(spec: Spec, alertname: str, expects: Iterable[Expect]) -> list[dict[str, Any]]:
    rules = [a for a in alerts(spec) if a.name == alertname]
    out = []
    for e in expects:
        alert = _pick(rules, e.rule_labels)
        labels = {**e.labels, "severity": alert.severity, **dict(alert.labels)}
        rendered_labels = {**labels, "alertname": alertname}
        annotations = {
            k: render_template(v, rendered_labels, e.value)
            for k, v in alert.annotations(spec).items()
        }
        out.append({"exp_labels": labels, "exp_annotations": annotations})
    return out


def _pick(rules: list[Alert], rule_labels: Mapping[str, str]) -> Alert:
    chosen = [r for r in rules if all(dict(r.labels).get(k) == v for k, v in rule_labels.items())]
    if len(chosen) != 1:
        raise ValueError(f"{len(chosen)} rules match {dict(rule_labels)} in {rules[0].name}")
    return chosen[0]


def _steps(duration: str, interval: str) -> int:
    n = parse_duration(duration) / parse_duration(interval)
    if not float(n).is_integer():
        raise ValueError(f"{duration} is not a whole number of {interval} steps")
    return int(n)


# Burn-rate alerts: a constant error ratio on every window. At factor x budget exactly, the
# pair with that factor fires (with every pair of a lower factor); one failure fewer per
# step, it does not.


def _burn_pairs(spec: Spec) -> list[tuple[BurnRate, str]]:
    return [(b, spec.page_for) for b in spec.page_burn] + [
        (b, spec.ticket_for) for b in spec.ticket_burn
    ]


def _burn_cases(
    spec: Spec,
    burn: BurnRate,
    alertname: str,
    budget: float,
    make_series: Any,
    out_labels: dict[str, str],
) -> list[Case]:
    """Fire / stay silent at this pair's threshold. Samples and evaluations are one short
    window apart (windows are whole multiples of it), which keeps promtool fast."""
    pairs = _burn_pairs(spec)
    interval = burn.short
    for_ = dict(pairs)[burn]
    # Both windows fully covered, then `for:` (at least one more evaluation).
    for_steps = max(1, math.ceil(parse_duration(for_) / parse_duration(interval)))
    eval_steps = _steps(burn.long, interval) + for_steps
    threshold = Fraction(number(burn.factor * budget))
    per_step = max(threshold.denominator, 10_000)
    per_step += -per_step % threshold.denominator
    bad_at = int(threshold * per_step)
    cases = []
    for bad, verdict in ((bad_at, "fires at"), (bad_at - 1, "is silent one below")):
        ratio = Fraction(bad, per_step)
        # Other pairs fire too when the ratio is at or above theirs (never near it here,
        # so their partly covered windows do not matter), unless their short window is
        # below the sample interval and so has no data.
        firing = [
            Expect(dict(out_labels), float(ratio), {"long_window": b.long, "short_window": b.short})
            for b, _ in pairs
            if ratio >= Fraction(number(b.factor * budget))
            and parse_duration(b.short) >= parse_duration(interval)
        ]
        cases.append(
            Case(
                comment=(
                    f"{alertname} {verdict} {number(burn.factor)}x budget over "
                    f"{burn.long}/{burn.short}: {bad} bad of {per_step} per step"
                ),
                series=make_series(per_step, bad, eval_steps),
                eval_steps=eval_steps,
                checks=[(alertname, firing)],
            )
        )
    return cases


def _slo_files(spec: Spec) -> list[TestFile]:
    check = {"job": "twinlens", "check": "shop-api", "team": "web"}

    def check_series(total: int, bad: int, steps: int) -> list[tuple[str, str]]:
        out = []
        for location in ("eu-west", "ap-southeast"):
            labels = {**check, "instance": f"{location}:9116", "location": location}
            ok = series("twinlens_check_runs_total", **labels, result="success")
            failed = series("twinlens_check_runs_total", **labels, result="failure")
            out += [(ok, counter((steps, total - bad))), (failed, counter((steps, bad)))]
        return out

    api = {"job": "shop-api", "instance": "api-1:8000", "http_route": "/api/items/{id}"}

    def api_series(total: int, bad: int, steps: int) -> list[tuple[str, str]]:
        def count(code: str) -> str:
            return series(
                f"{API_METRIC}_count", **api, http_request_method="GET",
                http_response_status_code=code,
            )  # fmt: skip

        # 404s are the caller's mistake: they must not count against availability.
        return [
            (count("200"), counter((steps, total - bad - 100))),
            (count("404"), counter((steps, 100))),
            (count("503"), counter((steps, bad))),
        ]

    def latency_series(total: int, slow: int, steps: int) -> list[tuple[str, str]]:
        labels = {**api, "http_request_method": "GET", "http_response_status_code": "200"}
        le = number(spec.api_latency_threshold)
        le = f"{le}.0" if "." not in le else le  # as Python's client writes it
        return [
            (series(f"{API_METRIC}_bucket", **labels, le=le), counter((steps, total - slow))),
            (series(f"{API_METRIC}_bucket", **labels, le="+Inf"), counter((steps, total))),
            (series(f"{API_METRIC}_count", **labels), counter((steps, total))),
        ]

    api_out = {"job": "shop-api", "http_route": "/api/items/{id}"}
    files = []
    for burn, _ in _burn_pairs(spec):
        cases = (
            _burn_cases(
                spec, burn, "TwinlensCheckErrorBudgetBurn", spec.check_error_budget,
                check_series, check,
            )
            + _burn_cases(
                spec, burn, "TwinlensAPIErrorBudgetBurn", spec.api_error_budget,
                api_series, api_out,
            )
            + _burn_cases(
                spec, burn, "TwinlensAPILatencyBudgetBurn", spec.api_latency_budget,
                latency_series, api_out,
            )
        )  # fmt: skip
        files.append(
            TestFile(
                f"slo_{burn.long}.yml",
                burn.short,
                f"Burn-rate SLO alerts at the {number(burn.factor)}x {burn.long}/{burn.short} "
                "pair: synthetic uptime, API errors, API latency.",
                cases,
            )
        )
    return files


def _probe_file(spec: Spec) -> TestFile:
    steps = 5
    base = {"job": "twinlens", "check": "shop-api", "team": "web"}
    out = dict(base)

    def success(location: str, ok: bool) -> tuple[str, str]:
        labels = {**base, "instance": f"{location}:9116", "location": location}
        return series("probe_success", **labels), gauge(1 if ok else 0, steps)

    q = spec.down_quorum
    locations = [f"loc-{i}" for i in range(q + 1)]
    quorum_fails = [success(loc, i >= q) for i, loc in enumerate(locations)]
    below_fails = [success(loc, i >= q - 1) for i, loc in enumerate(locations)]
    cases = [
        Case(
            f"{q} of {q + 1} locations fail: the quorum is met, critical",
            quorum_fails,
            steps,
            [
                ("TwinlensCheckDown", [Expect(out, q)]),
                ("TwinlensCheckDownSingleLocation", []),
            ],
        ),
    ]
    if q > 1:
        cases.append(
            Case(
                f"{q - 1} of {q + 1} locations fail: one short of the quorum, warning only",
                below_fails,
                steps,
                [
                    ("TwinlensCheckDown", []),
                    (
                        "TwinlensCheckDownSingleLocation",
                        [
                            Expect({**base, "instance": f"{loc}:9116", "location": loc}, 0)
                            for loc in locations[: q - 1]
                        ],
                    ),
                ],
            )
        )
    cases += [
        Case(
            "a check run from one location only: all of them failing is critical",
            [success("loc-0", False)],
            steps,
            [("TwinlensCheckDown", [Expect(out, 1)]), ("TwinlensCheckDownSingleLocation", [])],
        ),
        Case(
            "every location green: nothing fires",
            [success(loc, True) for loc in locations],
            steps,
            [("TwinlensCheckDown", []), ("TwinlensCheckDownSingleLocation", [])],
        ),
    ]
    now = steps * 60  # time() at the evaluation, in seconds
    warn = int(spec.tls_warning_days * 86400)

    def expiry(at: int) -> list[tuple[str, str]]:
        # The other location still sees a later certificate: the earliest one counts.
        return [
            (
                series(
                    "probe_ssl_earliest_cert_expiry",
                    **base,
                    instance=f"{loc}:9116",
                    location=loc,
                ),
                gauge(at + i * 86400, steps),
            )
            for i, loc in enumerate(("eu-west", "ap-southeast"))
        ]

    cases += [
        Case(
            f"certificate with exactly {number(spec.tls_warning_days)} days left: warning",
            expiry(now + warn),
            steps,
            [
                ("TwinlensCertificateExpiringSoon", [Expect(out, warn)]),
                ("TwinlensCertificateExpired", []),
            ],
        ),
        Case(
            "one second more than that: silent",
            expiry(now + warn + 1),
            steps,
            [("TwinlensCertificateExpiringSoon", []), ("TwinlensCertificateExpired", [])],
        ),
        Case(
            "certificate expiring this very second: expired, critical",
            expiry(now),
            steps,
            [
                ("TwinlensCertificateExpired", [Expect(out, 0)]),
                ("TwinlensCertificateExpiringSoon", []),
            ],
        ),
        Case(
            "one second left: not expired yet",
            expiry(now + 1),
            steps,
            [
                ("TwinlensCertificateExpired", []),
                ("TwinlensCertificateExpiringSoon", [Expect(out, 1)]),
            ],
        ),
    ]
    interval = 30
    stale_after = int(spec.stale_intervals * interval)
    check_labels = {**base, "instance": "eu-west:9116", "location": "eu-west"}

    def last_run(at: int) -> list[tuple[str, str]]:
        return [
            (series("twinlens_check_last_run_timestamp_seconds", **check_labels), gauge(at, steps)),
            (series("twinlens_check_interval_seconds", **check_labels), gauge(interval, steps)),
        ]

    cases += [
        Case(
            f"no run for exactly {number(spec.stale_intervals)} intervals: stale",
            last_run(now - stale_after),
            steps,
            [("TwinlensCheckStale", [Expect(check_labels, stale_after)])],
        ),
        Case(
            "one second less: silent",
            last_run(now - stale_after + 1),
            steps,
            [("TwinlensCheckStale", [])],
        ),
    ]
    return TestFile(
        "probes.yml", "1m", "Probe down by location quorum, certificates, stale checks.", cases
    )


def _rum_file(spec: Spec) -> TestFile:
    interval = "1h"
    if parse_duration(spec.rum_window) != 3600:
        raise ValueError("the RUM promtool tests are written for a 1h window")
    pct = spec.rum_good_share
    steps = 3
    route = {"app": "shop", "route": "/products/{id}", "device": "mobile"}
    gateway = {"job": "rum-gateway", "instance": "gw-1:9117"}

    def vitals(count: int, good: int, metric: str, labels: dict[str, str]) -> list[tuple[str, str]]:
        out = []
        for v in CORE_VITALS:
            name = getattr(v, metric)
            le = number(v.good)
            out += [
                (series(f"{name}_bucket", **gateway, **labels, le=le), counter((steps, good))),
                (series(f"{name}_count", **gateway, **labels), counter((steps, count))),
            ]
        return out

    total = 4000
    good_at = math.ceil(total * pct) - 1  # the largest count that is below the share
    floor = spec.rum_min_samples
    floor_good = math.ceil(floor * pct) - 1
    geo = {"app": "shop", "region": "South-eastern Asia", "device": "mobile"}

    def geo_series(count: int, good: int) -> list[tuple[str, str]]:
        # Two countries of one region: the alert sums them.
        half, good_half = count // 2, good // 2
        return vitals(half, good_half, "geo_metric", {**geo, "country": "ID"}) + vitals(
            count - half, good - good_half, "geo_metric", {**geo, "country": "TH"}
        )

    def expect(labels: dict[str, str], count: int, good: int) -> list[Expect]:
        return [Expect({**labels, "vital": v.key}, good / count) for v in CORE_VITALS]

    cases = [
        Case(
            f"{good_at} of {total} samples good (just below {number(pct * 100)}%): fires for "
            "every core vital",
            vitals(total, good_at, "metric", route),
            steps,
            [("TwinlensRUMGoodShareLow", expect(route, total, good_at))],
        ),
        Case(
            f"exactly {number(pct * 100)}% good: silent",
            vitals(total, good_at + 1, "metric", route),
            steps,
            [("TwinlensRUMGoodShareLow", [])],
        ),
        Case(
            f"exactly the minimum of {floor} samples, mostly slow: fires",
            vitals(floor, floor_good, "metric", route),
            steps,
            [("TwinlensRUMGoodShareLow", expect(route, floor, floor_good))],
        ),
        Case(
            f"{floor - 1} samples, all slow: too few to judge, silent",
            vitals(floor - 1, 0, "metric", route),
            steps,
            [("TwinlensRUMGoodShareLow", [])],
        ),
        Case(
            "mobile users in South-eastern Asia (two countries) just below the share: fires",
            geo_series(total, good_at),
            steps,
            [
                ("TwinlensRUMRegionGoodShareLow", expect(geo, total, good_at)),
                ("TwinlensRUMGoodShareLow", []),
            ],
        ),
        Case(
            "the same region at the share: silent",
            geo_series(total, good_at + 1),
            steps,
            [("TwinlensRUMRegionGoodShareLow", [])],
        ),
        Case(
            f"the region with exactly {floor} samples, mostly slow: fires",
            geo_series(floor, floor_good),
            steps,
            [("TwinlensRUMRegionGoodShareLow", expect(geo, floor, floor_good))],
        ),
        Case(
            f"the region with {floor - 1} samples: silent",
            geo_series(floor - 1, 0),
            steps,
            [("TwinlensRUMRegionGoodShareLow", [])],
        ),
    ]
    return TestFile("rum.yml", interval, "RUM good shares by route and by region.", cases)


def _traffic_file(spec: Spec) -> TestFile:
    """Traffic against the same hour a week earlier: 1h samples, evaluated every 12h (the
    week of history must exist, but nothing needs evaluating during it)."""
    if parse_duration(spec.traffic_window) != 3600:
        raise ValueError("the traffic promtool tests are written for a 1h window")
    every = 12
    week = _steps("1w", "1h")
    first = math.ceil((week + 1) / every) * every  # first evaluation with a week behind it
    for_hours = max(1, math.ceil(parse_duration(spec.traffic_for) / 3600 / every)) * every
    traffic_steps = first + for_hours
    normal, drop_steps = first - 1, traffic_steps - first + 1
    gateway = {"job": "rum-gateway", "instance": "gw-1:9117"}
    beacons = series("rum_beacons_total", **gateway, app="shop")
    ratio = Fraction(number(spec.traffic_drop_ratio))
    before = max(ratio.denominator, spec.traffic_floor) * 2
    before += -before % ratio.denominator
    at = int(before * ratio)
    app = {"app": "shop"}
    tf = spec.traffic_floor

    def traffic(was: int, now: int, gone: bool = False) -> list[tuple[str, str]]:
        if gone:
            return [(beacons, counter((normal, was), gone=drop_steps))]
        return [(beacons, counter((normal, was), (drop_steps, now)))]

    cases = [
        Case(
            f"{at} beacons this hour, {before} the same hour last week: fires",
            traffic(before, at),
            traffic_steps,
            [("TwinlensRUMTrafficDrop", [Expect(app, at)])],
        ),
        Case(
            "one beacon more: silent",
            traffic(before, at + 1),
            traffic_steps,
            [("TwinlensRUMTrafficDrop", [])],
        ),
        Case(
            f"no beacons now, exactly {tf} the same hour last week: fires",
            traffic(tf, 0),
            traffic_steps,
            [("TwinlensRUMTrafficDrop", [Expect(app, 0)])],
        ),
        Case(
            f"no beacons now, {tf - 1} last week (3am, nobody around either): silent",
            traffic(tf - 1, 0),
            traffic_steps,
            [("TwinlensRUMTrafficDrop", [])],
        ),
        Case(
            "the gateway's series vanished (gateway gone): counts as zero, fires",
            traffic(before, 0, gone=True),
            traffic_steps,
            [("TwinlensRUMTrafficDrop", [Expect(app, 0)])],
        ),
    ]
    return TestFile(
        "rum_traffic.yml",
        "1h",
        "RUM traffic against the same hour a week earlier.",
        cases,
        eval_interval=f"{every}h",
    )


def _rum_api_file(spec: Spec) -> TestFile:
    interval = spec.rum_api_window
    for_steps = max(1, math.ceil(parse_duration(spec.rum_api_for) / parse_duration(interval)))
    steps = for_steps + 2
    labels = {"app": "shop", "api_route": "/api/items/{id}"}
    gateway = {"job": "rum-gateway", "instance": "gw-1:9117"}
    ratio = Fraction(number(spec.rum_api_error_ratio))
    total = max(100, ratio.denominator)
    total += -total % ratio.denominator
    bad = int(total * ratio)
    floor = spec.rum_api_min_calls
    floor_bad = math.ceil(floor * ratio)

    def calls(ok: int, client_errors: int, server: int, network: int) -> list[tuple[str, str]]:
        out = []
        for status, n in (("2xx", ok), ("4xx", client_errors), ("5xx", server), ("error", network)):
            name = "rum_api_request_duration_seconds_count"
            s = series(name, **gateway, **labels, method="GET", status_class=status)
            out.append((s, counter((steps, n))))
        return out

    server = bad // 2
    c4 = total // 10
    return TestFile(
        "rum_api.yml",
        interval,
        "Browser-observed API error ratio (5xx and network errors; 4xx do not count).",
        [
            Case(
                f"{bad} of {total} calls fail (5xx + network), {c4} are 4xx: fires",
                calls(total - bad - c4, c4, server, bad - server),
                steps,
                [("TwinlensRUMAPIErrorRate", [Expect(labels, float(ratio))])],
            ),
            Case(
                "one failure fewer: silent (it would fire if 4xx counted)",
                calls(total - bad + 1 - c4, c4, server, bad - server - 1),
                steps,
                [("TwinlensRUMAPIErrorRate", [])],
            ),
            Case(
                f"exactly {floor} calls with {floor_bad} failing: fires",
                calls(floor - floor_bad, 0, floor_bad, 0),
                steps,
                [("TwinlensRUMAPIErrorRate", [Expect(labels, floor_bad / floor)])],
            ),
            Case(
                f"{floor - 1} calls with {floor_bad} failing: too few, silent",
                calls(floor - 1 - floor_bad, 0, floor_bad, 0),
                steps,
                [("TwinlensRUMAPIErrorRate", [])],
            ),
        ],
    )


def promtool_tests(spec: Spec) -> dict[str, dict[str, Any]]:
    """``alerts/tests/<name>`` -> the promtool test document."""
    if spec.time_scale != 1:
        raise ValueError("promtool tests are generated for production windows only")
    out = {}
    # Recording groups first at each step, as Prometheus would have them one interval
    # earlier: with 1h steps an alert reading last step's record would see nothing.
    order = [g["name"] for g in rule_groups(spec)]
    every = (
        *_slo_files(spec),
        _probe_file(spec),
        _rum_file(spec),
        _traffic_file(spec),
        _rum_api_file(spec),
    )
    for tf in every:
        tests = []
        for case in tf.cases:
            eval_time = f"{number(case.eval_steps * parse_duration(tf.interval) / 60)}m"
            tests.append(
                {
                    "name": case.comment,
                    "interval": tf.interval,
                    "input_series": [{"series": s, "values": v} for s, v in case.series],
                    "alert_rule_test": [
                        {
                            "eval_time": eval_time,
                            "alertname": name,
                            "exp_alerts": _expected(spec, name, expects),
                        }
                        for name, expects in case.checks
                    ],
                }
            )
        out[tf.name] = {
            "rule_files": [RULES_FILE],
            "evaluation_interval": tf.eval_interval or tf.interval,
            "group_eval_order": order,
            "tests": tests,
        }
    return out


def covered_alerts(files: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """alertname -> (cases where it fires, cases where it must stay silent)."""
    seen: dict[str, list[int]] = {}
    for doc in files.values():
        for test in doc["tests"]:
            for art in test["alert_rule_test"]:
                counts = seen.setdefault(art["alertname"], [0, 0])
                counts[0 if art["exp_alerts"] else 1] += 1
    return {k: (v[0], v[1]) for k, v in seen.items()}
