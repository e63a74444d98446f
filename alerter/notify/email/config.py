"""Config of the ``email_configs`` integration, with Alertmanager's keys and defaults.

Validated with the shared readers while the notification config loads: addresses parse,
the smarthost is ``host:port``, secrets are present, templates compile and expand on a
sample group. The message is built by ``message``, sent by ``smtp``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from alerter.notify.email import amdata
from wardops_common.httpclient import TLSClientConfig, read_tls_config
from wardops_common.readers import (
    Secret,
    read_bool,
    read_duration,
    read_int,
    read_mapping,
    read_str,
    secret,
)

#: Alertmanager's keys (``auth_password_env`` / ``auth_secret_env``: wardops's way to keep
#: secrets out of files) and wardops's delivery limits, as for webhooks
KEYS = ("to", "from", "smarthost", "hello", "auth_username", "auth_password",
        "auth_password_file", "auth_password_env", "auth_secret", "auth_secret_file",
        "auth_secret_env", "auth_identity", "require_tls", "tls_config", "headers", "html",
        "text", "send_resolved", "timeout", "max_attempts", "max_age")
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 field name: printable, no colon
#: the common labels of the sample group ``html``/``text``/header templates are tried on
SAMPLE_LABELS = {"alertname": "DeviceDown", "site": "Sample-Branch", "severity": "critical"}


@dataclass(frozen=True)
class EmailConfig:
    """One e-mail integration of a receiver."""

    to: str
    from_: str
    smarthost: tuple[str, int]
    hello: str = "localhost"
    auth_username: str = ""
    auth_password: Secret | None = None
    auth_secret: Secret | None = None       # CRAM-MD5
    auth_identity: str = ""
    require_tls: bool = True
    tls: TLSClientConfig = field(default_factory=TLSClientConfig)
    headers: Mapping[str, str] = field(default_factory=dict)  # Go templates
    html: str = ""                          # "" = wardops's default HTML body
    text: str = ""                          # "" = wardops's default text body
    send_resolved: bool = False             # Alertmanager's default for e-mail
    timeout: float = 30.0                   # per SMTP conversation step
    max_attempts: int = 0                   # 0 = no limit, only max_age
    max_age: float = 86400.0
    #: Alertmanager's named templates the ``html``/``text``/``headers`` templates may call
    named: amdata.NamedTemplates = field(default_factory=amdata.NamedTemplates, repr=False,
                                         compare=False)

    @property
    def recipients(self) -> list[str]:
        """The envelope recipients (the addresses of ``to``)."""
        return [addr for _, addr in getaddresses([self.to]) if addr]

    @property
    def sender(self) -> str:
        """The envelope sender (the address of ``from``)."""
        return getaddresses([self.from_])[0][1]


def parse_smarthost(value: object, path: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too), as Alertmanager's ``HostPort``."""
    text = read_str(value, path)
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{path}: address {text}: missing port in address (host:port)")
    return host, int(port)


def _addresses(value: object, path: str, exactly_one: bool) -> str:
    text = read_str(value, path)
    found = [addr for _, addr in getaddresses([text]) if "@" in addr]
    if not found or (exactly_one and len(found) != 1):
        want = "exactly one" if exactly_one else "at least one"
        raise ValueError(f"{path}: must be {want} e-mail address (got {text!r})")
    return text


def check_template(source: str, path: str, named: amdata.NamedTemplates | None = None) -> None:
    """Raise ``ValueError("path: ...")`` if ``source`` does not parse, or fails on a sample
    group (a firing and a resolved alert) with Alertmanager's template data and ``named``
    templates (default: ``amdata.discovered()``)."""
    named = named if named is not None else amdata.discovered()
    try:
        amdata.parse(source)
    except amdata.TemplateError as exc:
        raise ValueError(f"{path}: template error: {exc}") from None
    try:
        amdata.render(source, amdata.sample_payload(SAMPLE_LABELS, "http://alerter.example:9470"),
                      named=named)
    except amdata.ExecError as exc:
        hint = f"; {named.missing_hint()}" if "not defined" in str(exc) else ""
        raise ValueError(f"{path}: fails on a sample group: {exc} (e-mail templates see "
                         "Alertmanager's data: .Alerts, .CommonLabels, .GroupLabels, "
                         f".Status, .Receiver, .ExternalURL{hint})") from None


def parse_email_config(raw: object, path: str, base_dir: Path,
                       named: amdata.NamedTemplates | None = None) -> EmailConfig:
    """One ``email_configs`` entry; ``ValueError("path.key: ...")`` when invalid.
    ``named``: Alertmanager's named templates (default: ``amdata.discovered()``)."""
    named = named if named is not None else amdata.discovered()
    m = read_mapping(raw, path, KEYS)
    for key in ("to", "from", "smarthost"):
        if key not in m:
            raise ValueError(f"{path}.{key}: required")
    kw: dict[str, Any] = {
        "to": _addresses(m["to"], f"{path}.to", exactly_one=False),
        "from_": _addresses(m["from"], f"{path}.from", exactly_one=True),
        "smarthost": parse_smarthost(m["smarthost"], f"{path}.smarthost"),
        "auth_password": secret(m, path, "auth_password", base_dir, required=False),
        "auth_secret": secret(m, path, "auth_secret", base_dir, required=False),
        "tls": read_tls_config(m.get("tls_config"), f"{path}.tls_config", base_dir),
        "named": named,
    }
    for key in ("hello", "auth_username", "auth_identity"):
        if key in m:
            kw[key] = read_str(m[key], f"{path}.{key}")
    for key in ("require_tls", "send_resolved"):
        if key in m:
            kw[key] = read_bool(m[key], f"{path}.{key}")
    for key in ("timeout", "max_age"):
        if key in m:
            kw[key] = read_duration(m[key], f"{path}.{key}", positive=True)
    if "max_attempts" in m:
        kw["max_attempts"] = read_int(m["max_attempts"], f"{path}.max_attempts")
    for key in ("html", "text"):
        if key in m:
            kw[key] = read_str(m[key], f"{path}.{key}")
            check_template(kw[key], f"{path}.{key}", named)
    headers = m.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise ValueError(f"{path}.headers: must be a mapping of header name to value")
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{path}.headers: invalid header name {name!r}")
        check_template(read_str(value, f"{path}.headers.{name}"), f"{path}.headers.{name}",
                       named)
    kw["headers"] = dict(headers)
    if kw.get("auth_username") and kw["auth_password"] is None and kw["auth_secret"] is None:
        raise ValueError(f"{path}.auth_password: required with auth_username (or "
                         "auth_password_file / auth_password_env / auth_secret)")
    return EmailConfig(**kw)


def parse_email_configs(raw: object, path: str, base_dir: Path,
                        named: amdata.NamedTemplates | None = None) -> tuple[EmailConfig, ...]:
    """A receiver's ``email_configs`` list."""
    if not isinstance(raw, list):
        raise ValueError(f"{path}: must be a list")
    return tuple(parse_email_config(item, f"{path}[{i}]", base_dir, named)
                 for i, item in enumerate(raw))
