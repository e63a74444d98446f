"""The ``telegram`` format: a Bot API ``sendMessage`` request in HTML parse mode.

Everything from labels and annotations is HTML-escaped (Telegram rejects a message
with a stray ``<``), and the text is kept under Telegram's 4096-character limit.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from alerter.notify.formats.rendered import Rendered
from alerter.notify.formats.text import alert_line, title

if TYPE_CHECKING:  # annotations only: the formats must not import the config at run time
    from alerter.notify.config import WebhookConfig

MAX_CHARS = 4096
ICONS = {"firing": "🔥", "resolved": "✅"}


def message_text(data: Mapping[str, Any], heading: str) -> str:
    """The HTML message: bold title, one line per alert, a truncation note if needed."""
    head = f"{ICONS[data['status']]} <b>{html.escape(heading, quote=False)}</b>"
    lines = [head]
    used = len(head)
    shown = 0
    for alert in data["alerts"]:
        line = html.escape(alert_line(alert), quote=False)
        if used + len(line) + 1 > MAX_CHARS - 40:
            break
        lines.append(line)
        used += len(line) + 1
        shown += 1
    hidden = len(data["alerts"]) - shown + data["truncatedAlerts"]
    if hidden:
        lines.append(f"… and {hidden} more")
    return "\n".join(lines)


def render(data: Mapping[str, Any], hook: WebhookConfig, templates: Mapping[str, str]) -> Rendered:
    chat_id: int | str = int(hook.chat_id) if hook.chat_id.lstrip("-").isdigit() else hook.chat_id
    body: dict[str, Any] = {
        "chat_id": chat_id,
        "text": message_text(data, title(data, hook.title)),
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }
    if hook.message_thread_id:
        body["message_thread_id"] = hook.message_thread_id
    return Rendered(json.dumps(body, ensure_ascii=False).encode(),
                    {"Content-Type": "application/json"})
