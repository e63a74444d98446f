"""What Alertmanager itself refuses in an alertmanager.yml, for the importer.

``import-alertmanager-config`` must not convert a file Alertmanager would not load: the
operator would get a wardops config from input that never worked. Alertmanager's
``config.Load`` checks more than the YAML schema (``Config.UnmarshalYAML`` in its
``config/config.go`` and each integration's ``UnmarshalYAML`` in ``notifiers.go``):
secrets given twice, integrations without the key or URL they need (and no global
default), receiver names given twice, routes to receivers or time intervals that do not
exist. ``refusal`` repeats those checks in Alertmanager's words (0.25's, Debian's), so
the message reads as ``amtool check-config``'s. The field lists of the integrations the
importer does not convert (``UNCONVERTED_FIELDS``) are Alertmanager 0.25's plus those
added up to 0.28, so a typo there is an error as in Alertmanager, not a silent loss.
``tests/alerter/test_am_testdata.py`` runs Alertmanager's own config test data through
``amtool check-config`` and the importer and compares the verdicts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

_HTTP = {"send_resolved", "http_config"}
#: fields of the integrations wardops does not convert (Alertmanager 0.25 to 0.28);
#: None: no field check (an integration newer than Debian's Alertmanager)
UNCONVERTED_FIELDS: dict[str, set[str] | None] = {
    "pagerduty_configs": _HTTP | {
        "service_key", "service_key_file", "routing_key", "routing_key_file", "url",
        "client", "client_url", "description", "details", "images", "links", "source",
        "severity", "class", "component", "group", "timeout"},
    "opsgenie_configs": _HTTP | {
        "api_key", "api_key_file", "api_url", "message", "description", "source", "details",
        "entity", "responders", "actions", "tags", "note", "priority", "update_alerts"},
    "victorops_configs": _HTTP | {
        "api_key", "api_key_file", "api_url", "routing_key", "message_type", "state_message",
        "entity_display_name", "monitoring_tool", "custom_fields"},
    "pushover_configs": _HTTP | {
        "user_key", "user_key_file", "token", "token_file", "title", "message", "url",
        "url_title", "device", "sound", "priority", "retry", "expire", "ttl", "html",
        "monospace"},
    "sns_configs": _HTTP | {
        "api_url", "sigv4", "topic_arn", "phone_number", "target_arn", "subject", "message",
        "attributes"},
    "wechat_configs": _HTTP | {
        "api_secret", "api_secret_file", "corp_id", "message", "api_url", "to_user",
        "to_party", "to_tag", "agent_id", "message_type"},
    "webex_configs": _HTTP | {"api_url", "message", "room_id"},
    "discord_configs": _HTTP | {"webhook_url", "webhook_url_file", "title", "message"},
    "msteamsv2_configs": _HTTP | {"webhook_url", "webhook_url_file", "title", "text"},
    "jira_configs": None,
    "rocketchat_configs": None,
}

#: (global key, its _file twin): at most one of them (Config.UnmarshalYAML)
_GLOBAL_TWINS = (("slack_api_url", "slack_api_url_file"),
                 ("opsgenie_api_key", "opsgenie_api_key_file"),
                 ("victorops_api_key", "victorops_api_key_file"),
                 ("smtp_auth_password", "smtp_auth_password_file"))


def _q(value: object) -> str:
    """Go's ``%q`` of a name (double quotes, JSON-style escapes)."""
    return json.dumps(str(value), ensure_ascii=False)


def _set(value: object) -> bool:
    """Whether Go would see the field as set (not absent, null or empty)."""
    return value not in (None, "", [], {})


def _has(raw: Mapping[str, Any], *keys: str) -> bool:
    return any(_set(raw.get(k)) for k in keys)


def _integration(kind: str, raw: Mapping[str, Any], glob: Mapping[str, Any]) -> str | None:
    """The first thing Alertmanager refuses in one integration of ``kind``."""
    if kind == "email_configs":
        if not _set(raw.get("to")):
            return "missing to address in email config"
        if not _set(raw.get("smarthost")) and not _set(glob.get("smtp_smarthost")):
            return "no global SMTP smarthost set"
        if not _set(raw.get("from")) and not _set(glob.get("smtp_from")):
            return "no global SMTP from set"
    elif kind == "slack_configs":
        if _has(raw, "api_url") and _has(raw, "api_url_file"):
            return "at most one of api_url & api_url_file must be configured"
        if not _has(raw, "api_url", "api_url_file") and \
                not _has(glob, "slack_api_url", "slack_api_url_file"):
            return "no global Slack API URL set either inline or in a file"
    elif kind == "webhook_configs":
        if not _has(raw, "url", "url_file"):
            return "missing URL in webhook config"
        if _has(raw, "url") and _has(raw, "url_file"):
            return "at most one of url & url_file must be configured"
    elif kind == "telegram_configs":
        if not _has(raw, "bot_token", "bot_token_file"):
            return "missing bot_token on telegram_config"
        if not _has(raw, "chat_id"):
            return "missing chat_id on telegram_config"
    elif kind in ("msteams_configs", "msteamsv2_configs", "discord_configs"):
        if not _has(raw, "webhook_url", "webhook_url_file"):
            return "one of webhook_url or webhook_url_file must be configured"
    elif kind == "pagerduty_configs":
        if not _has(raw, "service_key", "service_key_file", "routing_key", "routing_key_file"):
            return "missing service or routing key in PagerDuty config"
    elif kind == "opsgenie_configs":
        if _has(raw, "api_key") and _has(raw, "api_key_file"):
            return "at most one of api_key & api_key_file must be configured"
        if not _has(raw, "api_key", "api_key_file") and \
                not _has(glob, "opsgenie_api_key", "opsgenie_api_key_file"):
            return "no global OpsGenie API Key set either inline or in a file"
    elif kind == "victorops_configs":
        if not _has(raw, "routing_key"):
            return "missing Routing key in VictorOps config"
        if _has(raw, "api_key") and _has(raw, "api_key_file"):
            return "at most one of api_key & api_key_file must be configured"
        if not _has(raw, "api_key", "api_key_file") and \
                not _has(glob, "victorops_api_key", "victorops_api_key_file"):
            return "no global VictorOps API Key set"
    elif kind == "pushover_configs":
        if not _has(raw, "user_key", "user_key_file"):
            return "missing user key in Pushover config"
        if not _has(raw, "token", "token_file"):
            return "missing token in Pushover config"
    elif kind == "sns_configs":
        if not _has(raw, "target_arn", "topic_arn", "phone_number"):
            return "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config"
    elif kind == "wechat_configs":
        if not _has(raw, "api_secret", "api_secret_file") and not _has(glob, "wechat_api_secret"):
            return "no global Wechat ApiSecret set"
        if not _has(raw, "corp_id") and not _has(glob, "wechat_api_corp_id"):
            return "no global Wechat CorpID set"
    elif kind == "webex_configs":
        if not _has(raw, "room_id"):
            return "missing room_id on webex_config"
    return None


def _routes(route: Mapping[str, Any], path: str) -> Iterator[tuple[Mapping[str, Any], str]]:
    yield route, path
    for i, child in enumerate(route.get("routes") or []):
        if isinstance(child, Mapping):
            yield from _routes(child, f"{path}.routes[{i}]")


def _null_regex(raw: Mapping[str, Any], path: str, keys: tuple[str, ...]) \
        -> tuple[str, str] | None:
    for key in keys:
        mapping = raw.get(key)
        if isinstance(mapping, Mapping):
            for name, value in mapping.items():
                if value is None:  # Go's Regexp pointer stays nil
                    return f"{path}.{key}.{name}", f"invalid regexp value for {_q(name)}"
    return None


def refusal(doc: Mapping[str, Any]) -> tuple[str, str] | None:
    """(path, Alertmanager's message) for the first check Alertmanager's ``config.Load``
    fails on ``doc`` (whose keys are already known to be in its schema), or None."""
    glob = doc.get("global") or {}
    if isinstance(glob, Mapping):
        for key, twin in _GLOBAL_TWINS:
            if _set(glob.get(key)) and _set(glob.get(twin)):
                return "global", f"at most one of {key} & {twin} must be configured"
    else:
        glob = {}
    names: set[str] = set()
    for i, rcv in enumerate(doc.get("receivers") or []):
        if not isinstance(rcv, Mapping):
            continue
        path = f"receivers[{i}]"
        if rcv.get("name") in names:
            return path, f"notification config name {_q(rcv.get('name'))} is not unique"
        names.add(str(rcv.get("name")))
        for kind, items in rcv.items():
            for j, item in enumerate(items if isinstance(items, list) else []):
                problem = _integration(kind, item, glob) if isinstance(item, Mapping) else None
                if problem:
                    return f"{path}.{kind}[{j}]", problem
    intervals = {str(t.get("name")) for key in ("time_intervals", "mute_time_intervals")
                 for t in doc.get(key) or [] if isinstance(t, Mapping)}
    root = doc.get("route")
    if isinstance(root, Mapping):
        if not _set(root.get("receiver")):
            return "route", "root route must specify a default receiver"
        if root.get("continue"):
            return "route", "cannot have continue in root route"
        if _has(root, "matchers", "match", "match_re"):
            return "route", "root route must not have any matchers"
        for route, path in _routes(root, "route"):
            found = _null_regex(route, path, ("match_re",))
            if found:
                return found
            receiver = route.get("receiver")
            if _set(receiver) and str(receiver) not in names:
                return path, f"undefined receiver {_q(receiver)} used in route"
            for key in ("mute_time_intervals", "active_time_intervals"):
                for name in route.get(key) or []:
                    if str(name) not in intervals:
                        return f"{path}.{key}", \
                            f"undefined time interval {_q(name)} used in route"
    for i, rule in enumerate(doc.get("inhibit_rules") or []):
        if isinstance(rule, Mapping):
            found = _null_regex(rule, f"inhibit_rules[{i}]",
                                ("source_match_re", "target_match_re"))
            if found:
                return found
    return None
