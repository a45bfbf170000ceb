"""Running twinlens commands as real subprocesses in tests, and waiting for them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.ports import free_port

__all__ = ["TwinlensProcess", "wait_http"]

ROOT = Path(__file__).resolve().parents[2]


def wait_http(url: str, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``url`` until it answers 200; fail early if ``proc`` dies."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {last}")


class TwinlensProcess:
    """``python -m twinlens ARGS --web.listen-address 127.0.0.1:PORT`` with its log captured.

    >>> with TwinlensProcess(tmp_path, "exporter", "--config.file", cfg) as exp:
    ...     urllib.request.urlopen(exp.url + "/metrics")
    """

    def __init__(
        self, workdir: Path, *args: str, port: int | None = None, ready: str = "/-/ready"
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [*args, "--web.listen-address", f"127.0.0.1:{self.port}"]
        self.log_path = Path(workdir) / f"twinlens-{args[0]}-{self.port}.log"
        self.ready = ready
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> TwinlensProcess:
        self._log = self.log_path.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "twinlens", *self.args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
        try:
            wait_http(self.url + self.ready, proc=self.proc)
        except Exception:
            self.stop()
            raise RuntimeError(f"twinlens {self.args[0]} did not start:\n{self.logs()}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGINT (Ctrl-C), then wait; kill if it does not exit. Returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return int(self.proc.returncode)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
