"""The exporter's HTTP side: a Flask (WSGI) app served by waitress in a thread.

Endpoints: ``/metrics``, ``/-/healthy``, ``/-/ready`` (200 after the first full probe
cycle), ``POST /-/reload`` and ``/``, a small page listing devices by site. Every
handler reads a snapshot through the :class:`WebView` it is given; none waits on a probe.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, Response, render_template_string
from waitress.server import create_server

from exporter.collector import CONTENT_TYPE
from wardops_common.durations import format_duration

log = logging.getLogger("exporter.web")


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """One line of the landing page."""

    name: str
    address: str
    type: str
    status: str
    rtt_ms: str
    loss: str
    down_for: str
    note: str = ""  # why the state is what it is, e.g. "probes fail to run: unreachable"


class WebView(Protocol):
    """What the web side needs from the running exporter."""

    @property
    def icmp_mode(self) -> str: ...

    def metrics(self) -> bytes: ...
    def ready(self) -> bool: ...
    def reload(self) -> tuple[bool, str]: ...
    def page(self) -> dict[str, list[DeviceRow]]: ...


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>wardops exporter</title>
<style>
body{font-family:sans-serif;margin:1.5em} table{border-collapse:collapse;margin-bottom:1.2em}
td,th{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}
.up{color:#1a7f37}.down{color:#c62828;font-weight:bold}.unknown{color:#777}
</style></head><body>
<h1>wardops exporter</h1>
<p>{{ total }} devices: {{ counts.up }} up, {{ counts.down }} down, {{ counts.unknown }} unknown.
ICMP socket mode: <b>{{ mode }}</b>.
<a href="/metrics">/metrics</a> · <a href="/-/ready">/-/ready</a></p>
{% for site, rows in sites.items() %}
<h2>{{ site or "(no site)" }}</h2>
<table><tr><th>device</th><th>address</th><th>type</th><th>state</th><th>RTT</th>
<th>loss</th><th>down for</th><th>note</th></tr>
{% for r in rows %}<tr><td>{{ r.name }}</td><td>{{ r.address }}</td><td>{{ r.type }}</td>
<td class="{{ r.status }}">{{ r.status }}</td><td>{{ r.rtt_ms }}</td><td>{{ r.loss }}</td>
<td>{{ r.down_for }}</td><td>{{ r.note }}</td></tr>
{% endfor %}</table>
{% endfor %}
</body></html>
"""


def down_for(down_since: float, now: float) -> str:
    """ "6m 12s" for an outage that began at ``down_since``; "" when not down."""
    return format_duration(now - down_since) if down_since else ""


def create_app(view: WebView) -> Flask:
    """The Flask app for ``view``."""
    app = Flask("exporter")

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(view.metrics(), content_type=CONTENT_TYPE)

    @app.get("/-/healthy")
    def healthy() -> Response:
        return Response("OK\n", content_type="text/plain")

    @app.get("/-/ready")
    def ready() -> Response:
        if view.ready():
            return Response("OK\n", content_type="text/plain")
        return Response("not ready: first probe cycle still running\n", status=503,
                        content_type="text/plain")

    @app.post("/-/reload")
    def reload() -> Response:
        ok, message = view.reload()
        return Response(message + "\n", status=200 if ok else 500, content_type="text/plain")

    @app.get("/")
    def index() -> str:
        sites = view.page()
        counts = {"up": 0, "down": 0, "unknown": 0}
        for rows in sites.values():
            for row in rows:
                counts[row.status] = counts.get(row.status, 0) + 1
        return render_template_string(_PAGE, sites=sites, counts=counts,
                                      total=sum(counts.values()), mode=view.icmp_mode)

    return app


def parse_listen_address(value: str) -> tuple[str, int]:
    """``:9469`` / ``127.0.0.1:9469`` / ``[::1]:9469`` -> (host, port); ValueError if bad."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid listen address {value!r} (use HOST:PORT or :PORT)")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


class WebServer:
    """waitress serving ``app`` on ``host:port`` in a daemon thread."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        # Binding happens here, so a port in use fails at start-up, not in the thread.
        self._server = create_server(app, host=host, port=port, threads=4,
                                     ident="wardops-exporter")
        self._thread = threading.Thread(target=self._server.run, name="web", daemon=True)

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def close(self) -> None:
        """Stop serving."""
        self._server.close()

