"""The alerter's HTTP API (Flask; served by waitress from ``alerter.app``).

PLACEHOLDER with the factory signature the app uses; the API work fills in the routes
(/api/v1/alerts, /api/v1/rules, silences, acks, auth, /metrics, /-/ endpoints).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from alerter.model import Alert


def create_app(*, alerts: Callable[[], list[Alert]], rules: Callable[[], list[dict[str, Any]]],
               pipeline: Any, notify_config: Any, registry: Any,
               reload: Callable[[], None], ready: Callable[[], bool]) -> Flask:
    """Build the API app.

    ``alerts`` returns the active alerts (pending and firing); ``rules`` the rule groups in
    the shape of Prometheus's ``/api/v1/rules`` ``data.groups``; ``reload`` re-reads config
    and raises ``ValueError`` on a bad file (keeping the running one); ``ready`` is true
    after the first evaluation.
    """
    app = Flask("wardops-alerter")

    @app.get("/-/healthy")
    def healthy() -> str:
        return "OK\n"

    return app
