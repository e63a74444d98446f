"""The ``slack`` format: a Slack incoming-webhook message with a coloured attachment.

``text`` is the title (what notifications and old clients show); the attachment has
the colour (red firing, green resolved), a link to the alerter and one line per alert.
Slack's three control characters (&, <, >) are escaped in everything that came from
labels or annotations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from alerter.notify.formats.rendered import Rendered
from alerter.notify.formats.text import alert_line, more_line, title

if TYPE_CHECKING:  # annotations only: the formats must not import the config at run time
    from alerter.notify.config import WebhookConfig

COLOURS = {"firing": "danger", "resolved": "good"}


def escape(text: str) -> str:
    """Slack mrkdwn escaping."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(data: Mapping[str, Any], hook: WebhookConfig, templates: Mapping[str, str]) -> Rendered:
    heading = escape(title(data, hook.title))
    lines = [escape(alert_line(a)) for a in data["alerts"]]
    if more := more_line(data):
        lines.append(more)
    attachment = {
        "color": COLOURS[data["status"]],
        "title": heading,
        "title_link": data["externalURL"],
        "text": "\n".join(lines),
        "fallback": heading,
        "footer": "wardops",
        "mrkdwn_in": ["text"],
    }
    body = {"text": heading, "attachments": [attachment]}
    return Rendered(json.dumps(body, ensure_ascii=False).encode(),
                    {"Content-Type": "application/json"})
