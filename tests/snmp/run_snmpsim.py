"""Runs snmpsim's command responder without dropping privileges.

As root, snmpsim insists on switching to an unprivileged user; that user cannot read
an interpreter installed under /root (pyenv), and snmpsim then fails with a misleading
"no dbm clone found". The simulator runs inside the test's private network namespace
on loopback, so staying root there costs nothing.
"""

from __future__ import annotations

import sys

from snmpsim import daemon
from snmpsim.commands import responder


class _StayAsWeAre:
    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


daemon.PrivilegesOf = _StayAsWeAre  # type: ignore[assignment,misc]

if __name__ == "__main__":
    sys.exit(responder.main())
