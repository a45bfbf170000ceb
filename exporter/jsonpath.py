"""The small JSON path subset journeys use to assert on and extract from responses.

Supported: ``$`` (the whole document), ``.name``, ``['any key']`` / ``["any key"]``,
``[0]`` and ``[-1]`` (from the end). No wildcards, filters or recursive descent: a journey
assertion names one value, and a path that could match many would make "equals" ambiguous.

    >>> find(compile_path("$.items[-1].id"), {"items": [{"id": 1}, {"id": 2}]})
    (True, 2)
    >>> find(compile_path("$.missing"), {})
    (False, None)
"""

from __future__ import annotations

import functools
import re
from typing import Any

__all__ = ["JSONPathError", "compile_path", "find"]

_TOKEN = re.compile(
    r"""\.(?P<name>[A-Za-z_$][A-Za-z0-9_$-]*)
      | \[\s*(?P<index>-?\d+)\s*\]
      | \[\s*'(?P<sq>(?:[^'\\]|\\.)*)'\s*\]
      | \[\s*"(?P<dq>(?:[^"\\]|\\.)*)"\s*\]""",
    re.VERBOSE,
)

Step = str | int


class JSONPathError(ValueError):
    """A path outside the supported subset (reported at load)."""


@functools.lru_cache(maxsize=4096)
def compile_path(path: str) -> tuple[Step, ...]:
    """``"$.a[0]['b c']"`` → ``("a", 0, "b c")``; raises :class:`JSONPathError`."""
    text = path.strip()
    if not text.startswith("$"):
        raise JSONPathError(f"JSON path {path!r} must start with $ (e.g. $.user.id)")
    steps: list[Step] = []
    pos = 1
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise JSONPathError(
                f"JSON path {path!r}: cannot parse at {text[pos:]!r} "
                "(supported: .name, ['key'], [index])"
            )
        if match.group("name") is not None:
            steps.append(match.group("name"))
        elif match.group("index") is not None:
            steps.append(int(match.group("index")))
        else:
            quoted = match.group("sq") if match.group("sq") is not None else match.group("dq")
            steps.append(re.sub(r"\\(.)", r"\1", quoted))
        pos = match.end()
    return tuple(steps)


def find(steps: tuple[Step, ...], document: Any) -> tuple[bool, Any]:
    """``(found, value)`` of the path in a decoded JSON document."""
    value = document
    for step in steps:
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return False, None
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return False, None
            value = value[step]
    return True, value
