"""Webhook formats: one module per format, all with one signature.

``render(data, hook, templates) -> Rendered`` where ``data`` is the Alertmanager webhook
payload (version 4) built by ``alertmanager.build_payload``: every format starts from the
same facts, and the ``template`` format exposes them to Jinja2 as they are.
"""

from __future__ import annotations

from alerter.notify.formats import alertmanager, slack, teams, telegram, template
from alerter.notify.formats.rendered import Rendered, Renderer

__all__ = ["Rendered", "Renderer", "renderers"]


def renderers() -> dict[str, Renderer]:
    """Format name -> render function."""
    return {"alertmanager": alertmanager.render, "slack": slack.render, "teams": teams.render,
            "telegram": telegram.render, "template": template.render}
