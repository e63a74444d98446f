"""Validation of the notification part of the alerter config.

Owns the top-level keys ``route`` (with wardops's ``escalation``), ``receivers``,
``inhibit_rules``, ``api``, ``templates``, ``alertmanager_templates_dir`` and
``time_intervals`` (with the older ``mute_time_intervals``).
Everything is checked while it loads (unknown keys, durations, matchers, receiver
references, time interval names, URLs, secrets present, templates compile) and every error is
a ``ValueError`` whose message starts with the field path, e.g.
``route.routes[0].matchers[1]: expected one of =, !=, =~, !~ at position 8 in 'severity'``;
the alerter's config loader puts the file name in front.
"""

from __future__ import annotations

import glob
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alerter.notify.alertmanager.config import AlertmanagerConfig, parse_alertmanager_configs
from alerter.notify.email import amdata
from alerter.notify.email.config import EmailConfig, parse_email_configs
from alerter.notify.escalation import EscalationLevel, parse_escalation
from alerter.notify.matchers import LABEL_NAME, Matcher, format_matchers, parse_matchers
from alerter.notify.timeinterval import TimeInterval, parse_named_intervals
from wardops_common.httpclient import HTTP_KEYS, HTTPClientConfig, read_http_config
from wardops_common.readers import (
    Secret,
    check_url,
    collect_missing,
    missing_input,
    read_bool,
    read_duration,
    read_each,
    read_int,
    read_list,
    read_mapping,
    read_str,
    secret,
)

NOTIFY_KEYS = ("route", "receivers", "inhibit_rules", "api", "templates",
               "alertmanager_templates_dir", "time_intervals",
               "mute_time_intervals")
FORMATS = ("alertmanager", "slack", "teams", "telegram", "template")
GROUP_BY_ALL = "..."
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]+")

__all__ = ["NOTIFY_KEYS", "ApiConfig", "EmailConfig", "InhibitRule", "Integration",
           "NotifyConfig", "Receiver", "Route",
           "WebhookConfig", "collect_missing", "missing_input", "parse_notify_config"]


@dataclass(frozen=True)
class WebhookConfig:
    """One integration of a receiver: where and in which format to deliver."""

    format: str = "alertmanager"
    url: Secret | None = None
    send_resolved: bool = True
    max_alerts: int = 0                     # 0 = all alerts in the payload
    hmac_secret: Secret | None = None
    timeout: float = 10.0                   # per attempt
    max_attempts: int = 0                   # 0 = no limit, only max_age
    max_age: float = 86400.0                # give up (dead-letter) this long after queueing
    headers: Mapping[str, str] = field(default_factory=dict)  # Jinja2 for `template`, else static
    body: str = ""                          # Jinja2 body for `template`
    content_type: str = "application/json"
    chat_id: str = ""                       # telegram
    message_thread_id: int | None = None    # telegram forum topic
    title: str = ""                         # slack/teams/telegram heading override
    #: credentials, TLS, proxy, redirects (the ``http_config`` keys beside ``url``)
    http: HTTPClientConfig = field(default_factory=HTTPClientConfig)


#: an integration the notification pipeline renders, queues and delivers
Integration = WebhookConfig | EmailConfig


@dataclass(frozen=True)
class Receiver:
    """A named set of integrations; no integration means notifications are dropped."""

    name: str
    webhook_configs: tuple[WebhookConfig, ...] = ()
    alertmanager_configs: tuple[AlertmanagerConfig, ...] = ()
    email_configs: tuple[EmailConfig, ...] = ()

    @property
    def integrations(self) -> tuple[Integration, ...]:
        """The pipeline's integrations, numbered in this order (webhooks, then e-mail):
        the number names a delivery lane and an nflog entry."""
        return (*self.webhook_configs, *self.email_configs)


@dataclass(frozen=True)
class Route:
    """A node of the routing tree, with inherited settings already filled in."""

    key: str  # unique in the tree (Alertmanager's route ID): the groups' identity
    receiver: str
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    #: Alertmanager's route Key(), which its webhook ``groupKey`` starts with: the
    #: parent's and the matchers (sorted, as Alertmanager sorts them) without the
    #: siblings' index
    am_key: str = "{}"
    group_by: tuple[str, ...] = ()
    group_by_all: bool = False
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 14400.0
    #: names of ``time_intervals`` (not inherited, as in Alertmanager): while any of
    #: ``mute_time_intervals`` is current, or none of ``active_time_intervals`` (when
    #: set), the route's groups notify nothing
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    #: wardops's own (not inherited): levels notified while a firing alert of this route
    #: stays unacknowledged (``alerter.notify.escalation``)
    escalation: tuple[EscalationLevel, ...] = ()
    routes: tuple[Route, ...] = ()


@dataclass(frozen=True)
class InhibitRule:
    """Mute ``target`` alerts while a ``source`` alert with the same ``equal`` labels fires."""

    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiConfig:
    """API settings: who may write and who may read (``alerter.httpapi`` decides).

    ``bearer_token``: the write token (None and no ``write_users``: writes refused);
    ``write_users``: users of ``--web.config.file``'s ``basic_auth_users`` who may write;
    ``read_token``: when set, reads of ``/api/*`` need it (or the write token, or any
    user the web config authenticated); None: reads are open behind the web config.
    """

    bearer_token: Secret | None = None
    read_token: Secret | None = None
    write_users: frozenset[str] = frozenset()
    max_body_bytes: int = 65536


@dataclass(frozen=True)
class NotifyConfig:
    """Validated routing, receivers, inhibition and API settings.

    ``route`` is None when the config has no ``route``: alerts are then kept and shown
    in the API but not notified. ``raw`` keeps the mappings as read.
    """

    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)  # may hold literal URLs
    route: Route | None = None
    receivers: Mapping[str, Receiver] = field(default_factory=dict)
    inhibit_rules: tuple[InhibitRule, ...] = ()
    api: ApiConfig = field(default_factory=ApiConfig)
    templates: Mapping[str, str] = field(default_factory=dict)
    #: ``time_intervals`` and the older ``mute_time_intervals``, by name
    time_intervals: Mapping[str, tuple[TimeInterval, ...]] = field(default_factory=dict)


_OP_ORDER = {"=": 0, "!=": 1, "=~": 2, "!~": 3}  # Alertmanager's MatchType values


def _matcher_order(m: Matcher) -> tuple[str, str, int]:
    """Alertmanager's sort order of a route's matchers: name, value, then type."""
    return m.name, m.value, _OP_ORDER[m.op]


def _matchers(value: object, path: str) -> tuple[Matcher, ...]:
    result: list[Matcher] = []
    for i, item in enumerate(read_list(value, path)):
        try:
            result.extend(parse_matchers(item))
        except ValueError as exc:
            raise ValueError(f"{path}[{i}]: {exc}") from None
    return tuple(result)


def _label_names(value: object, path: str) -> tuple[str, ...]:
    names = read_each(value, path, read_str)
    for i, name in enumerate(names):
        if name != GROUP_BY_ALL and not LABEL_NAME.fullmatch(name):
            raise ValueError(f"{path}[{i}]: invalid label name {name!r}")
    return tuple(names)


# --- receivers ---------------------------------------------------------------------------

_WEBHOOK_KEYS = ("format", "url", "url_env", "url_file", "send_resolved", "max_alerts",
                 "hmac_secret_env", "hmac_secret_file", "timeout", "max_attempts", "max_age",
                 "headers", "body", "content_type", "chat_id", "message_thread_id", "title",
                 "bot_token", "bot_token_env", "bot_token_file", "api_url", *HTTP_KEYS)

TELEGRAM_API = "https://api.telegram.org"


def _webhook(raw: object, path: str, base_dir: Path,
             compile_template: Callable[[str, str], None]) -> WebhookConfig:
    m = read_mapping(raw, path, _WEBHOOK_KEYS)
    fmt = m.get("format", "alertmanager")
    if fmt not in FORMATS:
        raise ValueError(f"{path}.format: unknown format {fmt!r} (use {', '.join(FORMATS)})")
    kw: dict[str, Any] = {"format": fmt}
    if fmt == "telegram":
        for key in ("url", "url_env", "url_file"):
            if key in m:
                raise ValueError(f"{path}.{key}: telegram takes bot_token/bot_token_env/"
                                 "bot_token_file and chat_id, not a URL")
        token = secret(m, path, "bot_token", base_dir, required=True)
        assert token is not None
        api_url = read_str(m.get("api_url", TELEGRAM_API), f"{path}.api_url").rstrip("/")
        url: Secret | None = Secret(f"{api_url}/bot{token.value}/sendMessage", token.source)
        if "chat_id" not in m:
            raise ValueError(f"{path}.chat_id: required for telegram")
        chat_id = m["chat_id"]
        if isinstance(chat_id, bool) or not isinstance(chat_id, (int, str)) or not str(chat_id):
            raise ValueError(f"{path}.chat_id: must be a number or an @channel name")
        kw["chat_id"] = str(chat_id)
        if "message_thread_id" in m:
            kw["message_thread_id"] = read_int(m["message_thread_id"],
                                               f"{path}.message_thread_id", 1)
    else:
        for key in ("bot_token", "bot_token_env", "bot_token_file", "api_url", "chat_id",
                    "message_thread_id"):
            if key in m:
                raise ValueError(f"{path}.{key}: only for format telegram")
        url = secret(m, path, "url", base_dir, required=True)
    assert url is not None
    check_url(url, f"{path}.url")
    kw["url"] = url
    kw["hmac_secret"] = secret(m, path, "hmac_secret", base_dir, required=False)
    if "send_resolved" in m:
        kw["send_resolved"] = read_bool(m["send_resolved"], f"{path}.send_resolved")
    if "max_alerts" in m:
        kw["max_alerts"] = read_int(m["max_alerts"], f"{path}.max_alerts")
    if "max_attempts" in m:
        kw["max_attempts"] = read_int(m["max_attempts"], f"{path}.max_attempts")
    if "timeout" in m:
        kw["timeout"] = read_duration(m["timeout"], f"{path}.timeout", positive=True)
    # a receiver behind a private CA, a proxy or a gateway wanting credentials
    kw["http"] = read_http_config(m, path, base_dir)
    if "max_age" in m:
        kw["max_age"] = read_duration(m["max_age"], f"{path}.max_age", positive=True)
    if "title" in m:
        kw["title"] = read_str(m["title"], f"{path}.title")
    headers = m.get("headers", {})
    if not isinstance(headers, Mapping):
        raise ValueError(f"{path}.headers: must be a mapping of header name to value")
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{path}.headers: invalid header name {name!r}")
        read_str(value, f"{path}.headers.{name}")
    kw["headers"] = dict(headers)
    if fmt == "template":
        if "body" not in m:
            raise ValueError(f"{path}.body: required for format template (a Jinja2 template)")
        kw["body"] = read_str(m["body"], f"{path}.body")
        kw["content_type"] = read_str(m.get("content_type", "application/json"),
                                  f"{path}.content_type")
        compile_template(kw["body"], f"{path}.body")
        for name, value in headers.items():
            compile_template(value, f"{path}.headers.{name}")
    else:
        for key in ("body", "content_type"):
            if key in m:
                raise ValueError(f"{path}.{key}: only for format template")
    return WebhookConfig(**kw)


def _receivers(raw: object, base_dir: Path, compile_template: Callable[[str, str], None],
               named: amdata.NamedTemplates) -> dict[str, Receiver]:
    receivers: dict[str, Receiver] = {}
    for i, item in enumerate(read_list(raw, "receivers")):
        path = f"receivers[{i}]"
        m = read_mapping(item, path, ("name", "webhook_configs", "alertmanager_configs",
                                      "email_configs"))
        name = read_str(m.get("name"), f"{path}.name")
        if name in receivers:
            raise ValueError(f"{path}.name: duplicate receiver {name!r}")
        hooks = read_each(m.get("webhook_configs", []), f"{path}.webhook_configs",
                      lambda v, p: _webhook(v, p, base_dir, compile_template))
        ams = parse_alertmanager_configs(m.get("alertmanager_configs", []),
                                         f"{path}.alertmanager_configs", base_dir)
        emails = parse_email_configs(m.get("email_configs", []), f"{path}.email_configs",
                                     base_dir, named)
        receivers[name] = Receiver(name, tuple(hooks), ams, emails)
    return receivers


# --- route tree --------------------------------------------------------------------------

_ROUTE_KEYS = ("receiver", "matchers", "continue", "group_by", "group_wait", "group_interval",
               "repeat_interval", "routes", "mute_time_intervals", "active_time_intervals",
               "escalation")


def _interval_names(m: Mapping[str, Any], key: str, path: str,
                    intervals: Mapping[str, object]) -> tuple[str, ...]:
    names = tuple(read_each(m.get(key) or [], f"{path}.{key}", read_str))
    for i, name in enumerate(names):
        if name not in intervals:
            raise ValueError(f"{path}.{key}[{i}]: undefined time interval {name!r} used in "
                             "route")
    return names


def _route(raw: object, path: str, parent: Route | None, parent_key: str, index: int,
           receivers: Mapping[str, Receiver], intervals: Mapping[str, object]) -> Route:
    m = read_mapping(raw, path, _ROUTE_KEYS)
    if parent is None:
        if "receiver" not in m:
            raise ValueError(f"{path}.receiver: required at the top-level route")
        for key in ("matchers", "continue", "mute_time_intervals", "active_time_intervals"):
            if key in m:
                raise ValueError(f"{path}.{key}: not allowed at the top-level route")
    receiver = read_str(m["receiver"], f"{path}.receiver") if "receiver" in m else parent.receiver  # type: ignore[union-attr]
    if receiver not in receivers:
        raise ValueError(f"{path}.receiver: unknown receiver {receiver!r}")
    matchers = _matchers(m.get("matchers", []), f"{path}.matchers")
    if parent is None:
        key = am_key = "{}"
    else:
        # Alertmanager's route ID: the parent's, then this route's matchers; the index
        # keeps siblings with the same matchers apart.
        key = f"{parent_key}/{format_matchers(matchers)}/{index}"
        am_key = f"{parent.am_key}/{format_matchers(sorted(matchers, key=_matcher_order))}"
    if "group_by" in m:
        group_by = _label_names(m["group_by"], f"{path}.group_by")
        group_by_all = GROUP_BY_ALL in group_by
        if group_by_all and len(group_by) > 1:
            raise ValueError(f"{path}.group_by: '...' (group by all labels) must be the only entry")
        if len(set(group_by)) != len(group_by):
            raise ValueError(f"{path}.group_by: repeated label name")
        group_by = () if group_by_all else group_by
    else:
        group_by = parent.group_by if parent else ()
        group_by_all = parent.group_by_all if parent else False
    defaults = parent or Route(key="", receiver="")
    group_wait = (read_duration(m["group_wait"], f"{path}.group_wait") if "group_wait" in m
                  else defaults.group_wait)
    group_interval = (read_duration(m["group_interval"], f"{path}.group_interval", positive=True)
                      if "group_interval" in m else defaults.group_interval)
    repeat_interval = (read_duration(m["repeat_interval"], f"{path}.repeat_interval", positive=True)
                       if "repeat_interval" in m else defaults.repeat_interval)
    node = Route(key=key, am_key=am_key, receiver=receiver, matchers=matchers,
                 continue_=read_bool(m.get("continue", False), f"{path}.continue"),
                 group_by=group_by, group_by_all=group_by_all, group_wait=group_wait,
                 group_interval=group_interval, repeat_interval=repeat_interval,
                 mute_time_intervals=_interval_names(m, "mute_time_intervals", path, intervals),
                 active_time_intervals=_interval_names(m, "active_time_intervals", path,
                                                       intervals),
                 escalation=(parse_escalation(m["escalation"], f"{path}.escalation", receivers)
                             if "escalation" in m else ()))
    children = tuple(_route(child, f"{path}.routes[{i}]", node, key, i, receivers, intervals)
                     for i, child in enumerate(read_list(m.get("routes", []), f"{path}.routes")))
    return Route(**{**node.__dict__, "routes": children})


def _inhibit_rule(raw: object, path: str) -> InhibitRule:
    m = read_mapping(raw, path, ("source_matchers", "target_matchers", "equal"))
    for key in ("source_matchers", "target_matchers"):
        if not m.get(key):
            raise ValueError(f"{path}.{key}: required (a non-empty list of matchers)")
    return InhibitRule(source_matchers=_matchers(m["source_matchers"], f"{path}.source_matchers"),
                       target_matchers=_matchers(m["target_matchers"], f"{path}.target_matchers"),
                       equal=_label_names(m.get("equal", []), f"{path}.equal"))


def _api(raw: object, base_dir: Path) -> ApiConfig:
    m = read_mapping(raw, "api", ("bearer_token_env", "bearer_token_file", "read_token_env",
                                  "read_token_file", "write_users", "max_body_bytes"))
    token = secret(m, "api", "bearer_token", base_dir, required=False)
    read = secret(m, "api", "read_token", base_dir, required=False)
    if token is not None and read is not None and hmac.compare_digest(token.value, read.value):
        raise ValueError("api.read_token: must differ from api.bearer_token (the write token)")
    users = read_list(m.get("write_users", []), "api.write_users")
    for i, user in enumerate(users):
        if not isinstance(user, str) or not user:
            raise ValueError(f"api.write_users[{i}]: must be a user name of "
                             "--web.config.file's basic_auth_users")
    kw: dict[str, Any] = {"bearer_token": token, "read_token": read,
                          "write_users": frozenset(users)}
    if "max_body_bytes" in m:
        kw["max_body_bytes"] = read_int(m["max_body_bytes"], "api.max_body_bytes", 1024)
    return ApiConfig(**kw)


def _templates(raw: object, base_dir: Path) -> dict[str, str]:
    """``templates: [glob, ...]``: Jinja2 files, each usable by its file name in
    ``{% include %}`` / ``{% import %}`` of a ``template`` webhook."""
    result: dict[str, str] = {}
    for i, pattern in enumerate(read_each(raw, "templates", read_str)):
        paths = sorted(glob.glob(str(base_dir / pattern)))
        if not paths:
            raise ValueError(f"templates[{i}]: no file matches {pattern!r}")
        for file in paths:
            try:
                result[Path(file).name] = Path(file).read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"templates[{i}]: cannot read {file}: {exc.strerror}") from None
            except UnicodeDecodeError as exc:
                raise ValueError(f"templates[{i}]: {file}: not UTF-8 text: {exc.reason} at "
                                 f"byte {exc.start}") from None
    return result


def _named_templates(raw: object, base_dir: Path) -> amdata.NamedTemplates:
    """``alertmanager_templates_dir``: where Alertmanager's own ``default.tmpl`` and
    ``email.tmpl`` are (e-mail templates may call what they define); unset, Debian's
    ``prometheus-alertmanager`` copy when installed, else none."""
    if raw is None:
        return amdata.discovered()
    try:
        return amdata.load_named(base_dir / read_str(raw, "alertmanager_templates_dir"))
    except ValueError as exc:
        raise ValueError(f"alertmanager_templates_dir: {exc}") from None


def parse_notify_config(raw: Mapping[str, Any], base_dir: Path | str | None = None) -> NotifyConfig:
    """Validate the notification keys; raise ``ValueError("route.routes[0].matchers[1]: ...")``.

    ``base_dir`` (an extension of the original signature; default the working directory)
    is where ``*_file`` paths and ``templates`` globs are resolved: pass the config
    file's directory.
    """
    from alerter.notify.formats.template import compile_check  # Jinja2 lives with the format

    base = Path(base_dir) if base_dir is not None else Path.cwd()
    raw = {k: v for k, v in raw.items() if k in NOTIFY_KEYS}
    templates = _templates(raw.get("templates", []), base)
    named = _named_templates(raw.get("alertmanager_templates_dir"), base)
    receivers = _receivers(raw.get("receivers", []), base,
                           lambda source, path: compile_check(source, path, templates), named)
    intervals = parse_named_intervals(raw)
    route = None
    if "route" in raw:
        route = _route(raw["route"], "route", None, "", 0, receivers, intervals)
    elif receivers:
        raise ValueError("route: required when receivers are configured")
    inhibit = tuple(read_each(raw.get("inhibit_rules", []), "inhibit_rules", _inhibit_rule))
    api = _api(raw.get("api", {}), base)
    return NotifyConfig(raw=raw, route=route, receivers=receivers, inhibit_rules=inhibit,
                        api=api, templates=templates, time_intervals=intervals)
