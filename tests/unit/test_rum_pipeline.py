"""The gateway's per-request caches (Pipeline.facts), without a server."""

from __future__ import annotations

from rum_gateway.app import Pipeline
from rum_gateway.config import load_config

CHROME = (
    b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/124.0.0.0 Safari/537.36"
)


def test_facts_are_cached_per_header_combination() -> None:
    pipeline = Pipeline(load_config(None))
    headers = {b"user-agent": CHROME, b"origin": b"http://localhost:8080"}
    first = pipeline.facts(headers.get)
    assert first.browser == "chrome" and first.origin_allowed
    assert pipeline.facts(dict(headers).get) is first  # same values: the cached answer
    other = pipeline.facts({**headers, b"origin": b"https://evil.example"}.get)
    assert not other.origin_allowed
    assert len(pipeline._facts) == 2


def test_a_header_value_with_a_newline_cannot_alias_another_combination() -> None:
    """Were a server to let a newline through, "UA\\n<origin>" with no Origin must not
    be taken for (UA, Origin): such a combination is neither cached nor looked up."""
    pipeline = Pipeline(load_config(None))
    forged = {b"user-agent": CHROME + b"\nhttp://localhost:8080"}
    facts = pipeline.facts(forged.get)
    assert facts.origin is None and not facts.cors
    assert len(pipeline._facts) == 0
    real = pipeline.facts({b"user-agent": CHROME, b"origin": b"http://localhost:8080"}.get)
    assert real.origin_allowed and real.cors
    assert pipeline.facts(forged.get).origin is None  # still not the real one's answer
