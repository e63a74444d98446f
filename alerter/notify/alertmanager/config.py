"""Config of the ``alertmanager_configs`` integration (forwarding to Alertmanager).

Validated with the shared readers while the notification config loads; the forwarding
itself is ``alerter.notify.alertmanager.forward``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wardops_common.httpclient import HTTP_KEYS, HTTPClientConfig, read_http_config
from wardops_common.readers import Secret, check_url, read_duration, read_mapping, secret

RESEND_DELAY = 60.0             # Prometheus's --rules.alert.resend-delay default
_KEYS = ("url", "url_env", "url_file", "timeout", "resend_delay", *HTTP_KEYS)


@dataclass(frozen=True)
class AlertmanagerConfig:
    """One Alertmanager to forward to."""

    url: Secret
    timeout: float = 10.0
    resend_delay: float = RESEND_DELAY
    #: credentials, TLS, proxy, redirects (the ``http_config`` keys beside ``url``)
    http: HTTPClientConfig = field(default_factory=HTTPClientConfig)

    @property
    def alerts_url(self) -> str:
        return self.url.value.rstrip("/") + "/api/v2/alerts"


def _one(raw: object, path: str, base_dir: Path) -> AlertmanagerConfig:
    m = read_mapping(raw, path, _KEYS)
    url = secret(m, path, "url", base_dir, required=True)
    assert url is not None
    check_url(url, f"{path}.url")
    kw: dict[str, Any] = {"url": url, "http": read_http_config(m, path, base_dir)}
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
