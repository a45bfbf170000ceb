"""One view: the single source that generates dashboards, recording rules and alerts.

    >>> from twinlens.observability import Spec, generate_files
    >>> files = generate_files(Spec(check_slo=0.995))
    >>> "alerts/twinlens-rules.yml" in files
    True

``spec`` holds metric names, thresholds, SLO targets and windows; ``rules``,
``rule_tests`` and ``dashboards`` turn a spec into Prometheus rules, their promtool tests
and Grafana dashboards; ``generate`` is the ``twinlens generate`` command.
"""

from twinlens.observability.dashboards import DASHBOARDS, build_dashboards
from twinlens.observability.generate import generate_files
from twinlens.observability.rules import Alert, alerts, rule_groups
from twinlens.observability.spec import Spec, SpecError

__all__ = [
    "DASHBOARDS",
    "Alert",
    "Spec",
    "SpecError",
    "alerts",
    "build_dashboards",
    "generate_files",
    "rule_groups",
]
