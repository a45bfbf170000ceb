"""Inline SVG charts for the HTML report: no scripts, no fonts, no external assets.

Each function returns one ``<svg>`` element as text, sized by its ``viewBox`` so it scales
to the page and prints sharply. Colours come from :data:`COLORS`; every chart has a
``<title>`` so screen readers and tooltips say what it shows::

    >>> share_bar(0.8, 0.15, 0.05).startswith("<svg")
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape

from twinlens.report.model import Span, TimeBucket
from twinlens.report.render import fmt

__all__ = ["COLORS", "downtime_bars", "hbars", "share_bar", "status_strip"]

COLORS = {
    "up": "#2e7d32",
    "down": "#c62828",
    "no_data": "#9e9e9e",
    "maintenance": "#1565c0",
    "good": "#0cce6b",
    "needs_improvement": "#ffa400",
    "poor": "#ff4e42",
    "empty": "#e0e0e0",
    "axis": "#616161",
}


def _n(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def status_strip(spans: Sequence[Span], start: datetime, end: datetime, title: str) -> str:
    """The period as one horizontal strip: up, down, no data, maintenance.

    Short stretches of trouble get a minimum width so a 1-minute outage in a month still
    shows; up is drawn first so trouble is always on top.
    """
    width, height = 1000.0, 28.0
    t0, total = start.timestamp(), max(end.timestamp() - start.timestamp(), 1e-9)
    rects = []
    for status in ("up", "maintenance", "no_data", "down"):
        for s in spans:
            if s.status != status:
                continue
            x = (s.start.timestamp() - t0) / total * width
            w = (s.end.timestamp() - s.start.timestamp()) / total * width
            if status != "up":
                w = max(w, 2.0)
            rects.append(
                f'<rect x="{_n(x)}" y="0" width="{_n(w)}" height="{_n(height)}" '
                f'fill="{COLORS[status]}"><title>{escape(status.replace("_", " "))} '
                f"{fmt.moment(s.start)} to {fmt.moment(s.end)}</title></rect>"
            )
    return (
        f'<svg class="strip" role="img" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
        f'<rect width="{_n(width)}" height="{_n(height)}" fill="{COLORS["empty"]}"/>'
        + "".join(rects)
        + "</svg>"
    )


def downtime_bars(buckets: Sequence[TimeBucket], title: str, hourly: bool) -> str:
    """Downtime, no-data and maintenance time per day (or hour), stacked bars."""
    width, height = 720.0, 170.0
    left, right, top, bottom = 56.0, 10.0, 10.0, 34.0
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [b.down_seconds + b.no_data_seconds + b.maintenance_seconds for b in buckets]
    peak = max([*totals, 60.0])
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line x1="{_n(left)}" y1="{_n(top + plot_h)}" x2="{_n(width - right)}" '
        f'y2="{_n(top + plot_h)}" stroke="{COLORS["axis"]}" stroke-width="1"/>',
        f'<text x="{_n(left - 6)}" y="{_n(top + 8)}" text-anchor="end">'
        f"{escape(fmt.duration(peak))}</text>",
        f'<text x="{_n(left - 6)}" y="{_n(top + plot_h)}" text-anchor="end">0</text>',
    ]
    n = max(len(buckets), 1)
    slot = plot_w / n
    bar = max(slot * 0.8, 0.5)
    for i, b in enumerate(buckets):
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h
        label = fmt.moment(b.start)
        for key, value in (
            ("down", b.down_seconds),
            ("no_data", b.no_data_seconds),
            ("maintenance", b.maintenance_seconds),
        ):
            if value <= 0:
                continue
            h = max(value / peak * plot_h, 1.0)
            y -= h
            parts.append(
                f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(bar)}" height="{_n(h)}" '
                f'fill="{COLORS[key]}"><title>{escape(label)}: '
                f"{escape(key.replace('_', ' '))} {escape(fmt.duration(value))}</title></rect>"
            )
    ticks = sorted({0, n // 2, n - 1}) if buckets else []
    for i in ticks:
        b = buckets[i]
        text = f"{b.start:%H:%M}" if hourly else f"{b.start:%b %d}"
        x = left + i * slot + slot / 2
        parts.append(
            f'<text x="{_n(x)}" y="{_n(height - 12)}" text-anchor="middle">{escape(text)}</text>'
        )
    if not any(totals):
        parts.append(
            f'<text x="{_n(left + plot_w / 2)}" y="{_n(top + plot_h / 2)}" '
            f'text-anchor="middle">no downtime, no gaps, no maintenance</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def share_bar(good: float | None, ni: float | None, poor: float | None) -> str:
    """A small stacked bar: good, needs improvement, poor (Core Web Vitals colours)."""
    width, height = 120.0, 12.0
    if good is None or ni is None or poor is None:
        return (
            f'<svg class="share" role="img" viewBox="0 0 {_n(width)} {_n(height)}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>no data</title>'
            f'<rect width="{_n(width)}" height="{_n(height)}" fill="{COLORS["empty"]}"/></svg>'
        )
    title = f"good {fmt.share(good)}, needs improvement {fmt.share(ni)}, poor {fmt.share(poor)}"
    x = 0.0
    rects = []
    for key, value in (("good", good), ("needs_improvement", ni), ("poor", poor)):
        w = value * width
        if w > 0:
            rects.append(
                f'<rect x="{_n(x)}" width="{_n(w)}" height="{_n(height)}" fill="{COLORS[key]}"/>'
            )
        x += w
    return (
        f'<svg class="share" role="img" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        + "".join(rects)
        + "</svg>"
    )


def hbars(
    items: Sequence[tuple[str, float | None]],
    threshold: float,
    title: str,
    show: Callable[[float | None], str],
) -> str:
    """Horizontal bars (slowest regions or devices) with the "good" threshold marked."""
    row, left, bar_w = 22.0, 170.0, 330.0
    width, height = left + bar_w + 90.0, row * len(items) + 24.0
    scale = max([threshold * 1.25, *(v for _, v in items if v is not None)])
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(items):
        y = i * row + 4
        parts.append(
            f'<text x="{_n(left - 8)}" y="{_n(y + 13)}" text-anchor="end">{escape(label)}</text>'
        )
        if value is not None:
            w = value / scale * bar_w
            color = COLORS["good"] if value <= threshold else COLORS["poor"]
            parts.append(
                f'<rect x="{_n(left)}" y="{_n(y)}" width="{_n(w)}" height="16" fill="{color}"/>'
                f'<text x="{_n(left + w + 6)}" y="{_n(y + 13)}">{escape(show(value))}</text>'
            )
    tx = left + threshold / scale * bar_w
    parts.append(
        f'<line x1="{_n(tx)}" y1="0" x2="{_n(tx)}" y2="{_n(height - 18)}" '
        f'stroke="{COLORS["axis"]}" stroke-dasharray="4 3"/>'
        f'<text x="{_n(tx)}" y="{_n(height - 4)}" text-anchor="middle">'
        f"good ≤ {escape(show(threshold))}</text></svg>"
    )
    return "".join(parts)
