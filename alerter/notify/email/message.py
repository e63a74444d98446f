"""The e-mail itself: a ``multipart/alternative`` message (text, then HTML) built from the
Alertmanager payload every format starts from.

The default bodies carry what the chat formats say and what a NOC reads a mail for: per
alert its summary, device, address and site, since when it fires (UTC), for how long (or
how long it lasted, once resolved), and links to its source and to the alerter. The
subject is the chat formats' title (``[FIRING:2] DeviceDown site=Kharagauli``).
Configured ``html``/``text``/``headers`` are Go templates expanded with Alertmanager's
template data and functions (``amdata``; ``html`` escapes what it prints, as
html/template). Everything from labels is escaped in the HTML, and header values lose
control characters (a label may hold a CR/LF).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

from alerter.notify.email import amdata
from alerter.notify.email.config import EmailConfig
from alerter.notify.escalation import ESCALATION_HEADER
from alerter.notify.formats.text import alert_line, more_line, title
from wardops_common.durations import format_duration
from wardops_common.text import text_problem

COLOURS = {"firing": "#c62828", "resolved": "#2e7d32"}


def parse_time(text: str) -> float | None:
    """An RFC 3339 time of the payload as Unix seconds (None for Go's zero time)."""
    if not text or text.startswith("0001-"):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def facts(alert: Mapping[str, Any], now: float) -> list[tuple[str, str]]:
    """(name, value) rows of one alert, in reading order."""
    labels = alert["labels"]
    rows = [(name, labels[name]) for name in ("device", "address", "site", "severity")
            if labels.get(name)]
    starts, ends = parse_time(alert["startsAt"]), parse_time(alert["endsAt"])
    if starts is not None:
        rows.append(("since", when(starts)))
        if alert["status"] == "resolved" and ends is not None:
            rows.append(("resolved", when(ends)))
            rows.append(("lasted", format_duration(ends - starts)))
        else:
            rows.append(("for", format_duration(now - starts)))
    return rows


def links(alert: Mapping[str, Any], external_url: str) -> list[tuple[str, str]]:
    found = []
    if alert.get("generatorURL"):
        found.append(("source", alert["generatorURL"]))
    if runbook := alert["annotations"].get("runbook_url"):
        found.append(("runbook", runbook))
    if external_url:
        found.append(("alerter", external_url))
    return found


def default_text(data: Mapping[str, Any], now: float) -> str:
    lines = [title(data), ""]
    for alert in data["alerts"]:
        lines.append(alert_line(alert))
        lines.extend(f"  {name}: {value}" for name, value in facts(alert, now))
        lines.extend(f"  {name}: {url}" for name, url in links(alert, ""))
        lines.append("")
    if more := more_line(data):
        lines.extend([more, ""])
    if data["externalURL"]:
        lines.append(f"wardops: {data['externalURL']}")
    return "\n".join(lines) + "\n"


def default_html(data: Mapping[str, Any], now: float) -> str:
    e = html.escape
    parts = [f'<html><body style="font-family:sans-serif">'
             f'<h2 style="color:{COLOURS[data["status"]]}">{e(title(data))}</h2>']
    for alert in data["alerts"]:
        colour = COLOURS[alert["status"]]
        parts.append(f'<div style="border-left:4px solid {colour};padding-left:8px;'
                     f'margin-bottom:12px"><p style="margin:4px 0"><b>{e(alert_line(alert))}'
                     '</b></p><table style="border-collapse:collapse">')
        for name, value in facts(alert, now):
            parts.append(f'<tr><td style="color:#555;padding-right:12px">{e(name)}</td>'
                         f"<td>{e(value)}</td></tr>")
        parts.append("</table>")
        if found := links(alert, ""):
            parts.append("<p style=\"margin:4px 0\">" + " · ".join(
                f'<a href="{e(url)}">{e(name)}</a>' for name, url in found) + "</p>")
        parts.append("</div>")
    if more := more_line(data):
        parts.append(f"<p>{e(more)}</p>")
    if data["externalURL"]:
        parts.append(f'<p><a href="{e(data["externalURL"])}">Open wardops</a></p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


class RenderError(ValueError):
    """A configured template failed on this group (the notification is a dead letter)."""


def _expand(source: str, data: Mapping[str, Any], cfg: EmailConfig, what: str,
            html: bool = False) -> str:
    try:
        return amdata.render(source, data, html=html, named=cfg.named)
    except (amdata.TemplateError, amdata.ExecError) as exc:
        raise RenderError(f"{what}: {exc}") from None


def header_value(value: str) -> str:
    """``value`` without the characters a header may not carry (CR, LF, other controls)."""
    if text_problem(value) is None:
        return value
    return "".join(" " if text_problem(ch) else ch for ch in value).strip()


def build_message(data: Mapping[str, Any], cfg: EmailConfig, *, message_id: str,
                  now: float, hostname: str = "wardops") -> bytes:
    """The whole message as sent (CRLF line ends). ``message_id`` (the notification's
    idempotency key) stays the same across retries: a mail that reached the server twice
    (a reply lost in a timeout) is recognisably one. Raises ``RenderError``."""
    msg = EmailMessage(policy=SMTP)
    configured = {name.lower(): name for name in cfg.headers}
    defaults = {"From": cfg.from_, "To": cfg.to, "Subject": title(data)}
    for name, value in defaults.items():
        if name.lower() not in configured:
            msg[name] = header_value(value)
    for name, source in cfg.headers.items():
        msg[name] = header_value(_expand(source, data, cfg, f"headers.{name}"))
    if "date" not in configured:
        msg["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    if "message-id" not in configured:
        msg["Message-Id"] = f"<{message_id}@{hostname}>"
    if level := data.get("escalationLevel"):
        msg[ESCALATION_HEADER] = str(level)
    text = _expand(cfg.text, data, cfg, "text") if cfg.text else default_text(data, now)
    body = _expand(cfg.html, data, cfg, "html", html=True) if cfg.html else default_html(data, now)
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(body, subtype="html", cte="quoted-printable")
    return msg.as_bytes()

