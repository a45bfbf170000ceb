"""twinlens and the real blackbox_exporter (Debian package) side by side.

Both exporters run as processes with the same ``blackbox.yml`` and probe the same local
targets through ``/probe``. For every case ``probe_success`` must agree, and every metric
name and label name blackbox emits must be among twinlens's (twinlens may add more, such
as ``probe_failure_info``; it may never drop one of blackbox's).
"""

from __future__ import annotations

import datetime
import http.server
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme
from prometheus_client.parser import text_string_to_metric_families

from tests.support.ports import free_port
from tests.support.tools import require_tool

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]

# --- local targets (stdlib servers in threads: the exporters are separate processes) -----------


class _Target(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, val in headers.items():
            self.send_header(name, val)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/ok":
            self._send(200, b"all good\n")
        elif path == "/missing":
            self._send(404, b"not here\n")
        elif path == "/degraded":
            self._send(200, b"status: degraded\n")
        elif path == "/slow":
            time.sleep(4)
            self._send(200, b"too late\n")
        elif path.startswith("/hop/"):
            n = int(path.rsplit("/", 1)[1])
            if n < 3:
                self._send(302, b"", Location=f"/hop/{n + 1}")
            else:
                self._send(200, b"arrived\n")
        else:
            self._send(404, b"")


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # probers hang up on purpose (timeouts, failed handshakes): not worth a traceback


@contextmanager
def target_server(ssl_ctx: ssl.SSLContext | None = None) -> Iterator[int]:
    """A threaded HTTP(S) server on a free loopback port; yields the port."""
    server = _QuietServer(("127.0.0.1", 0), _Target)
    if ssl_ctx is not None:
        server.socket = ssl_ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- exporter processes -------------------------------------------------------------------------


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log_path: Path, name: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{name} not ready in 30s: {log_path.read_text()[-3000:]}")


@contextmanager
def exporter_process(argv: list[str], ready_path: str, workdir: Path, name: str) -> Iterator[str]:
    """Run an exporter on a free port until the block ends; yields its base URL."""
    port = free_port()
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*argv, f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(proc, url + ready_path, log_path, name)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@contextmanager
def twinlens_exporter(config: Path, workdir: Path) -> Iterator[str]:
    argv = [sys.executable, "-m", "twinlens", "exporter", f"--config.file={config}"]
    with exporter_process(argv, "/-/ready", workdir, "twinlens") as url:
        yield url


@contextmanager
def blackbox_exporter(config: Path, workdir: Path) -> Iterator[str]:
    binary = require_tool("blackbox_exporter")
    with exporter_process([binary, f"--config.file={config}"], "/-/healthy", workdir, "bbx") as url:
        yield url


def scrape_probe(
    base: str, target: str, module: str
) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """``/probe`` output as {metric name: {sorted label pairs: value}}."""
    query = urllib.parse.urlencode({"target": target, "module": module})
    with urllib.request.urlopen(f"{base}/probe?{query}", timeout=15) as resp:
        text = resp.read().decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


BLACKBOX_YML = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
  http_body:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_body_matches_regexp: ["degraded|down"]
  http_tls:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      tls_config:
        ca_file: {ca_file}
  http_fast:
    prober: http
    timeout: 1s
    http:
      preferred_ip_protocol: ip4
"""


def test_same_verdicts_and_a_superset_of_blackbox_metrics(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    expired = ca.issue_cert(
        "localhost", not_after=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    )
    tls_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    expired.configure_cert(tls_ctx)
    config = tmp_path / "blackbox.yml"
    config.write_text(BLACKBOX_YML.format(ca_file=ca_file))

    with (
        target_server() as plain,
        target_server(tls_ctx) as tls,
        blackbox_exporter(config, tmp_path) as bbx,
        twinlens_exporter(config, tmp_path) as tw,
    ):
        cases = {
            "success": (f"127.0.0.1:{plain}/ok", "http_2xx", 1),
            "404": (f"http://127.0.0.1:{plain}/missing", "http_2xx", 0),
            "body regex": (f"http://127.0.0.1:{plain}/degraded", "http_body", 0),
            "tls expired": (f"https://localhost:{tls}/ok", "http_tls", 0),
            "timeout": (f"http://127.0.0.1:{plain}/slow", "http_fast", 0),
            "redirect chain": (f"http://127.0.0.1:{plain}/hop/0", "http_2xx", 1),
        }
        for case, (target, module, expected) in cases.items():
            theirs = scrape_probe(bbx, target, module)
            ours = scrape_probe(tw, target, module)
            assert theirs["probe_success"][()] == expected, f"{case}: blackbox disagrees with test"
            assert ours["probe_success"][()] == expected, f"{case}: twinlens says otherwise"
            missing = set(theirs) - set(ours)
            assert not missing, f"{case}: twinlens lacks {sorted(missing)}"
            for name, samples in theirs.items():
                their_labels = {k for pairs in samples for k, _ in pairs}
                our_labels = {k for pairs in ours[name] for k, _ in pairs}
                assert their_labels <= our_labels, f"{case}: {name} labels {their_labels}"
            if expected == 0:
                assert sum(ours["probe_failure_info"].values()) == 1, case
            if case == "redirect chain":
                assert theirs["probe_http_redirects"][()] == ours["probe_http_redirects"][()] == 3
            if case == "404":
                assert ours["probe_http_status_code"][()] == theirs["probe_http_status_code"][()]
            if case == "tls expired":
                # blackbox has no certificate facts here; twinlens reports the expired leaf.
                assert ours["probe_ssl_earliest_cert_expiry"][()] == 1577836800.0
