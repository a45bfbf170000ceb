"""Renderers: the report model as Markdown, a self-contained HTML page, CSV or JSON.

>>> text = render(report, "md")
"""

from __future__ import annotations

from collections.abc import Callable

from twinlens.report.model import Report

__all__ = ["FORMATS", "render"]

#: --format values, in the order --help lists them
FORMATS = ("md", "html", "csv", "json")


def _renderer(fmt: str) -> Callable[[Report], str]:
    if fmt == "md":
        from twinlens.report.render.md import render_md

        return render_md
    if fmt == "html":
        from twinlens.report.render.html_page import render_html

        return render_html
    if fmt == "csv":
        from twinlens.report.render.csv_rows import render_csv

        return render_csv
    if fmt == "json":
        from twinlens.report.render.json_doc import render_json

        return render_json
    raise ValueError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")


def render(report: Report, fmt: str) -> str:
    """The report as text in format ``fmt`` (one of :data:`FORMATS`)."""
    return _renderer(fmt)(report)
