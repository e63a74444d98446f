"""Serving a program's WSGI app with waitress in a background thread.

Both programs keep their main thread for their own loop (probes, evaluations) and serve
HTTP from waitress's worker threads, which only read snapshots.
"""

from __future__ import annotations

import threading
from typing import Any

import waitress
from waitress import wasyncore

#: how long a stopping server lets requests in progress finish
DRAIN_TIMEOUT = 5.0
#: how often the serving loop looks whether it is asked to stop
STOP_CHECK = 0.2


class ListenError(RuntimeError):
    """The listener could not bind; ``str()`` names the flag, the address and why."""


class WebServer:
    """waitress serving ``app`` on ``listen`` (``HOST:PORT``, ``[V6]:PORT``) in a thread.

    Binding happens in the constructor, so a port in use fails at start-up with a
    :class:`ListenError` naming the address (the OS's message does not, and with several
    exporters on one host the operator needs to know which one).
    """

    def __init__(self, app: Any, listen: str, *, ident: str, threads: int = 4) -> None:
        try:
            self._server = waitress.create_server(app, listen=listen, threads=threads,
                                                  ident=ident)
        except OSError as exc:  # port in use, address not local, no permission
            reason = exc.strerror or str(exc)
            raise ListenError(f"--web.listen-address {listen}: "
                              f"{reason[:1].lower() + reason[1:]}") from exc
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="web", daemon=True)

    def _serve(self) -> None:
        """waitress's loop, one poll at a time, until asked to stop; then the serving thread
        itself closes every socket (between two polls, so no poll sees a closed one)."""
        sockets = self._server._map
        use_poll = self._server.adj.asyncore_use_poll
        while sockets and not self._stopping.is_set():
            wasyncore.loop(timeout=STOP_CHECK, map=sockets, use_poll=use_poll, count=1)
        wasyncore.close_all(sockets)

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def close(self) -> None:
        """Stop serving: let requests in progress finish, then close every socket.

        Closing first would leave a request that is still being answered writing to a
        closed wake-up pipe, which waitress logs as an error on every busy shutdown. The
        sockets are closed by the serving thread itself, between two ``select()`` calls:
        closed from here, its ``select()`` fails on a closed descriptor. No wake-up pipe is
        written to stop it (the loop looks every ``STOP_CHECK`` seconds): CI once saw that
        write fail with EBADF on a busy shutdown.
        """
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=DRAIN_TIMEOUT)
        if not self._thread.is_alive():
            self._server.close()
            return
        self._stopping.set()
        self._thread.join(DRAIN_TIMEOUT)
