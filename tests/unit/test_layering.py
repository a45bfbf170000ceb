"""The layout is the architecture: arrows point down only (DESIGN.md, "Layout").

``exporter`` and ``rum_gateway`` never import each other, and from ``twinlens`` they import
only ``twinlens.runtime``, which imports neither component nor the top floor.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        if "node_modules" in path.parts:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def _violations(package: str, allowed: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path, names in _imports(package).items():
        for name in names:
            top = name.split(".")[0]
            if top in forbidden and not name.startswith(allowed):
                bad.append(f"{path} imports {name}")
    return sorted(bad)


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("exporter", ("rum_gateway", "twinlens")), ("rum_gateway", ("exporter", "twinlens"))],
)
def test_components_stand_only_on_the_runtime(package: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(package, ("twinlens.runtime",), forbidden) == []


def test_runtime_imports_no_component() -> None:
    bad = _violations(
        "twinlens/runtime", ("twinlens.runtime",), ("exporter", "rum_gateway", "twinlens")
    )
    assert bad == []


def test_importing_twinlens_starts_nothing() -> None:
    code = (
        "import sys, threading, twinlens, twinlens.runtime, exporter, rum_gateway;"
        "heavy = [m for m in ('aiohttp', 'starlette', 'uvicorn', 'playwright')"
        " if m in sys.modules];"
        "print(threading.active_count(), heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split(maxsplit=1)
    assert out[0] == "1"  # no thread started at import
    assert out[1].strip() == "[]"  # no web framework loaded by a bare import
