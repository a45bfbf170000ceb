"""The journey prober: several HTTP requests in order, each checked, feeding the next.

blackbox_exporter probes one request; an API is only up when *login → token →
authenticated call → logout* works. A journey runs the module's steps in order on the HTTP
prober's client (:func:`exporter.probers.http._round_trip`: the same resolve, SSRF guard on
every hop, TLS, proxies and phase timings), with one cookie jar for the whole run. Each
step renders its URL, headers and body from variables (:mod:`exporter.templating`), checks
the status (``expect_status``, default 2xx), evaluates its assertions, and extracts
variables for the steps after it. The first failing step ends the run and names itself in
the probe log; its reason is the HTTP one (``dns``, ``connect``, ``tls``, ``timeout``,
``protocol``, ``blocked_target``, ``http_status``), ``assertion``, or ``step`` (a variable
could not be extracted, a secret could not be read).

    >>> await probe_journey("https://api.example.com", module, metrics, log, deadline)
    True

Every request carries ``X-Twinlens-Synthetic: 1`` besides the HTTP prober's
``twinlens/<version>`` user agent. Secrets never reach the probe log: every line is
scrubbed of the run's secret values (see :class:`exporter.templating.Scrubber`).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import msgspec

from exporter import net
from exporter.jsonpath import compile_path, find
from exporter.metrics import ProbeMetrics
from exporter.probelog import ProbeLog
from exporter.probers import http
from exporter.probers._http1 import HTTPProtocolError, ResponseHead, read_body
from exporter.probers._steps import StepResults
from exporter.templating import Scrubber, SecretUnavailable, compile_template

if TYPE_CHECKING:
    from exporter.config import Module
    from exporter.journey_config import Assertion, Extract, JourneyProbe, JourneyStep

__all__ = ["SYNTHETIC_HEADER", "probe_journey"]

#: Marks every journey request as synthetic, as the browser prober's requests are.
SYNTHETIC_HEADER: Final = ("X-Twinlens-Synthetic", "1")
#: Response bodies kept for assertions when the module sets no ``body_size_limit``.
_BODY_CAP: Final = 10 << 20
_PHASES: Final = ("resolve", "connect", "tls", "processing", "transfer")
_MAX_SHOWN: Final = 120


class _Failed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True)
class _Response:
    head: ResponseHead
    body: str
    seconds: float
    _json: Any = msgspec.UNSET

    def json(self) -> Any:
        """The body as JSON; raises :class:`_Failed` (assertion) when it is not."""
        if self._json is msgspec.UNSET:
            try:
                self._json = json.loads(self.body)
            except ValueError:
                self._json = _NOT_JSON
        if self._json is _NOT_JSON:
            raise _Failed("assertion", "the response body is not JSON")
        return self._json

    def header(self, name: str) -> str | None:
        values = self.head.get_all(name)
        return ", ".join(values) if values else None


_NOT_JSON = object()


class _ScrubbedLog(ProbeLog):
    """The probe log as the HTTP client helpers see it: every line scrubbed of secrets
    first (a URL with ``?key=${env:KEY}`` is logged by them as they request it)."""

    __slots__ = ("_inner", "_scrub")

    def __init__(self, inner: ProbeLog, scrub: Scrubber) -> None:
        super().__init__()
        self._inner = inner
        self._scrub = scrub

    def _clean(self, fields: dict[str, object]) -> dict[str, object]:
        return {k: self._scrub(str(v)) for k, v in fields.items()}

    def debug(self, msg: str, **fields: object) -> None:
        self._inner.debug(self._scrub(msg), **self._clean(fields))

    def info(self, msg: str, **fields: object) -> None:
        self._inner.info(self._scrub(msg), **self._clean(fields))

    def warn(self, msg: str, **fields: object) -> None:
        self._inner.warn(self._scrub(msg), **self._clean(fields))

    def error(self, msg: str, **fields: object) -> None:
        self._inner.error(self._scrub(msg), **self._clean(fields))


async def probe_journey(
    target: str, module: Module, metrics: ProbeMetrics, log: ProbeLog, deadline: float
) -> bool:
    cfg = module.journey
    if cfg is None:  # the config refuses this; keep mypy and a hand-built Module honest
        log.error("No journey: section in the module")
        return metrics.fail("internal")
    if "://" not in target:
        target = "http://" + target
    scrub = Scrubber()
    plog = _ScrubbedLog(log, scrub)
    results = StepResults(metrics)
    probe = http._Probe(
        cfg=module.http, module=module, metrics=metrics, log=plog, deadline=deadline
    )
    try:
        variables = _variables(cfg, target, scrub)
        auth = await http._authorization(probe, http._parse_url(target, http._InvalidTarget))
    except SecretUnavailable as exc:
        plog.error("Cannot read a secret; no step run", err=str(exc))
        return metrics.fail("step")
    except net.NetError as exc:
        plog.error("Cannot prepare the journey", err=str(exc))
        return metrics.fail(exc.reason)
    tls_recorded = False
    try:
        for index, step in enumerate(cfg.steps):
            # Only the first request reports the target's DNS facts, as in a blackbox probe.
            probe.metrics = metrics if index == 0 else ProbeMetrics()
            try:
                await _run_step(probe, cfg, step, target, variables, auth, results, scrub)
            except _Failed as failure:
                plog.error(
                    "Step failed",
                    step=step.name,
                    reason=failure.reason,
                    err=_short(scrub(str(failure))),
                )
                return metrics.fail(failure.reason)
            except asyncio.CancelledError:  # the probe's deadline, from the runner
                plog.error("Step failed", step=step.name, reason="timeout", err="deadline")
                raise
            finally:
                if probe.tls_facts is not None and not tls_recorded:
                    net.record_tls(metrics, probe.tls_facts)
                    tls_recorded = True
    finally:
        probe.close()
    plog.info("Journey completed", steps=len(cfg.steps))
    return True


def _variables(cfg: JourneyProbe, target: str, scrub: Scrubber) -> dict[str, str]:
    base = {"target": target}
    variables = dict(base)
    for name, value in cfg.variables.items():
        variables[name] = compile_template(value).render(base, scrub)
    return variables


async def _run_step(
    probe: http._Probe,
    cfg: JourneyProbe,
    step: JourneyStep,
    target: str,
    variables: dict[str, str],
    auth: str | None,
    results: StepResults,
    scrub: Scrubber,
) -> None:
    """One step: request, status, assertions, extraction. Raises :class:`_Failed`."""
    loop = asyncio.get_running_loop()
    log = probe.log
    t0 = time.perf_counter()
    probe.phases = [0.0] * len(_PHASES)
    probe.first_hop = True
    probe.status = 0
    try:
        try:
            url, method, headers, body = _render_request(cfg, step, target, variables, scrub)
        except SecretUnavailable as exc:
            raise _Failed("step", str(exc)) from None
        log.info("Step started", step=step.name, method=method)
        response = await _exchange(probe, step, url, method, headers, body, auth, loop)
    except BaseException as exc:
        results.record(step.name, False, time.perf_counter() - t0)
        results.phases(step.name, dict(zip(_PHASES, probe.phases, strict=True)))
        if probe.status:
            results.status(step.name, probe.status)
        if isinstance(exc, TimeoutError):
            raise _Failed("timeout", f"no answer within the step's time ({probe.phase})") from None
        if isinstance(exc, net.NetError):
            raise _Failed(exc.reason, str(exc)) from None
        raise
    results.phases(step.name, dict(zip(_PHASES, probe.phases, strict=True)))
    results.status(step.name, response.head.status)
    try:
        _check(step, response, variables, scrub, log)
        for name, how in step.extract.items():
            variables[name] = _extract(name, how, response, scrub)
    except _Failed:
        results.record(step.name, False, response.seconds)
        raise
    results.record(step.name, True, response.seconds)
    log.info("Step succeeded", step=step.name, duration_seconds=round(response.seconds, 6))


def _render_request(
    cfg: JourneyProbe,
    step: JourneyStep,
    target: str,
    variables: dict[str, str],
    scrub: Scrubber,
) -> tuple[str, str, list[tuple[str, str]], bytes]:
    def render(text: str) -> str:
        return compile_template(text).render(variables, scrub)

    url = urllib.parse.urljoin(target, render(step.url)) if step.url else target
    merged = {**cfg.headers, **step.headers}
    names = {k.lower() for k in merged}
    headers = [(k, render(v)) for k, v in merged.items()]
    headers.append(SYNTHETIC_HEADER)
    body = b""
    if step.body:
        body = render(step.body).encode()
    elif step.json_body is not msgspec.UNSET:
        body = json.dumps(_render_json(step.json_body, render), separators=(",", ":")).encode()
        if "content-type" not in names:
            headers.append(("Content-Type", "application/json"))
    elif step.form:
        body = urllib.parse.urlencode({k: render(v) for k, v in step.form.items()}).encode()
        if "content-type" not in names:
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
    return url, step.method, headers, body


def _render_json(value: Any, render: Any) -> Any:
    if isinstance(value, str):
        return render(value)
    if isinstance(value, dict):
        return {k: _render_json(v, render) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_json(v, render) for v in value]
    return value


async def _exchange(
    probe: http._Probe,
    step: JourneyStep,
    url_text: str,
    method: str,
    headers: list[tuple[str, str]],
    body: bytes,
    auth: str | None,
    loop: asyncio.AbstractEventLoop,
) -> _Response:
    """The step's request through the HTTP prober's client, following redirects as the
    ``http`` prober does; the whole body is read (bounded) for assertions."""
    journey_deadline = probe.deadline
    limit = float(step.timeout) if step.timeout is not None else math.inf
    step_deadline = min(journey_deadline, loop.time() + limit)
    probe.deadline = step_deadline
    started = time.perf_counter()
    try:
        async with asyncio.timeout_at(step_deadline):
            return await _follow(probe, step, url_text, method, headers, body, auth, started)
    finally:
        probe.deadline = journey_deadline
        probe.close()


async def _follow(
    probe: http._Probe,
    step: JourneyStep,
    url_text: str,
    method: str,
    headers: list[tuple[str, str]],
    body: bytes,
    auth: str | None,
    started: float,
) -> _Response:
    cfg = probe.cfg
    follow = cfg.redirects if step.follow_redirects is None else step.follow_redirects
    url = http._parse_url(url_text, http._InvalidTarget)
    probe.first_host = url.host
    host_header = next((v for k, v in headers if k.lower() == "host"), None)
    extra = [(k, v) for k, v in headers if k.lower() != "host"]
    referer = ""
    redirects = 0
    while True:
        head = await http._round_trip(probe, url, method, body, host_header, extra, auth, referer)
        http._remember_cookies(probe, url.host, head)  # one jar for the whole journey
        location = head.get("location")
        if not follow or head.status not in http._REDIRECT_STATUS or location is None:
            break
        redirects += 1
        if redirects > http.MAX_REDIRECTS:
            raise _Failed("step", f"more than {http.MAX_REDIRECTS} redirects")
        probe.log.info("Following redirect", location=location)
        next_url = http._parse_url(urllib.parse.urljoin(url.text(), location), http._BadRedirect)
        if head.status in (301, 302, 303) and method not in ("GET", "HEAD"):
            method, body = "GET", b""
        if (next_url.host.lower(), next_url.port) != (url.host.lower(), url.port):
            host_header = None
        if not http._same_or_subdomain(next_url.host, probe.first_host):
            auth = None  # credentials never follow a redirect to another site
            extra = [(k, v) for k, v in extra if k.lower() not in ("authorization", "cookie")]
        referer = "" if url.tls and not next_url.tls else url.text()
        probe.close()
        url = next_url
    limit = int(cfg.body_size_limit) or _BODY_CAP
    sink = http._Body(cfg.compression, limit, keep=True)
    conn = probe.conn
    assert conn is not None
    probe.phase = "transfer"
    try:
        await read_body(conn, head, method, sink)
        if sink.decoder is not None and not sink.finished():
            raise HTTPProtocolError(f"truncated or invalid {cfg.compression} response body")
    finally:
        probe.add(4, time.perf_counter() - conn.first_byte_at)
        probe.close()
    return _Response(head=head, body=sink.text(), seconds=time.perf_counter() - started)


# --- checks ------------------------------------------------------------------------------------


def _check(
    step: JourneyStep,
    response: _Response,
    variables: dict[str, str],
    scrub: Scrubber,
    log: ProbeLog,
) -> None:
    status = response.head.status
    valid = step.expect_status or range(200, 300)
    if status not in valid:
        shown = ", ".join(map(str, step.expect_status)) if step.expect_status else "2xx"
        raise _Failed("http_status", f"status {status}, expected {shown}")
    failures = []
    for assertion in step.assertions:
        problem = _assert(assertion, response, variables, scrub)
        if problem is not None:
            failures.append(f"{assertion.describe()}: {problem}")
            log.error("Assertion failed", step=step.name, assertion=scrub(failures[-1]))
    if failures:
        raise _Failed("assertion", "; ".join(failures))


def _assert(
    a: Assertion, response: _Response, variables: dict[str, str], scrub: Scrubber
) -> str | None:
    """Why the assertion fails, or None."""
    if a.max_duration is not None:
        if response.seconds > a.max_duration:
            return f"took {response.seconds:.3f}s"
        return None
    if a.body_matches is not None:
        return None if a.body_matches.search(response.body) else "no match in the body"
    if a.body_not_matches is not None:
        return "matched the body" if a.body_not_matches.search(response.body) else None
    if a.json:
        found, value = find(compile_path(a.json), response.json())
    else:
        header = response.header(a.header)
        found, value = header is not None, header
    op = a.operator
    if op == "exists":
        return None if found == a.exists else ("present" if found else "missing")
    if not found:
        return "missing"
    if op == "type":
        return None if _json_type(value, a.type or "") else f"got {_json_type_name(value)}"
    if op == "matches":
        assert a.matches is not None
        text = value if isinstance(value, str) else json.dumps(value)
        return None if a.matches.search(text) else f"got {_show(value)}"
    expected = _render_expected(getattr(a, op), variables, scrub)
    if op == "equals":
        return None if _json_equal(value, expected) else f"got {_show(value)}"
    # contains: a substring, an element of an array, or a key of an object
    if isinstance(value, str) and isinstance(expected, str):
        ok = expected in value
    elif isinstance(value, list):
        ok = any(_json_equal(item, expected) for item in value)
    elif isinstance(value, dict) and isinstance(expected, str):
        ok = expected in value
    else:
        ok = False
    return None if ok else f"got {_show(value)}"


def _render_expected(expected: Any, variables: dict[str, str], scrub: Scrubber) -> Any:
    if isinstance(expected, str):
        return compile_template(expected).render(variables, scrub)
    return expected


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: ``1 == 1.0`` but ``true != 1`` and ``"1" != 1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


def _json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _json_type(value: Any, want: str) -> bool:
    if want == "integer":
        return _json_type_name(value) == "number" and float(value).is_integer()
    return _json_type_name(value) == want


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _extract(name: str, how: Extract, response: _Response, scrub: Scrubber) -> str:
    """The variable's value from the response; :class:`_Failed` (step) when absent."""
    if how.body_regex is not None:
        match = how.body_regex.search(response.body)
        if match is None:
            raise _Failed("step", f"extract {name}: body_regex found nothing")
        value = match.group(1) if match.re.groups else match.group(0)
    else:
        if how.json:
            found, raw = find(compile_path(how.json), response.json())
            where = how.json
        else:
            raw = response.header(how.header)
            found, where = raw is not None, f"header {how.header}"
        if not found:
            raise _Failed("step", f"extract {name}: {where} not in the response")
        value = raw if isinstance(raw, str) else json.dumps(raw)
        if how.regex is not None:
            match = how.regex.search(value)
            if match is None:
                raise _Failed("step", f"extract {name}: regex found nothing in {where}")
            value = match.group(1) if match.re.groups else match.group(0)
    if how.secret:
        scrub.add(value)
    return value


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "…"
