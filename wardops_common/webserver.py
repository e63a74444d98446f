"""Serving a program's WSGI app with cheroot in background threads.

Both programs keep their main thread for their own loop (probes, evaluations) and serve
HTTP from cheroot's worker threads, which only read snapshots.

Why cheroot (CherryPy's server): a well-kept, pure-Python, threaded WSGI server that
serves TLS itself (Python's ``ssl``), so ``--web.config.file`` can give TLS, mutual TLS
and basic auth without a proxy in front. waitress, used before, serves no TLS; gunicorn
and hypercorn run workers in other processes or an event loop, while both programs need
the server in-process beside their own loop.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from wardops_common.webconfig import Guard, WebConfig, load_web_config
from wardops_common.yamlfile import ConfigError

log = logging.getLogger("web")

#: how long a stopping server lets requests in progress finish
DRAIN_TIMEOUT = 5
#: how often ``--web.config.file`` and the certificates it names are checked for changes
#: (a few stat calls: renewing a certificate needs no reload and no restart)
WATCH_INTERVAL = 3.0

Signature = tuple[tuple[int, int, int] | None, ...]


def _signature(files: tuple[Path, ...]) -> Signature:
    """What changes when any of ``files`` is rewritten, replaced or removed."""
    out: list[tuple[int, int, int] | None] = []
    for path in files:
        try:
            st = path.stat()
        except OSError:
            out.append(None)
        else:
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class ListenError(RuntimeError):
    """The listener could not bind; ``str()`` names the flag, the address and why."""


def parse_listen_address(value: str) -> tuple[str, int]:
    """``:9469`` / ``127.0.0.1:9469`` / ``[::1]:9469`` -> (host, port), as both programs'
    ``--web.listen-address`` reads it (no host: all interfaces); ValueError if bad."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid listen address {value!r} (use HOST:PORT or :PORT)")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


class _ContextAdapter(BuiltinSSLAdapter):
    """cheroot's TLS adapter serving with the context ``wardops_common.webconfig`` built
    (minimum version, client certificates); swapped on reload."""

    def __init__(self, web: WebConfig) -> None:
        super().__init__(str(web.cert_file), str(web.key_file))
        assert web.tls is not None
        self.context = web.tls


class WebServer:
    """cheroot serving ``app`` on ``listen`` (``HOST:PORT``, ``[V6]:PORT``) in a thread.

    Binding happens in the constructor, so a port in use fails at start-up with a
    :class:`ListenError` naming the address (the OS's message does not, and with several
    exporters on one host the operator needs to know which one). ``web``: TLS, basic auth
    and headers from ``--web.config.file`` (``wardops_common.webconfig``); ``on_refused``
    is told the reason of each request refused for want of credentials. With ``web``
    read from a file, the file and the certificates it names are watched: a change is
    applied to the next connections without dropping the listener, and a bad file keeps
    the running one; ``on_web_reload`` is told each outcome (the programs' metric).
    """

    def __init__(self, app: Any, listen: str, *, ident: str, threads: int = 4,
                 web: WebConfig | None = None,
                 on_refused: Callable[[str], None] = lambda reason: None,
                 on_web_reload: Callable[[bool], None] = lambda ok: None,
                 watch_interval: float = WATCH_INTERVAL) -> None:
        try:
            host, port = parse_listen_address(listen)
        except ValueError as exc:
            raise ListenError(f"--web.listen-address: {exc}") from None
        web = web or WebConfig()
        self._web_path = web.source
        self._seen = _signature(web.files)
        self._on_web_reload = on_web_reload
        self._watch_interval = watch_interval
        self._reload_lock = threading.Lock()
        self._stopping = threading.Event()
        self._guard = Guard(app, web, on_refused)
        self._server = wsgi.Server((host, port), self._guard, numthreads=threads,
                                   server_name=ident, shutdown_timeout=DRAIN_TIMEOUT)
        self.tls = web.tls is not None
        if web.tls is not None:
            self._server.ssl_adapter = _ContextAdapter(web)
        try:
            self._server.prepare()  # binds, starts the worker threads
        except OSError as exc:  # port in use, address not local, no permission
            # cheroot re-raises the OS error inside its own message: name only the reason
            code = exc.errno or next((int(n) for n in re.findall(r"\[Errno (\d+)\]", str(exc))),
                                     None)
            reason = os.strerror(code) if code else (exc.strerror or str(exc))
            raise ListenError(f"--web.listen-address {listen}: "
                              f"{reason[:1].lower() + reason[1:]}") from exc
        self._thread = threading.Thread(target=self._server.serve, name="web", daemon=True)
        self._watcher = threading.Thread(target=self._watch, name="web-config-watch",
                                         daemon=True)

    def start(self) -> None:
        """Start serving (and watching ``--web.config.file``, if there is one)."""
        self._thread.start()
        if self._web_path:
            self._watcher.start()

    def reload_web_file(self) -> None:
        """Read ``--web.config.file`` again and use it for the next connections and
        requests; on a bad file keep the running one, log why and raise ``ConfigError``.
        Either outcome is reported to ``on_web_reload``."""
        if not self._web_path:
            return
        with self._reload_lock:
            try:
                web = load_web_config(self._web_path)
                self.reload_web(web)
            except Exception as exc:  # any failure keeps the running config, and says so
                # the bad files are not retried until they change again
                self._seen = _signature(self._guard.config.files)
                message = str(exc) if isinstance(exc, ConfigError) else (
                    f"{self._web_path}: cannot load ({type(exc).__name__}: {exc})")
                log.error("web config reload failed; keeping the running one",
                          extra={"error": message})
                self._on_web_reload(False)
                raise ConfigError(message) from None
            self._seen = _signature(web.files)
            self._on_web_reload(True)
        log.info("web config reloaded", extra={"file": self._web_path,
                                              "tls": web.tls is not None,
                                              "users": len(web.users)})

    def _watch(self) -> None:
        while not self._stopping.wait(self._watch_interval):
            if _signature(self._guard.config.files) == self._seen:
                continue
            try:
                self.reload_web_file()
            except ConfigError:
                pass  # logged and counted; the next change is tried again

    def reload_web(self, web: WebConfig) -> None:
        """Use a new ``--web.config.file`` for the next connections and requests (users,
        headers, certificates re-read); the listener stays. Raises ``ConfigError`` when it
        would switch between HTTP and HTTPS, which needs a restart."""
        if (web.tls is not None) != self.tls:
            raise ConfigError(f"{web.source or '--web.config.file'}: switching between HTTP "
                              "and HTTPS needs a restart")
        adapter = self._server.ssl_adapter
        if web.tls is not None and isinstance(adapter, _ContextAdapter):
            adapter.context = web.tls
        self._guard.reload(web)

    def close(self) -> None:
        """Stop serving: stop accepting, let requests in progress finish (up to
        ``DRAIN_TIMEOUT``), then close every connection."""
        self._stopping.set()
        self._server.stop()
        self._thread.join(DRAIN_TIMEOUT)
