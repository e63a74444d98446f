"""A program whose state directory is a small tmpfs that a test can fill: a full disk,
for real, without touching the machine's file systems.

The program runs in a private mount namespace (``unshare -m``) where ``path`` is a tmpfs
of ``size``; ``fill()`` writes a file there until ENOSPC (from inside the namespace, with
``nsenter``), ``free()`` deletes it. Needs root (CI and scripts/test run as root).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support import Proc, python_env

FILLER = ".diskfull-filler"


class _Fillable:
    """fill()/free() of a tmpfs at ``path`` seen from a mount namespace."""

    path: Path

    def _in_namespace(self, *command: str) -> subprocess.CompletedProcess[str]:
        raise NotImplementedError

    def fill(self) -> None:
        """Fill the tmpfs to the last byte (dd stops at ENOSPC)."""
        self._in_namespace("dd", "if=/dev/zero", f"of={self.path / FILLER}", "bs=64k")
        df = self._in_namespace("df", "--output=avail", str(self.path)).stdout.split()
        assert df and df[-1] == "0", f"tmpfs not full: {df}"

    def free(self) -> None:
        """Give the space back."""
        result = self._in_namespace("rm", "-f", str(self.path / FILLER))
        assert result.returncode == 0, result.stderr


class OnSmallDisk(_Fillable):
    """``args`` started with ``path`` on a ``size`` tmpfs of its own."""

    def __init__(self, path: Path, args: Sequence[str], log: Path, size: str = "8m") -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        script = 'mount -t tmpfs -o size="$1" wardops-test "$2" && shift 2 && exec "$@"'
        self.proc = Proc(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                          "sh", size, str(path), *args], log=log, env=python_env())

    def _in_namespace(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["nsenter", "-t", str(self.proc.popen.pid), "-m", *command],
                              capture_output=True, text=True, timeout=30, check=False)

    def stop(self, kill: bool = False) -> None:
        self.proc.stop(kill=kill)


class SmallDisk(_Fillable):
    """A ``size`` tmpfs at ``path`` in a mount namespace of its own that outlives the
    programs using it: a holder process keeps the namespace, programs are started in it
    with :meth:`command` (``nsenter``), so a restarted program finds its state again, as it
    would on a real disk. ``fill()``/``free()`` as for :class:`OnSmallDisk`."""

    def __init__(self, path: Path, log: Path, size: str = "16m") -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        script = 'mount -t tmpfs -o size="$1" wardops-test "$2" && echo mounted && exec sleep 86400'
        self.holder = Proc(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                            "sh", size, str(path)], log=log, env=python_env())
        for _ in range(100):
            if "mounted" in self.holder.output():
                break
            if not self.holder.alive():
                raise AssertionError(f"tmpfs not mounted: {self.holder.output()}")
            time.sleep(0.05)

    def command(self, args: Sequence[str]) -> list[str]:
        """``args`` run inside the namespace (the tmpfs visible at ``path``)."""
        return ["nsenter", "-t", str(self.holder.popen.pid), "-m", *args]

    def _in_namespace(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(command), capture_output=True, text=True,
                              timeout=30, check=False)

    def stop(self) -> None:
        """End the namespace (and the tmpfs with it)."""
        self.holder.stop(kill=True)
