"""Config of the ``alertmanager_configs`` integration (forwarding to Alertmanager).

Validated with the shared readers while the notification config loads; the forwarding
itself is ``alerter.notify.alertmanager.forward``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wardops_common.httpclient import TLSClientConfig, read_tls_config
from wardops_common.readers import Secret, check_url, read_duration, read_mapping, read_str, secret

RESEND_DELAY = 60.0             # Prometheus's --rules.alert.resend-delay default
_KEYS = ("url", "url_env", "url_file", "timeout", "resend_delay", "basic_auth", "bearer_token",
         "bearer_token_env", "bearer_token_file", "tls_config")


@dataclass(frozen=True)
class AlertmanagerConfig:
    """One Alertmanager to forward to."""

    url: Secret
    timeout: float = 10.0
    resend_delay: float = RESEND_DELAY
    authorization: Secret | None = field(default=None)  # the whole Authorization header value
    tls: TLSClientConfig = field(default_factory=TLSClientConfig)  # tls_config

    @property
    def alerts_url(self) -> str:
        return self.url.value.rstrip("/") + "/api/v2/alerts"


def _basic_auth(raw: object, path: str, base_dir: Path) -> Secret:
    m = read_mapping(raw, path, ("username", "password", "password_env", "password_file"))
    user = read_str(m.get("username"), f"{path}.username")
    password = secret(m, path, "password", base_dir, required=True)
    assert password is not None
    token = base64.b64encode(f"{user}:{password.value}".encode()).decode()
    return Secret(f"Basic {token}", password.source)


def _one(raw: object, path: str, base_dir: Path) -> AlertmanagerConfig:
    m = read_mapping(raw, path, _KEYS)
    url = secret(m, path, "url", base_dir, required=True)
    assert url is not None
    check_url(url, f"{path}.url")
    auth = None
    token = secret(m, path, "bearer_token", base_dir, required=False)
    if token is not None:
        auth = Secret(f"Bearer {token.value}", token.source)
    if "basic_auth" in m:
        if auth is not None:
            raise ValueError(f"{path}: give basic_auth or a bearer_token, not both")
        auth = _basic_auth(m["basic_auth"], f"{path}.basic_auth", base_dir)
    kw: dict[str, Any] = {"url": url, "authorization": auth}
    if "tls_config" in m:
        kw["tls"] = read_tls_config(m["tls_config"], f"{path}.tls_config", base_dir)
    if "timeout" in m:
        kw["timeout"] = read_duration(m["timeout"], f"{path}.timeout", positive=True)
    if "resend_delay" in m:
        kw["resend_delay"] = read_duration(m["resend_delay"], f"{path}.resend_delay", positive=True)
    return AlertmanagerConfig(**kw)


def parse_alertmanager_configs(raw: object, path: str,
                               base_dir: Path) -> tuple[AlertmanagerConfig, ...]:
    """Validate a receiver's ``alertmanager_configs`` list; ``ValueError("path: ...")``."""
    if not isinstance(raw, list):
        raise ValueError(f"{path}: must be a list")
    return tuple(_one(item, f"{path}[{i}]", base_dir) for i, item in enumerate(raw))
