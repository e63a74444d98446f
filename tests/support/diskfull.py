"""A program whose state directory is a small tmpfs that a test can fill: a full disk,
for real, without touching the machine's file systems.

The program runs in a private mount namespace (``unshare -m``) where ``path`` is a tmpfs
of ``size``; ``fill()`` writes a file there until ENOSPC (from inside the namespace, with
``nsenter``), ``free()`` deletes it. Needs root (CI and scripts/test run as root).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.support import Proc, python_env

FILLER = ".diskfull-filler"


class OnSmallDisk:
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

    def fill(self) -> None:
        """Fill the tmpfs to the last byte (dd stops at ENOSPC)."""
        self._in_namespace("dd", "if=/dev/zero", f"of={self.path / FILLER}", "bs=64k")
        df = self._in_namespace("df", "--output=avail", str(self.path)).stdout.split()
        assert df and df[-1] == "0", f"tmpfs not full: {df}"

    def free(self) -> None:
        """Give the space back."""
        result = self._in_namespace("rm", "-f", str(self.path / FILLER))
        assert result.returncode == 0, result.stderr

    def stop(self, kill: bool = False) -> None:
        self.proc.stop(kill=kill)
