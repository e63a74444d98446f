"""The ``teams`` format: a Microsoft Teams Workflows message carrying an Adaptive Card.

Teams' "Post to a channel when a webhook request is received" workflow expects
``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": <card>}]}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from alerter.notify.formats.rendered import Rendered
from alerter.notify.formats.text import alert_line, more_line, title

if TYPE_CHECKING:  # annotations only: the formats must not import the config at run time
    from alerter.notify.config import WebhookConfig

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
COLOURS = {"firing": "Attention", "resolved": "Good"}


def card(data: Mapping[str, Any], heading: str) -> dict[str, Any]:
    """The Adaptive Card (version 1.4) for one notification."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": heading, "weight": "Bolder", "size": "Medium",
         "color": COLOURS[data["status"]], "wrap": True},
    ]
    if data["groupLabels"]:
        body.append({"type": "FactSet", "facts": [
            {"title": k, "value": v} for k, v in sorted(data["groupLabels"].items())]})
    for alert in data["alerts"]:
        body.append({"type": "TextBlock", "text": alert_line(alert), "wrap": True,
                     "color": COLOURS[alert["status"]], "spacing": "Small"})
    if more := more_line(data):
        body.append({"type": "TextBlock", "text": more, "isSubtle": True, "wrap": True})
    result: dict[str, Any] = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": "1.4",
                              "body": body, "msteams": {"width": "Full"}}
    if data["externalURL"]:
        result["actions"] = [{"type": "Action.OpenUrl", "title": "Open wardops",
                              "url": data["externalURL"]}]
    return result


def render(data: Mapping[str, Any], hook: WebhookConfig, templates: Mapping[str, str]) -> Rendered:
    message = {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": None,
        "content": card(data, title(data, hook.title)),
    }]}
    return Rendered(json.dumps(message, ensure_ascii=False).encode(),
                    {"Content-Type": "application/json"})
