"""The ``http_config`` of wardops's HTTP clients (the alerter's Prometheus client, its
webhooks and its Alertmanager forwarding), as Prometheus and Alertmanager read it, beside
the client's ``url``::

    basic_auth: {username: alerter, password_file: /etc/wardops/prom.pass}
    authorization: {type: Bearer, credentials_file: /etc/wardops/token}   # or basic_auth
    tls_config:
      ca_file: /etc/wardops/bank-ca.crt     # trust this CA (a private one) for the server
      cert_file: /etc/wardops/alerter.crt   # present a client certificate (mutual TLS)
      key_file: /etc/wardops/alerter.key
      server_name: prometheus.bank.local    # SNI and the name the certificate must carry
      insecure_skip_verify: false           # true only for a lab
    proxy_url: http://proxy.bank.local:3128
    follow_redirects: true

Relative paths are relative to the config file's directory. Secrets come from files or
the environment (``password_file``/``password_env``, ``credentials_file``/
``credentials_env``, ``bearer_token_file``/``bearer_token_env``); literals are accepted
as Prometheus does, for configs carried over, but keep them out of files in git. One
difference from Go's
client, on purpose: a redirect of a POST is followed only when it keeps the method and
the body (307, 308). Go (and requests) turn a POST answered 301/302/303 into a GET
without the body, which a receiver may answer 200: a notification counted as delivered
that nobody got.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from wardops_common.readers import missing_input, read_mapping, read_str, unknown_key
from wardops_common.secrets import Secret, read_secret

TLS_KEYS = ("ca_file", "cert_file", "key_file", "insecure_skip_verify", "server_name")
#: the keys of an http_config, beside a client's url
HTTP_KEYS = ("basic_auth", "authorization", "bearer_token", "bearer_token_env",
             "bearer_token_file",
             "tls_config", "proxy_url", "follow_redirects")


@dataclass(frozen=True)
class TLSClientConfig:
    """How a client verifies the server and which certificate it presents."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure_skip_verify: bool = False
    #: the name sent as SNI and checked in the server's certificate, instead of the URL's
    server_name: str | None = None

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
        if key not in TLS_KEYS:
            raise ValueError(f"{where}.{key}: {unknown_key(key, TLS_KEYS)}")
    server_name = raw.get("server_name")
    if server_name is not None and (not isinstance(server_name, str) or not server_name
                                    or any(c in server_name for c in "/: \t\r\n")):
        raise ValueError(f"{where}.server_name: must be a host name")
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
                           key_file=files["key_file"], insecure_skip_verify=skip,
                           server_name=server_name or None)


@dataclass(frozen=True)
class HTTPClientConfig:
    """A validated ``http_config``: credentials, TLS, proxy and redirects for one URL."""

    #: the whole ``Authorization`` header value (basic auth or a token)
    authorization: Secret | None = field(default=None)
    tls: TLSClientConfig = field(default_factory=TLSClientConfig)
    proxy_url: Secret | None = field(default=None)
    follow_redirects: bool = True

    def request_kwargs(self) -> dict[str, Any]:
        """Per-request keyword arguments for ``requests`` (TLS, proxy, redirects)."""
        out: dict[str, Any] = dict(self.tls.request_kwargs())
        if self.proxy_url is not None:
            out["proxies"] = {"http": self.proxy_url.value, "https": self.proxy_url.value}
        out["allow_redirects"] = self.follow_redirects
        return out

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header, if credentials are configured."""
        return {"Authorization": self.authorization.value} if self.authorization else {}


def read_http_config(raw: Mapping[str, Any], where: str, base_dir: Path) -> HTTPClientConfig:
    """The ``http_config`` keys (:data:`HTTP_KEYS`) of a client's mapping ``raw`` (other
    keys are the caller's); ``ValueError("where.key: ...")`` if invalid."""
    auth: Secret | None = None
    given = [k for k in ("basic_auth", "authorization", "bearer_token", "bearer_token_env",
                         "bearer_token_file") if k in raw]
    if len(given) > 1:
        raise ValueError(f"{where}: give one of basic_auth, authorization or bearer_token, "
                         f"not {' and '.join(given)}")
    if "basic_auth" in raw:
        auth = _basic_auth(raw["basic_auth"], f"{where}.basic_auth", base_dir)
    elif "authorization" in raw:
        auth = _authorization(raw["authorization"], f"{where}.authorization", base_dir)
    elif given:
        token = read_secret(raw, "bearer_token", where, required=True, literal=True,
                            base_dir=base_dir, missing=missing_input)
        assert token is not None
        auth = Secret(f"Bearer {token.value}", token.source)
    proxy = None
    if "proxy_url" in raw:
        url = read_str(raw["proxy_url"], f"{where}.proxy_url")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{where}.proxy_url: must be an http(s) URL with a host")
        proxy = Secret(url, f"{where}.proxy_url")
    follow = raw.get("follow_redirects", True)
    if not isinstance(follow, bool):
        raise ValueError(f"{where}.follow_redirects: must be true or false")
    tls = read_tls_config(raw.get("tls_config"), f"{where}.tls_config", base_dir)
    return HTTPClientConfig(authorization=auth, tls=tls, proxy_url=proxy,
                            follow_redirects=follow)


def _basic_auth(raw: object, where: str, base_dir: Path) -> Secret:
    m = read_mapping(raw, where, ("username", "password", "password_env", "password_file"))
    user = read_str(m.get("username"), f"{where}.username")
    if not user or ":" in user:
        raise ValueError(f"{where}.username: must be a user name without ':'")
    password = read_secret(m, "password", where, required=True, literal=True,
                           base_dir=base_dir, missing=missing_input)
    assert password is not None
    token = base64.b64encode(f"{user}:{password.value}".encode()).decode()
    return Secret(f"Basic {token}", password.source)


def _authorization(raw: object, where: str, base_dir: Path) -> Secret:
    m = read_mapping(raw, where, ("type", "credentials", "credentials_env", "credentials_file"))
    kind = read_str(m.get("type", "Bearer"), f"{where}.type")
    if not kind or any(c.isspace() for c in kind) or kind.lower() == "basic":
        raise ValueError(f"{where}.type: must be one word, not Basic (use basic_auth)")
    credentials = read_secret(m, "credentials", where, required=True, literal=True,
                              base_dir=base_dir, missing=missing_input)
    assert credentials is not None
    return Secret(f"{kind} {credentials.value}", credentials.source)


class ClientSession(requests.Session):
    """``requests.Session`` for wardops's outgoing requests: a POST's redirect is
    followed only with 307/308 (see the module's doc), and ``tls_config.server_name`` is
    sent as SNI and checked in the certificate. One session serves many targets (from
    several threads, as a requests session may); each server name gets a session of its
    own, so its connections are never shared with another name's."""

    def __init__(self, server_name: str | None = None) -> None:
        super().__init__()
        self._named: dict[str, ClientSession] = {}
        self._lock = threading.Lock()
        if server_name is not None:
            self.mount("https://", _ServerNameAdapter(server_name))

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        method = resp.request.method if resp.request is not None else None
        if method not in ("GET", "HEAD") and resp.status_code not in (307, 308):
            return None  # the 3xx itself is the answer: a failure, not a silent GET
        return super().get_redirect_target(resp)

    def post_with(self, url: str, config: HTTPClientConfig, **kwargs: Any
                  ) -> requests.Response:
        """POST ``url`` with ``config``'s credentials, TLS, proxy and redirect policy
        (``kwargs``: data, headers, timeout ...; explicit headers win)."""
        headers = {**config.headers(), **kwargs.pop("headers", {})}
        session: requests.Session = self
        name = config.tls.server_name
        if name is not None:
            with self._lock:
                named = self._named.get(name)
                if named is None:
                    named = self._named[name] = ClientSession(name)
                    named.headers.update(self.headers)
            session = named
        return session.post(url, headers=headers, **config.request_kwargs(), **kwargs)

    def close(self) -> None:
        with self._lock:
            for named in self._named.values():
                named.close()
        super().close()


class _ServerNameAdapter(HTTPAdapter):
    """Connects to the URL's host but speaks TLS to ``server_name`` (SNI and the name
    checked in the certificate), as Go's ``tls.Config.ServerName``."""

    def __init__(self, server_name: str) -> None:
        self._server_name = server_name
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self._server_name
        kwargs["assert_hostname"] = self._server_name
        super().init_poolmanager(*args, **kwargs)
