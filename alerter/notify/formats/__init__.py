"""Webhook formats: one module per format, all with one signature.

``render(data, hook, templates) -> Rendered`` where ``data`` is the Alertmanager webhook
payload (version 4) built by ``alertmanager.build_payload``: every format starts from the
same facts, and the ``template`` format exposes them to Jinja2 as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alerter.notify.config import WebhookConfig


@dataclass(frozen=True)
class Rendered:
    """A request body and the headers it needs (``Content-Type`` at least)."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


Renderer = Callable[[Mapping[str, Any], WebhookConfig, Mapping[str, str]], Rendered]


def renderers() -> dict[str, Renderer]:
    """Format name -> render function."""
    from alerter.notify.formats import alertmanager, slack, teams, telegram, template

    return {"alertmanager": alertmanager.render, "slack": slack.render, "teams": teams.render,
            "telegram": telegram.render, "template": template.render}
