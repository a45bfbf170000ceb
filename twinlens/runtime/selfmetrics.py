"""The registry each process exposes about itself on ``/metrics``."""

from __future__ import annotations

import platform

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

__all__ = ["CONTENT_TYPE_LATEST", "new_registry", "render"]


def new_registry(component: str) -> CollectorRegistry:
    """A fresh registry with process, platform, GC and build-info metrics.

    One per server instance (not the global default), so tests can run several in one
    process and a component never exposes another's series.
    """
    from twinlens.runtime.version import __version__

    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    info = Gauge(
        "twinlens_build_info",
        "A metric with a constant 1 labelled by version, component and Python version.",
        ["version", "component", "python_version"],
        registry=registry,
    )
    info.labels(__version__, component, platform.python_version()).set(1)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """Prometheus text exposition of ``registry``."""
    return generate_latest(registry)
