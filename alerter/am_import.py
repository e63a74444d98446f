"""``wardops-alerter import-alertmanager-config FILE``: alertmanager.yml → wardops alerter config.

Converts what has a wardops equivalent and names everything else:

- ``route`` tree: ``receiver``, ``group_by``, ``group_wait``, ``group_interval``,
  ``repeat_interval``, ``continue``, ``routes``, ``mute_time_intervals``,
  ``active_time_intervals``, and ``matchers`` plus the older ``match`` / ``match_re``
  (turned into matchers);
- ``time_intervals`` and the deprecated top-level ``mute_time_intervals`` (both become
  ``time_intervals``, in the same syntax);
- ``inhibit_rules``: ``source_matchers`` / ``target_matchers`` / ``equal`` and the older
  ``source_match(_re)`` / ``target_match(_re)``;
- receivers: ``webhook_configs`` (``url``/``url_file``, ``send_resolved``,
  ``max_alerts``, ``http_config``: credentials, ``tls_config``, ``proxy_url``,
  ``follow_redirects``, also from ``global.http_config``),
  ``slack_configs`` (``api_url``/``api_url_file`` or ``global.slack_api_url``: our slack
  format), ``telegram_configs`` and ``msteams_configs`` (our telegram and teams formats),
  ``email_configs`` (every field, with the ``global.smtp_*`` defaults filled in; ``html``,
  ``text`` and ``headers`` templates, with Alertmanager's data and functions, kept when
  wardops's Go-template engine runs them, else the default body or subject, with a
  warning).

Everything else Alertmanager knows (PagerDuty, Opsgenie ..., Go templates,
OAuth2) is reported on stderr, one line each, naming the field.
A key Alertmanager does not know (a typo such as ``routez``) is an error, as in
Alertmanager itself. The YAML goes to stdout, with a ``# NOT CONVERTED here: ...`` comment
above every receiver that lost integrations, so the loss is visible where it matters.
Exit status: 0 when every receiver a route uses still has an integration (warnings
allowed); 1 "converted with losses" when a receiver that routes send alerts to has
nothing left (those alerts would go nowhere); 2 when the file cannot be read or is not a
valid Alertmanager config (the message names the file and the field's path).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from alerter.am_checks import UNCONVERTED_FIELDS, refusal
from alerter.notify.config import parse_notify_config
from alerter.notify.email.config import check_template
from alerter.notify.matchers import Matcher, parse_matchers
from wardops_common.httpclient import TLS_KEYS
from wardops_common.yamlfile import ConfigError, read_yaml

ROUTE_TIMERS = ("group_wait", "group_interval", "repeat_interval")
ROUTE_KEYS = {"receiver", "group_by", "continue", "routes", "matchers", "match", "match_re",
              "mute_time_intervals", "active_time_intervals", *ROUTE_TIMERS}
UNSUPPORTED_INTEGRATIONS = tuple(UNCONVERTED_FIELDS)
GO_TEMPLATE = "{{"
_COMMON = {"send_resolved", "http_config"}
#: fields of the integrations the importer converts (Alertmanager 0.25 to 0.28)
AM_INTEGRATIONS: dict[str, set[str]] = {
    "webhook_configs": _COMMON | {"url", "url_file", "max_alerts", "timeout"},
    "slack_configs": _COMMON | {
        "api_url", "api_url_file", "channel", "username", "color", "title", "title_link",
        "pretext", "text", "fields", "short_fields", "footer", "fallback", "callback_id",
        "icon_emoji", "icon_url", "image_url", "thumb_url", "link_names", "mrkdwn_in",
        "actions", "timeout"},
    "telegram_configs": _COMMON | {
        "api_url", "bot_token", "bot_token_file", "chat_id", "message_thread_id", "message",
        "disable_notifications", "parse_mode"},
    "msteams_configs": _COMMON | {"webhook_url", "webhook_url_file", "title", "summary",
                                  "text"},
    "email_configs": {
        "send_resolved", "to", "from", "smarthost", "hello", "auth_username", "auth_password",
        "auth_password_file", "auth_secret", "auth_secret_file", "auth_identity",
        "require_tls", "tls_config", "headers", "html", "text", "threading"},
}

#: the Alertmanager releases whose configuration syntax the importer knows
AM_VERSIONS = "Alertmanager 0.25 to 0.28"
# Alertmanager's config schema (0.25, Debian's, plus fields of later releases): it rejects
# any other key, so an unknown key means the file is not a valid alertmanager.yml (a typo
# such as `routez` would otherwise silently drop the whole route tree).
AM_TOP = {"global", "route", "inhibit_rules", "receivers", "templates",
          "mute_time_intervals", "time_intervals"}
AM_GLOBAL = {"resolve_timeout", "http_config", "smtp_from", "smtp_hello", "smtp_smarthost",
             "smtp_auth_username", "smtp_auth_password", "smtp_auth_password_file",
             "smtp_auth_secret", "smtp_auth_identity", "smtp_require_tls", "smtp_tls_config",
             "slack_api_url", "slack_api_url_file", "victorops_api_key",
             "victorops_api_key_file", "victorops_api_url", "pagerduty_url",
             "opsgenie_api_key", "opsgenie_api_key_file", "opsgenie_api_url",
             "wechat_api_url", "wechat_api_secret", "wechat_api_corp_id", "telegram_api_url",
             "webex_api_url", "jira_api_url", "rocketchat_api_url", "rocketchat_api_token",
             "rocketchat_api_token_file", "rocketchat_api_token_id",
             "rocketchat_api_token_id_file"}
AM_ROUTE = ROUTE_KEYS
AM_NAMED_INTERVAL = {"name", "time_intervals"}
AM_INTERVAL = {"times", "weekdays", "days_of_month", "months", "years", "location"}
AM_INHIBIT = {"source_match", "source_match_re", "source_matchers", "target_match",
              "target_match_re", "target_matchers", "equal"}
AM_RECEIVER = {"name", "webhook_configs", "slack_configs", "telegram_configs",
               "msteams_configs", "email_configs", *UNSUPPORTED_INTEGRATIONS}
AM_HTTP = {"authorization", "basic_auth", "bearer_token", "bearer_token_file", "oauth2",
           "proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header",
           "tls_config", "follow_redirects", "enable_http2", "http_headers"}
AM_NOTIFIER = {"send_resolved", "http_config"}
AM_WEBHOOK = AM_NOTIFIER | {"url", "url_file", "max_alerts", "timeout"}
AM_SLACK = AM_NOTIFIER | {"api_url", "api_url_file", "channel", "username", "color", "title",
                          "title_link", "pretext", "text", "fields", "short_fields", "footer",
                          "fallback", "callback_id", "icon_emoji", "icon_url", "image_url",
                          "thumb_url", "link_names", "mrkdwn_in", "actions", "app_token",
                          "app_token_file", "app_url", "timeout", "message_text"}
AM_TELEGRAM = AM_NOTIFIER | {"api_url", "bot_token", "bot_token_file", "chat_id", "message",
                             "disable_notifications", "parse_mode", "message_thread_id"}
AM_TEAMS = AM_NOTIFIER | {"webhook_url", "webhook_url_file", "title", "summary", "text"}
AM_EMAIL = {"send_resolved", "to", "from", "hello", "smarthost", "auth_username",
            "auth_password", "auth_password_file", "auth_secret", "auth_secret_file",
            "auth_identity", "headers", "html", "text", "require_tls", "tls_config",
            "force_implicit_tls", "threading"}
#: an email_configs field -> the global default Alertmanager fills it from
EMAIL_GLOBALS = {"from": "smtp_from", "smarthost": "smtp_smarthost", "hello": "smtp_hello",
                 "auth_username": "smtp_auth_username", "auth_password": "smtp_auth_password",
                 "auth_password_file": "smtp_auth_password_file",
                 "auth_secret": "smtp_auth_secret", "auth_identity": "smtp_auth_identity",
                 "require_tls": "smtp_require_tls", "tls_config": "smtp_tls_config"}


def clock_text(value: object) -> object:
    """A clock time as Alertmanager read it: YAML 1.1 makes an unquoted ``10:00`` the
    base-60 number 600, Alertmanager's YAML library keeps the text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value // 60:02d}:{value % 60:02d}"
    return value


class ConversionError(ConfigError):
    """The input cannot be converted at all (exit 2)."""


class Converter:
    """One conversion; ``warnings`` collects what was not converted."""

    def __init__(self, source: str, texts: Mapping[str, str] | None = None) -> None:
        self.source = source
        #: source text of unquoted bool/int/float scalars by path (``load_yaml``'s texts)
        self.texts: Mapping[str, str] = texts or {}
        self.warnings: list[str] = []
        self.global_: Mapping[str, Any] = {}
        self.dropped: dict[str, list[str]] = {}  # receiver name -> what it lost
        self.emptied: list[str] = []  # receivers with integrations before, none now
        self.used_globals: set[str] = set()  # global defaults an integration took

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(f"{self.source}: {where}: {message}")

    def known_keys(self, raw: Mapping[str, Any], path: str, known: set[str]) -> None:
        """Reject a key Alertmanager does not know (its path, and a close match if any)."""
        for key in raw:
            if key not in known:
                where = f"{path}.{key}" if path else str(key)
                close = difflib.get_close_matches(str(key), sorted(known), n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise ConversionError(f"{self.source}: {where}: unknown field: not in the "
                                      f"configuration of {AM_VERSIONS}, which rejects "
                                      f"it{hint}")

    # --- matchers ------------------------------------------------------------------------------

    def matchers(self, raw: Mapping[str, Any], path: str, new: str, old: str,
                 old_re: str) -> list[str]:
        """``new`` (matcher strings) plus ``old`` / ``old_re`` (label → value maps)."""
        result: list[Matcher] = []
        items = raw.get(new) or []
        if not isinstance(items, list):
            raise ConversionError(f"{self.source}: {path}.{new}: must be a list of matchers")
        for i, text in enumerate(items):
            try:
                result.extend(parse_matchers(text))
            except ValueError as exc:
                raise ConversionError(f"{self.source}: {path}.{new}[{i}]: {exc}") from None
        for key, op in ((old, "="), (old_re, "=~")):
            mapping = raw.get(key) or {}
            if not isinstance(mapping, Mapping):
                raise ConversionError(f"{self.source}: {path}.{key}: must be a mapping of "
                                   "label name to value")
            for name, value in mapping.items():
                text = self.scalar_text(value, f"{path}.{key}.{name}")
                try:
                    result.append(Matcher(self.key_text(name, f"{path}.{key}.{name}"), op,
                                          text))
                except ValueError as exc:
                    raise ConversionError(f"{self.source}: {path}.{key}.{name}: {exc}") from None
        return [str(m) for m in result]

    def scalar_text(self, value: object, path: str) -> str:
        """A ``match``/``match_re`` value as Alertmanager reads it: Go's YAML gives a
        string field the scalar's text as written (``0.50``, ``true``, ``yes``, ``0x1F``;
        ``null`` is empty), which the reader kept (``texts``). Where it did not (a value
        brought in by a ``<<`` merge) the usual spelling is used, with a warning."""
        if isinstance(value, str):
            return value
        if value is None:
            self.warn(path, "null: matches an empty or missing label, as in Alertmanager")
            return ""
        if path in self.texts:
            return self.texts[path]
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        else:
            raise ConversionError(f"{self.source}: {path}: must be a label value")
        self.warn(path, f"unquoted {type(value).__name__} {value!r} converted as {text!r}; "
                        "Alertmanager compares the text as written in the file: quote it "
                        "there (e.g. '0.50') to be sure")
        return text

    def key_text(self, key: object, path: str) -> str:
        """A mapping key as Go reads it into a string: an unquoted ``on``, ``yes`` or ``1``
        is the label name ``on``, ``yes``, ``1`` (PyYAML makes it True or 1)."""
        if isinstance(key, str):
            return key
        if path + "#key" in self.texts:
            return self.texts[path + "#key"]
        raise ConversionError(f"{self.source}: {path}: the key {key!r} is not text and its "
                              "spelling is lost (a << merge): quote it")

    def name_text(self, value: object, path: str) -> object:
        """A name as Go reads it into a string: an unquoted ``off`` or ``1`` is its text."""
        return self.texts.get(path, value) if not isinstance(value, str) else value

    # --- route tree ---------------------------------------------------------------------------

    def route(self, raw: object, path: str) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            raise ConversionError(f"{self.source}: {path}: must be a mapping")
        self.known_keys(raw, path, AM_ROUTE)
        out: dict[str, Any] = {}
        if "receiver" in raw:
            out["receiver"] = self.name_text(raw["receiver"], f"{path}.receiver")
        matchers = self.matchers(raw, path, "matchers", "match", "match_re")
        if matchers:
            out["matchers"] = matchers
        if raw.get("continue"):
            out["continue"] = True
        if "group_by" in raw:
            out["group_by"] = list(raw["group_by"] or [])
        for key in ROUTE_TIMERS:
            if key in raw:
                out[key] = str(raw[key])
        for key in ("mute_time_intervals", "active_time_intervals"):
            if raw.get(key):
                out[key] = [str(name) for name in raw[key]]
        children = raw.get("routes") or []
        if children:
            out["routes"] = [self.route(child, f"{path}.routes[{i}]")
                             for i, child in enumerate(children)]
        return out

    # --- receivers ----------------------------------------------------------------------------

    def http_config(self, raw: Mapping[str, Any], path: str) -> dict[str, Any]:
        """A receiver's ``http_config`` (or ``global.http_config``) as the alerter's
        http_config keys beside the URL: credentials, ``tls_config``, ``proxy_url``,
        ``follow_redirects``; what has no equivalent is reported."""
        http = raw.get("http_config")
        where = f"{path}.http_config"
        if http is None:
            http, where = self.global_.get("http_config"), "global.http_config"
            self.used_globals.add("http_config")
        if not http:
            return {}
        if not isinstance(http, Mapping):
            raise ConversionError(f"{self.source}: {where}: must be a mapping")
        self.known_keys(http, where, AM_HTTP)
        out: dict[str, Any] = {}
        for key, value in http.items():
            if key == "basic_auth" and isinstance(value, Mapping):
                out[key] = {k: value[k] for k in ("username", "password", "password_file")
                            if k in value}
            elif key == "authorization" and isinstance(value, Mapping):
                out[key] = {k: value[k] for k in ("type", "credentials", "credentials_file")
                            if k in value}
            elif key in ("bearer_token", "bearer_token_file", "proxy_url", "follow_redirects"):
                out[key] = value
            elif key == "tls_config" and isinstance(value, Mapping):
                out[key] = {k: value[k] for k in TLS_KEYS if k in value}
                for extra in sorted(set(value) - set(TLS_KEYS)):
                    self.warn(f"{where}.tls_config.{extra}", "not converted")
            elif key != "enable_http2":  # HTTP/2 or 1.1: the same requests either way
                self.warn(f"{where}.{key}", "not converted")
        if "bearer_token" in out or "password" in out.get("basic_auth", {}) \
                or "credentials" in out.get("authorization", {}):
            self.warn(where, "carries a literal secret; consider moving it to a *_file")
        return out

    def webhook(self, raw: Mapping[str, Any], path: str) -> dict[str, Any] | None:
        self.mapping(raw, path, AM_WEBHOOK)
        out: dict[str, Any] = {}
        for key in ("url", "url_file"):
            if key in raw:
                out[key] = raw[key]
        if not out:
            self.warn(path, "no url or url_file; skipped")
            return None
        for key in ("send_resolved", "max_alerts"):
            if key in raw:
                out[key] = raw[key]
        out.update(self.http_config(raw, path))
        for key in sorted(set(raw) - {"url", "url_file", "send_resolved", "max_alerts",
                                      "http_config"}):
            self.warn(f"{path}.{key}", "not converted")
        return out

    def slack(self, raw: Mapping[str, Any], path: str) -> dict[str, Any] | None:
        self.mapping(raw, path, AM_SLACK)
        out: dict[str, Any] = {"format": "slack"}
        if "api_url" in raw and "api_url_file" in raw:  # Alertmanager refuses it too
            raise ConversionError(f"{self.source}: {path}: at most one of api_url and "
                                  "api_url_file must be configured")
        if "api_url" in raw:
            out["url"] = raw["api_url"]
        elif "api_url_file" in raw:
            out["url_file"] = raw["api_url_file"]
        elif "slack_api_url" in self.global_:
            out["url"] = self.global_["slack_api_url"]
            self.used_globals.add("slack_api_url")
        elif "slack_api_url_file" in self.global_:
            out["url_file"] = self.global_["slack_api_url_file"]
            self.used_globals.add("slack_api_url_file")
        else:
            self.warn(path, "no api_url (nor global.slack_api_url); skipped")
            return None
        out["send_resolved"] = bool(raw.get("send_resolved", False))  # Alertmanager's default
        title = raw.get("title")
        if isinstance(title, str) and GO_TEMPLATE not in title:
            out["title"] = title
        out.update(self.http_config(raw, path))
        handled = {"api_url", "api_url_file", "send_resolved", "title", "http_config"}
        for key in sorted(set(raw) - handled):
            note = ("not converted (an incoming webhook posts to its own channel)"
                    if key == "channel" else "not converted (wardops renders its own "
                    "Slack message; Go templates do not carry over)")
            self.warn(f"{path}.{key}", note)
        if isinstance(title, str) and GO_TEMPLATE in title:
            self.warn(f"{path}.title", "a Go template; not converted")
        return out

    def telegram(self, raw: Mapping[str, Any], path: str) -> dict[str, Any] | None:
        self.mapping(raw, path, AM_TELEGRAM)
        out: dict[str, Any] = {"format": "telegram"}
        for key in ("bot_token", "bot_token_file", "chat_id", "api_url", "message_thread_id",
                    "send_resolved"):
            if key in raw:
                out[key] = raw[key]
        if "chat_id" not in out or not ({"bot_token", "bot_token_file"} & set(out)):
            self.warn(path, "needs bot_token (or bot_token_file) and chat_id; skipped")
            return None
        out.update(self.http_config(raw, path))
        for key in sorted(set(raw) - set(out) - {"http_config"}):
            self.warn(f"{path}.{key}", "not converted")
        return out

    def teams(self, raw: Mapping[str, Any], path: str) -> dict[str, Any] | None:
        self.mapping(raw, path, AM_TEAMS)
        out: dict[str, Any] = {"format": "teams"}
        if "webhook_url" in raw:
            out["url"] = raw["webhook_url"]
        elif "webhook_url_file" in raw:
            out["url_file"] = raw["webhook_url_file"]
        else:
            self.warn(path, "no webhook_url; skipped")
            return None
        if "send_resolved" in raw:
            out["send_resolved"] = raw["send_resolved"]
        self.warn(path, "converted to format teams, which posts an Adaptive Card for a "
                        "Teams Workflows webhook; an old Office 365 connector URL needs "
                        "replacing")
        out.update(self.http_config(raw, path))
        for key in sorted(set(raw) - {"webhook_url", "webhook_url_file", "send_resolved",
                                      "http_config"}):
            self.warn(f"{path}.{key}", "not converted")
        return out

    def email(self, raw: Mapping[str, Any], path: str) -> dict[str, Any] | None:
        """An ``email_configs`` entry, with the ``global.smtp_*`` defaults filled in as
        Alertmanager fills them; a Go template wardops's engine cannot run (one calling a
        template of the file's own ``templates``) gives way to wardops's
        default body or subject, with a warning (Alertmanager's data and functions, as
        ``.Alerts``, run: ``alerter.notify.email.amdata``)."""
        self.mapping(raw, path, AM_EMAIL)
        out: dict[str, Any] = {}
        if raw.get("to"):
            out["to"] = raw["to"]
        # the password and its file are one setting: a local one of them replaces both
        # global ones (Alertmanager's Config.UnmarshalYAML)
        password = ("auth_password", "auth_password_file")
        own_password = any(raw.get(k) not in (None, "") for k in password)
        for key, default in EMAIL_GLOBALS.items():
            if raw.get(key) not in (None, ""):
                out[key] = raw[key]
            elif key in password and own_password:
                continue
            elif self.global_.get(default) not in (None, ""):
                out[key] = self.global_[default]
                self.used_globals.add(default)
        if not all(out.get(k) for k in ("to", "from", "smarthost")):
            self.warn(path, "needs to, from and smarthost (or global.smtp_from and "
                            "global.smtp_smarthost); skipped")
            return None
        if isinstance(out.get("tls_config"), Mapping):
            tls = out["tls_config"]
            out["tls_config"] = {k: tls[k] for k in TLS_KEYS if k in tls}
            for extra in sorted(set(tls) - set(TLS_KEYS)):
                self.warn(f"{path}.tls_config.{extra}", "not converted")
        if "send_resolved" in raw:
            out["send_resolved"] = raw["send_resolved"]
        for key in ("html", "text"):
            if isinstance(raw.get(key), str) and self.template_runs(raw[key], f"{path}.{key}",
                                                                    "the default body"):
                out[key] = raw[key]
        headers = {str(k): v for k, v in (raw.get("headers") or {}).items()
                   if isinstance(v, str) and self.template_runs(
                       v, f"{path}.headers.{k}", "the default" if str(k).lower() == "subject"
                       else "no such header")}
        if headers:
            out["headers"] = headers
        if "auth_password" in out or "auth_secret" in out:
            self.warn(path, "carries a literal secret; consider moving it to a *_file")
        for key in sorted(set(raw) & {"force_implicit_tls", "threading"}):
            self.warn(f"{path}.{key}", "not converted")
        return out

    def template_runs(self, source: str, path: str, instead: str) -> bool:
        """Whether a Go template from the file runs in wardops's engine; warns if not."""
        try:
            check_template(source, path)
        except ValueError as exc:
            self.warn(path, f"a Go template wardops cannot run ({exc}); {instead} is used")
            return False
        return True

    def mapping(self, raw: object, path: str, known: set[str]) -> None:
        """``raw`` must be a mapping of fields Alertmanager knows."""
        if not isinstance(raw, Mapping):
            raise ConversionError(f"{self.source}: {path}: must be a mapping")
        self.known_keys(raw, path, known)

    def receiver(self, raw: object, path: str) -> dict[str, Any]:
        if not isinstance(raw, Mapping) or not isinstance(
                self.name_text(raw.get("name"), f"{path}.name"), str):
            raise ConversionError(f"{self.source}: {path}: a receiver needs a name")
        self.known_keys(raw, path, AM_RECEIVER)
        name = str(self.name_text(raw["name"], f"{path}.name"))
        hooks: list[dict[str, Any]] = []
        emails: list[dict[str, Any]] = []
        kinds = {"webhook_configs": (self.webhook, hooks), "slack_configs": (self.slack, hooks),
                 "telegram_configs": (self.telegram, hooks),
                 "msteams_configs": (self.teams, hooks), "email_configs": (self.email, emails)}
        dropped: list[str] = []
        for key, value in raw.items():
            if key == "name":
                continue
            if key in kinds:
                convert, into = kinds[key]
                for i, item in enumerate(value or []):
                    if isinstance(item, Mapping):  # a typo or a foreign key is an error
                        self.known_keys(item, f"{path}.{key}[{i}]", AM_INTEGRATIONS[key])
                    converted = convert(item, f"{path}.{key}[{i}]")
                    if converted is not None:
                        into.append(converted)
                    else:
                        dropped.append(f"{key}[{i}] (incomplete)")
            elif key in UNSUPPORTED_INTEGRATIONS:
                known = UNCONVERTED_FIELDS[key]
                for i, item in enumerate(value or []):
                    self.mapping(item, f"{path}.{key}[{i}]", known or set(item))
                count = len(value or [])
                self.warn(f"{path}.{key}", f"{count} integration(s) not converted "
                          "(wardops delivers e-mail and webhooks: slack, teams, telegram, "
                          "alertmanager or a template body)")
                if count:
                    dropped.append(f"{key} ({count} integration{'s' if count > 1 else ''})")
        if dropped:
            self.dropped[name] = dropped
        if not hooks and not emails and dropped:
            self.emptied.append(name)
            self.warn(path, f"receiver {name!r} has nothing left after conversion: alerts "
                            "routed to it will not be notified")
        out: dict[str, Any] = {"name": name}
        if hooks:
            out["webhook_configs"] = hooks
        if emails:
            out["email_configs"] = emails
        return out

    # --- time intervals ------------------------------------------------------------------------

    def time_intervals(self, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``time_intervals`` and the deprecated ``mute_time_intervals`` (same shape) as one
        ``time_intervals`` list, in Alertmanager's syntax; unquoted clock times (which
        YAML 1.1 reads as base-60 numbers) are written back as the ``HH:MM`` text."""
        result: list[dict[str, Any]] = []
        for key in ("mute_time_intervals", "time_intervals"):
            for i, named in enumerate(doc.get(key) or []):
                path = f"{key}[{i}]"
                self.mapping(named, path, AM_NAMED_INTERVAL)
                entries = []
                for j, entry in enumerate(named.get("time_intervals") or []):
                    where = f"{path}.time_intervals[{j}]"
                    self.mapping(entry or {}, where, AM_INTERVAL)
                    entries.append(self.time_interval(entry or {}))
                result.append({"name": named.get("name"), "time_intervals": entries})
        return result

    @staticmethod
    def time_interval(raw: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "times" and isinstance(value, list):
                out[key] = [{k: clock_text(v) for k, v in item.items()}
                            if isinstance(item, Mapping) else item for item in value]
            elif isinstance(value, list):
                out[key] = [str(v) if isinstance(v, int) and not isinstance(v, bool) else v
                            for v in value]
            else:
                out[key] = value
        return out

    # --- inhibit rules --------------------------------------------------------------------------

    def inhibit_rule(self, raw: object, path: str) -> dict[str, Any] | None:
        if not isinstance(raw, Mapping):
            raise ConversionError(f"{self.source}: {path}: must be a mapping")
        self.known_keys(raw, path, AM_INHIBIT)
        source = self.matchers(raw, path, "source_matchers", "source_match", "source_match_re")
        target = self.matchers(raw, path, "target_matchers", "target_match", "target_match_re")
        if not source or not target:
            self.warn(path, "needs source and target matchers; skipped")
            return None
        out: dict[str, Any] = {"source_matchers": source, "target_matchers": target}
        if raw.get("equal"):
            out["equal"] = list(raw["equal"])
        return out

    # --- the whole file -------------------------------------------------------------------------

    def convert(self, doc: object) -> dict[str, Any]:
        if not isinstance(doc, Mapping):
            raise ConversionError(f"{self.source}: not an Alertmanager config (expected a mapping)")
        if "route" not in doc or "receivers" not in doc:
            raise ConversionError(f"{self.source}: not an Alertmanager config (needs route and "
                               "receivers)")
        self.known_keys(doc, "", AM_TOP)
        self.global_ = doc.get("global") or {}
        self.mapping(self.global_, "global", AM_GLOBAL)
        result = self.convert_checked(doc)
        refused = refusal(doc)  # after the schema: Alertmanager checks in that order too
        if refused:
            where, message = refused
            raise ConversionError(f"{self.source}: {where}: {message} (Alertmanager "
                                  "refuses this file)")
        return result

    def convert_checked(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """The conversion proper; unknown keys raise on the way."""
        for key in sorted(self.global_):
            if key not in ("slack_api_url", "slack_api_url_file", "resolve_timeout",
                           "http_config", *EMAIL_GLOBALS.values()):
                # http_config and smtp_*: carried into each receiver's integrations
                self.warn(f"global.{key}", "not converted")
        out: dict[str, Any] = {
            "prometheus": {"url": "http://127.0.0.1:9090"},
            "evaluation_interval": "15s",
            "route": self.route(doc["route"], "route"),
        }
        rules = [self.inhibit_rule(r, f"inhibit_rules[{i}]")
                 for i, r in enumerate(doc.get("inhibit_rules") or [])]
        if any(rules):
            out["inhibit_rules"] = [r for r in rules if r is not None]
        intervals = self.time_intervals(doc)
        if intervals:
            out["time_intervals"] = intervals
        out["receivers"] = [self.receiver(r, f"receivers[{i}]")
                            for i, r in enumerate(doc.get("receivers") or [])]
        for key in sorted(set(self.global_) - self.used_globals):
            if key in ("slack_api_url", "slack_api_url_file", "http_config",
                       *EMAIL_GLOBALS.values()) and self.global_[key] not in (None, ""):
                self.warn(f"global.{key}", "a default no converted integration uses; "
                                           "not converted")
        for key in sorted(set(doc) - {"global", "route", "inhibit_rules", "receivers",
                                      "time_intervals", "mute_time_intervals"}):
            note = {"templates": "Go templates are not converted (use a template webhook "
                                 "with a Jinja2 body)"}.get(key, "not converted")
            self.warn(key, note)
        return out


HEADER = """\
# wardops alerter config converted from {source} by
# `wardops-alerter import-alertmanager-config`. Check the warnings it printed, set
# prometheus.url, add rule_files, state_dir and api, then run
# `wardops-alerter check-config` on this file.
"""


def routed_receivers(route: Mapping[str, Any]) -> set[str]:
    """Every receiver a converted route tree sends alerts to."""
    names = {route["receiver"]} if "receiver" in route else set()
    for child in route.get("routes", []):
        names |= routed_receivers(child)
    return names


def receiver_comments(name: str, dropped: list[str], emptied: bool) -> str:
    """The comment lines put above a receiver that lost integrations."""
    lines = [f"# NOT CONVERTED here: {', '.join(dropped)}; alerts routed to {name!r} no "
             "longer reach it"]
    if emptied:
        lines.append(f"# NOTHING LEFT: alerts routed to {name!r} are NOT notified until you "
                     "add a webhook_configs entry")
    return "".join(line + "\n" for line in lines)


def dump(result: dict[str, Any], conv: Converter) -> str:
    """The converted config as YAML, each receiver preceded by what it lost (PyYAML
    writes no comments, so receivers are dumped one by one)."""
    receivers = result.pop("receivers")
    text = yaml.safe_dump(result, sort_keys=False, allow_unicode=True, width=100)
    text += "receivers:\n"
    for receiver in receivers:
        name = receiver["name"]
        if name in conv.dropped:
            text += receiver_comments(name, conv.dropped[name], name in conv.emptied)
        text += yaml.safe_dump([receiver], sort_keys=False, allow_unicode=True, width=100)
    result["receivers"] = receivers
    return text


def convert_file(path: str) -> tuple[str, list[str], list[str]]:
    """Read and convert ``path``; return (YAML text, warnings, receivers that routes use
    but that have no integration left). Raises ``ConversionError``."""
    texts: dict[str, str] = {}
    try:
        doc = read_yaml(path, texts)
    except ConfigError as exc:
        raise ConversionError(str(exc)) from None
    conv = Converter(path, texts)
    result = conv.convert(doc)
    try:
        parse_notify_config(result, base_dir=Path(path).parent)
    except ValueError as exc:
        conv.warnings.append(f"{path}: the converted config does not validate yet: {exc}")
    routed = routed_receivers(result["route"])
    lost = [name for name in conv.emptied if name in routed]
    return HEADER.format(source=path) + dump(result, conv), conv.warnings, lost


def main(args: list[str]) -> int:
    """The CLI subcommand; ``args`` are what follows its name."""
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: wardops-alerter import-alertmanager-config FILE  (YAML on stdout, "
              "what could not be converted on stderr)", file=sys.stderr)
        return 2
    try:
        text, warnings, lost = convert_file(args[0])
    except ConversionError as exc:
        print(f"import-alertmanager-config: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    if lost:
        which = (f"receiver {lost[0]!r} has" if len(lost) == 1 else
                 "receivers " + ", ".join(repr(n) for n in lost) + " have")
        print(f"import-alertmanager-config: converted with losses: {which} no integration "
              "left but routes send alerts to it (see the comments in the output)",
              file=sys.stderr)
        return 1
    return 0
