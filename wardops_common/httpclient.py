"""``tls_config`` for wardops's HTTP clients, as Prometheus and Alertmanager read it::

    tls_config:
      ca_file: /etc/wardops/bank-ca.crt     # trust this CA (a private one) for the server
      cert_file: /etc/wardops/alerter.crt   # present a client certificate (mutual TLS)
      key_file: /etc/wardops/alerter.key
      insecure_skip_verify: false           # true only for a lab; logged as a warning

Relative paths are relative to the config file's directory. ``server_name`` is refused
with a clear error: the HTTP client (requests) cannot send a different SNI name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wardops_common.readers import unknown_key

_KEYS = ("ca_file", "cert_file", "key_file", "insecure_skip_verify", "server_name")


@dataclass(frozen=True)
class TLSClientConfig:
    """How a client verifies the server and which certificate it presents."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure_skip_verify: bool = False

    def request_kwargs(self) -> dict[str, object]:
        """``verify``/``cert`` for each ``requests`` call. Per call, not on the session:
        requests lets ``REQUESTS_CA_BUNDLE`` override a session's ``verify`` (its issue
        #3829), which would silently drop a configured private CA."""
        out: dict[str, object] = {}
        if self.insecure_skip_verify:
            out["verify"] = False
        elif self.ca_file is not None:
            out["verify"] = str(self.ca_file)
        if self.cert_file is not None and self.key_file is not None:
            out["cert"] = (str(self.cert_file), str(self.key_file))
        return out


def read_tls_config(raw: object, where: str, base_dir: Path) -> TLSClientConfig:
    """Validate a ``tls_config`` mapping; ``ValueError("where.key: ...")`` otherwise."""
    if raw is None:
        return TLSClientConfig()
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be a mapping")
    for key in raw:
        if key not in _KEYS:
            raise ValueError(f"{where}.{key}: {unknown_key(key, _KEYS)}")
    if raw.get("server_name"):
        raise ValueError(f"{where}.server_name: not supported (the client sends the URL's "
                         "host as the TLS server name; use that name in the URL)")
    files: dict[str, Path | None] = {}
    for key in ("ca_file", "cert_file", "key_file"):
        value = raw.get(key)
        if value is None:
            files[key] = None
            continue
        if not isinstance(value, str) or not value:
            raise ValueError(f"{where}.{key}: must be a file path")
        found = Path(value) if Path(value).is_absolute() else base_dir / value
        if not found.is_file():
            raise ValueError(f"{where}.{key}: {found}: no such file")
        files[key] = found
    if (files["cert_file"] is None) != (files["key_file"] is None):
        raise ValueError(f"{where}: cert_file and key_file go together")
    skip = raw.get("insecure_skip_verify", False)
    if not isinstance(skip, bool):
        raise ValueError(f"{where}.insecure_skip_verify: must be true or false")
    return TLSClientConfig(ca_file=files["ca_file"], cert_file=files["cert_file"],
                           key_file=files["key_file"], insecure_skip_verify=skip)
