"""Helpers shared by the test suites: free ports, processes, HTTP polling."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import requests

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def python_env(**extra: str) -> dict[str, str]:
    """Environment for a child ``python -m exporter|alerter`` run from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def wait_for(check: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.1,
             what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last error: {last_error!r}")


def wait_http(url: str, timeout: float = 20.0) -> requests.Response:
    """Wait until ``url`` answers 200."""
    def check() -> requests.Response | None:
        resp = requests.get(url, timeout=2)
        return resp if resp.status_code == 200 else None
    return wait_for(check, timeout=timeout, what=url)


class Proc:
    """A child process with its output in a log file, killed at ``stop()``."""

    def __init__(self, args: Sequence[str], log: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.args = list(args)
        self.log = log
        self._fh = open(log, "ab")
        self.popen = subprocess.Popen(self.args, stdout=self._fh, stderr=subprocess.STDOUT,
                                      env=env, cwd=cwd, start_new_session=True)

    @classmethod
    def python(cls, module: str, *args: str, log: Path, **kw: object) -> Proc:
        return cls([sys.executable, "-m", module, *args], log=log,
                   env=kw.pop("env", None) or python_env(), **kw)  # type: ignore[arg-type]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        self.popen.send_signal(sig)

    def stop(self, kill: bool = False, timeout: float = 10.0) -> int | None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL if kill else signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self._fh.close()
        return self.popen.returncode


def fuzz_examples(n: int) -> int:
    """``n`` property-test examples, times ``WARDOPS_FUZZ_SCALE`` (scripts/fuzz: longer runs)."""
    return n * max(1, int(os.environ.get("WARDOPS_FUZZ_SCALE", "1")))
