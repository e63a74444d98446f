"""The alerter's ``/`` page: active alerts by site with their state, and — for a writer —
acknowledge and silence buttons.

One self-contained HTML document (inline CSS and a small script, no external reference,
phone viewport), rendered on the server from the same views the API serves (mute status,
escalation), so the page and ``/api/v1/alerts`` cannot disagree. The buttons post JSON to
the existing API (``/api/v1/alerts/<fp>/ack``, ``/api/v1/silences``) with the browser's
own credentials; the API decides who may write and refuses cross-site posts
(``httpapi.check_origin``). The script is allowed by a per-response nonce in the
Content-Security-Policy; nothing else may run, load or frame the page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from alerter.model import Alert
from wardops_common.durations import format_duration

NO_SITE = "(no site)"
#: the states in the order of attention: an escalated alert nobody took first
STATE_ORDER = ("escalated", "firing", "pending", "acknowledged", "silenced", "inhibited",
               "muted")
_MUTES = (("silenced", "silenced by "), ("inhibited", "inhibited by "),
          ("muted", "muted by time interval "))


STYLE = """\
body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;padding:8px;max-width:960px;
  color:#222;background:#f6f6f6}
h1{font-size:20px;margin:4px 0}
h2{font-size:17px;margin:16px 0 6px}
small{color:#666;font-weight:normal}
.alert{background:#fff;border-left:6px solid #c00;border-radius:4px;margin:6px 0;padding:6px 10px}
.alert.acknowledged{border-color:#d80}
.alert.escalated{border-color:#a0a}
.alert.pending{border-color:#cc0}
.alert.silenced,.alert.inhibited,.alert.muted{border-color:#999;opacity:.85}
.s{display:inline-block;font-size:12px;border-radius:8px;padding:0 6px;margin-left:4px;
  color:#fff;background:#c00}
.s.acknowledged{background:#d80}
.s.escalated{background:#a0a}
.s.pending{background:#aa0}
.s.silenced,.s.inhibited,.s.muted{background:#777}
.dev{color:#444}
.meta{color:#555;font-size:13px}
.l{background:#eee;border-radius:3px;padding:0 3px;margin-right:3px;word-break:break-all}
p{margin:2px 0}
ul{margin:2px 0;padding-left:18px;font-size:13px}
form.act{display:flex;flex-wrap:wrap;gap:4px;margin-top:4px}
form.act input{flex:1 1 12em;min-width:0}
button,select,input{font:inherit;padding:4px 8px}
output{flex-basis:100%;font-size:13px}
output.err{color:#c00}
"""

#: the buttons: JSON posts to the API with the browser's credentials, then a reload
SCRIPT = """\
const USER = document.body.dataset.user;
async function post(path, body, out) {
  out.className = ""; out.textContent = "sending…";
  try {
    const r = await fetch(path, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    const j = await r.json().catch(() => ({}));
    if (!r.ok) {
      out.className = "err"; out.textContent = j.error || ("HTTP " + r.status); return;
    }
    out.textContent = "done"; location.reload();
  } catch (e) { out.className = "err"; out.textContent = String(e); }
}
document.addEventListener("submit", (ev) => ev.preventDefault());
document.addEventListener("click", (ev) => {
  const b = ev.target.closest("button"); if (!b) return;
  const f = b.closest("form.act"); const out = f.querySelector("output");
  const comment = f.elements.comment.value.trim();
  if (b.classList.contains("ack")) {
    post("api/v1/alerts/" + f.dataset.fp + "/ack", {createdBy: USER, comment}, out);
  } else if (b.classList.contains("silence")) {
    if (!comment) {
      out.className = "err"; out.textContent = "a silence needs a comment"; return;
    }
    const labels = JSON.parse(f.dataset.labels);
    const matchers = Object.keys(labels).map((name) =>
      ({name, value: labels[name], isRegex: false, isEqual: true}));
    post("api/v1/silences", {matchers, duration: f.elements.duration.value,
      createdBy: USER, comment}, out);
  }
});
// refresh every 30 s unless someone is typing
setInterval(() => {
  const typing = [...document.querySelectorAll("form.act input")].some((i) => i.value);
  if (!typing && !document.activeElement.closest("form")) location.reload();
}, 30000);
"""


@dataclass(frozen=True)
class Row:
    """One alert as the page shows it: its states, the first the one that decides its
    colour and place, and the notes that say by whom or what."""

    alert: Alert
    states: tuple[str, ...]   # e.g. ("escalated", "firing"), ("acknowledged", "escalated")
    notes: tuple[str, ...]    # who acked, which silence, which interval, which level

    @property
    def rank(self) -> int:
        return STATE_ORDER.index(self.states[0])

    @property
    def handled(self) -> bool:
        """Pending, acknowledged or muted: nobody needs to act on it now."""
        return self.rank > STATE_ORDER.index("firing")


#: the label that says which one an inhibiting alert is, in order of preference
_SOURCE_LABELS = ("window", "device", "site")


def _source(fingerprint: str, sources: Mapping[str, Alert]) -> str:
    """An inhibiting alert by name: ``MaintenanceWindow window=ups-replacement``."""
    src = sources.get(fingerprint)
    if src is None:
        return "1 alert"
    which = next((f" {k}={src.labels[k]}" for k in _SOURCE_LABELS if src.labels.get(k)), "")
    return src.labels.get("alertname", "alert") + which


def row(alert: Alert, mute: dict[str, list[str]], escalation: dict[str, Any] | None,
        sources: Mapping[str, Alert] | None = None) -> Row:
    """What the page says about one alert, from the API's mute status and escalation;
    ``sources`` (alerts by fingerprint) name the alerts that inhibit it (a maintenance
    window by its name)."""
    notes: list[str] = []
    muted = [state for state, _ in _MUTES if mute.get(state)]
    for state, said in _MUTES:
        if mute.get(state):
            if state != "inhibited":
                what = ", ".join(mute[state])
            elif sources is None:
                what = f"{len(mute[state])} alert(s)"
            else:
                what = ", ".join(_source(fp, sources) for fp in mute[state])
            notes.append(said + what)
    acked = alert.state == "firing" and bool(mute.get("acked"))
    if acked:
        notes.append("acknowledged by " + mute["acked"][0])
    escalated = bool(escalation and escalation["level"] > 0)
    if escalation and escalated:
        notes.append(f"escalated to level {escalation['level']} of {escalation['levels']} "
                     f"({', '.join(escalation['escalatedTo'])})")
    if alert.state == "pending":
        primary = "pending"
    elif muted:
        primary = muted[0]
    elif acked:
        primary = "acknowledged"
    else:
        primary = "escalated" if escalated else "firing"
        if escalation and escalation["nextReceiver"]:
            notes.append(f"escalates to {escalation['nextReceiver']} at "
                         f"{escalation['nextLevelAt']} unless acknowledged")
    others = [*muted, *(["acknowledged"] if acked else []), *(["escalated"] if escalated else [])]
    if alert.state == "firing" and primary != "firing":
        others.insert(0, "firing")
    states = [primary, *[s for s in others if s != primary]]
    return Row(alert, tuple(states), tuple(notes))


def _links(alert: Alert) -> str:
    """Links to the alert's source query and runbook: http(s) only (a label or
    annotation must not smuggle in a ``javascript:`` URL), opened without a referrer."""
    found = [("source", alert.generator_url),
             ("runbook", alert.annotations.get("runbook_url", ""))]
    return "".join(f' <a href="{escape(url)}" rel="noopener noreferrer">{name}</a>'
                   for name, url in found if url.lower().startswith(("http://", "https://")))


def _alert_html(r: Row, now: float, writer: bool) -> str:
    a = r.alert
    labels = " ".join(f'<span class="l">{escape(k)}={escape(v)}</span>'
                      for k, v in sorted(a.labels.items())
                      if k not in ("alertname", "site", "device"))
    badges = "".join(f'<b class="s {s}">{s}</b>' for s in r.states)
    summary = a.annotations.get("summary") or a.annotations.get("description") or ""
    notes = "".join(f"<li>{escape(n)}</li>" for n in r.notes)
    actions = ""
    if writer and a.state == "firing":
        ack = ("" if "acknowledged" in r.states else
               f'<button type="button" class="ack" data-fp="{a.fingerprint}">'
               "Acknowledge</button>")
        actions = (
            f'<form class="act" data-fp="{a.fingerprint}" '
            f'data-labels="{escape(json.dumps(a.labels, sort_keys=True))}">'
            f'<input name="comment" placeholder="comment (required to silence)" '
            f'aria-label="comment">'
            '<select name="duration" aria-label="silence for">'
            '<option>1h</option><option selected>4h</option><option>24h</option></select>'
            f'{ack}<button type="button" class="silence">Silence</button>'
            '<output></output></form>')
    return (f'<article class="alert {r.states[0]}" id="a-{a.fingerprint}" '
            f'data-states="{" ".join(r.states)}">'
            f'<header><strong>{escape(a.name)}</strong> '
            f'<span class="dev">{escape(a.labels.get("device", ""))}</span>{badges}</header>'
            f'<p>{escape(summary)}</p>'
            f'<p class="meta">for {format_duration(now - a.starts_at)} {labels}{_links(a)}</p>'
            f'{f"<ul>{notes}</ul>" if notes else ""}{actions}</article>')


def render(rows: Sequence[Row], *, now: float, writer: bool, user: str, can_sign_in: bool,
           nonce: str, title: str = "wardops alerter") -> str:
    """The whole page. ``writer``: show the buttons; ``user``: ``createdBy`` of what they
    post; ``can_sign_in``: offer the sign-in link to a reader (writes are configured)."""
    by_site: dict[str, list[Row]] = {}
    for r in rows:
        by_site.setdefault(r.alert.labels.get("site") or NO_SITE, []).append(r)
    for site_rows in by_site.values():
        site_rows.sort(key=lambda r: (r.rank, r.alert.starts_at))

    def site_key(item: tuple[str, list[Row]]) -> tuple[int, int, str]:
        # the site of the most urgent alert first (escalated, then firing), then the busiest
        return min(r.rank for r in item[1]), -len(item[1]), item[0]

    counts = {s: sum(s in r.states for r in rows) for s in STATE_ORDER}
    summary = " · ".join(f'<b class="s {s}">{counts[s]} {s}</b>' for s in STATE_ORDER
                         if counts[s])
    sections = []
    for site, site_rows in sorted(by_site.items(), key=site_key):
        unhandled = sum(not r.handled for r in site_rows)
        sections.append(
            f'<section data-site="{escape(site)}"><h2>{escape(site)} '
            f'<small>{len(site_rows)} alert(s){f", {unhandled} unhandled" if unhandled else ""}'
            f'</small></h2>{"".join(_alert_html(r, now, writer) for r in site_rows)}</section>')
    if writer:
        who = f'<p class="who">Signed in as <b>{escape(user)}</b> (writer).</p>'
    elif can_sign_in:
        who = ('<p class="who">Read-only. <a href="?signin">Sign in</a> as a writer to '
               "acknowledge and silence.</p>")
    else:
        who = '<p class="who">Read-only.</p>'
    body = "".join(sections) or '<p class="none">No active alerts.</p>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>
{STYLE}</style></head>
<body data-user="{escape(user)}"><h1>{escape(title)}</h1>
<p>{summary or "nothing firing"} <small>at {escape(_clock(now))} UTC</small></p>
{who}
<main>{body}</main>
<script nonce="{nonce}">
{SCRIPT}</script></body></html>
"""


def _clock(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S")


def headers(nonce: str) -> dict[str, str]:
    """The page's headers: its script by nonce only, nothing loaded from elsewhere, never
    framed (the buttons must not be clickjacked), never cached."""
    return {"Content-Security-Policy": (
                "default-src 'none'; style-src 'unsafe-inline'; "
                f"script-src 'nonce-{nonce}'; connect-src 'self'; frame-ancestors 'none'; "
                "base-uri 'none'; form-action 'none'"),
            "X-Frame-Options": "DENY", "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
