"""Cleans up after a demo that was killed (kill -9) before it could clean up itself.

scripts/demo.py starts this in a session of its own, with a pipe on its stdin, and writes
the process id of every program it starts, one a line. When the demo has stopped them
and removed its branch namespace, it writes ``done``. If the pipe closes without
``done``, the demo died: this stops the programs (SIGTERM, SIGKILL after 10 s) and only
then removes the namespace, so the exporter never probes the branch's addresses after
their links are gone.

    demo_reaper.py [NETNS]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

STOP_TIMEOUT = 10.0


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (not ours to wait for: the demo was its parent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop(pids: list[int]) -> None:
    """SIGTERM each program's session (newest first), SIGKILL what is left."""
    for pid in reversed(pids):
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + STOP_TIMEOUT
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def main(argv: list[str]) -> int:
    """Read pids until ``done`` (nothing to do) or EOF (clean up)."""
    for sig in (signal.SIGINT, signal.SIGHUP):  # the terminal's, meant for the demo
        signal.signal(sig, signal.SIG_IGN)
    netns = argv[1] if len(argv) > 1 else ""
    pids: list[int] = []
    for line in sys.stdin:
        if line.strip() == "done":
            return 0
        pids.append(int(line))
    stop(pids)
    if netns:
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)
    print(f"demo-reaper: the demo died; stopped {len(pids)} program(s)"
          + (f" and removed the namespace {netns}" if netns else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
