"""``--web.config.file``: TLS and basic auth for the HTTP endpoints, in the file format of
Prometheus's exporter-toolkit, so the file a bank already has for node_exporter works::

    tls_server_config:
      cert_file: server.crt            # relative paths: to this file's directory
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # mutual TLS (optional)
      client_ca_file: clients-ca.crt
      min_version: TLS12               # TLS12 (default) or TLS13
    http_server_config:
      headers: {Strict-Transport-Security: max-age=31536000}
    basic_auth_users:                  # bcrypt hashes (htpasswd -nBC 10 "" | tr -d ':')
      prometheus: $2y$10$...

Differences from the toolkit, each refused with a clear error rather than ignored:
``min_version`` below TLS 1.2, ``cipher_suites``/``curve_preferences`` (Go names; Python's
OpenSSL defaults are used), and ``client_auth_type`` ``RequestClientCert`` /
``RequireAnyClientCert`` (a client certificate nobody verifies proves nothing).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt

from wardops_common.readers import unknown_key
from wardops_common.yamlfile import ConfigError, read_yaml

_TOP = ("tls_server_config", "http_server_config", "basic_auth_users")
_TLS = ("cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version",
        "max_version", "cipher_suites", "curve_preferences", "prefer_server_cipher_suites")
_HTTP = ("headers", "http2")
_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_CLIENT_AUTH = {"NoClientCert": ssl.CERT_NONE, "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
                "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}
#: headers the file may not set (the server or the auth layer owns them)
_RESERVED = {"content-length", "content-type", "transfer-encoding", "www-authenticate",
             "connection", "date", "server"}


@dataclass(frozen=True)
class WebConfig:
    """A validated web config; ``tls`` None: plain HTTP."""

    tls: ssl.SSLContext | None = None
    #: the certificate and key ``tls`` was built from
    cert_file: Path | None = None
    key_file: Path | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash
    headers: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    #: the file itself and every file it names: a change to any of them is a reload
    files: tuple[Path, ...] = ()


def load_web_config(path: str | Path | None) -> WebConfig:
    """Read and validate ``path`` (None or "": plain HTTP, no auth); ``ConfigError``."""
    if not path:
        return WebConfig()
    path = Path(path)
    raw = read_yaml(path)
    if raw is None:
        return WebConfig(source=str(path), files=(path,))
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: must be a mapping")
    _known(path, "", raw, _TOP)
    tls, files = _tls(path, raw.get("tls_server_config"))
    users = _users(path, raw.get("basic_auth_users"))
    headers = _headers(path, raw.get("http_server_config"))
    return WebConfig(tls=tls, cert_file=files[0] if files else None,
                     key_file=files[1] if files else None, users=users, headers=headers,
                     source=str(path), files=(path, *files))


def _known(path: Path, where: str, raw: Mapping[str, Any], known: Iterable[str]) -> None:
    for key in raw:
        if key not in known:
            raise ConfigError(f"{path}: {where}{key}: {unknown_key(key, known)}")


def _file(path: Path, value: object, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: {where}: must be a file path")
    found = Path(value) if Path(value).is_absolute() else path.parent / value
    if not found.is_file():
        raise ConfigError(f"{path}: {where}: {found}: no such file")
    return found


def _tls(path: Path, raw: object) -> tuple[ssl.SSLContext | None, tuple[Path, ...]]:
    """The server context and the files it was built from (certificate, key, client CA)."""
    if raw is None:
        return None, ()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: tls_server_config: must be a mapping")
    _known(path, "tls_server_config.", raw, _TLS)
    for unsupported in ("cipher_suites", "curve_preferences", "max_version"):
        if raw.get(unsupported):
            raise ConfigError(f"{path}: tls_server_config.{unsupported}: not supported "
                              "(OpenSSL's defaults for TLS 1.2+ are used); remove it")
    cert = _file(path, raw.get("cert_file"), "tls_server_config.cert_file")
    key = _file(path, raw.get("key_file"), "tls_server_config.key_file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    version = raw.get("min_version", "TLS12")
    if version not in _VERSIONS:
        raise ConfigError(f"{path}: tls_server_config.min_version: {version!r}: use TLS12 or "
                          "TLS13 (older versions are not offered)")
    context.minimum_version = _VERSIONS[version]
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"{path}: tls_server_config: cannot use {cert} with {key}: "
                          f"{exc}") from None
    auth = raw.get("client_auth_type", "NoClientCert")
    if auth not in _CLIENT_AUTH:
        raise ConfigError(f"{path}: tls_server_config.client_auth_type: {auth!r}: use one of "
                          f"{', '.join(_CLIENT_AUTH)} (a client certificate nobody verifies "
                          "proves nothing)")
    context.verify_mode = _CLIENT_AUTH[auth]
    if context.verify_mode != ssl.CERT_NONE:
        ca = _file(path, raw.get("client_ca_file"), "tls_server_config.client_ca_file")
        try:
            context.load_verify_locations(ca)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"{path}: tls_server_config.client_ca_file: {exc}") from None
        return context, (cert, key, ca)
    if raw.get("client_ca_file"):
        raise ConfigError(f"{path}: tls_server_config.client_ca_file: set client_auth_type "
                          "(RequireAndVerifyClientCert) for it to be used")
    return context, (cert, key)


def _users(path: Path, raw: object) -> dict[str, bytes]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: basic_auth_users: must be a mapping of user to bcrypt hash")
    users = {}
    for user, hashed in raw.items():
        if not isinstance(user, str) or not user or ":" in user:
            raise ConfigError(f"{path}: basic_auth_users: {user!r}: not a user name")
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise ConfigError(f"{path}: basic_auth_users.{user}: must be a bcrypt hash "
                              "($2y$...), never a password")
        users[user] = hashed.encode()
    return users


def _headers(path: Path, raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: http_server_config: must be a mapping")
    _known(path, "http_server_config.", raw, _HTTP)
    headers = raw.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise ConfigError(f"{path}: http_server_config.headers: must be a mapping")
    out = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str) or name.lower() in _RESERVED \
                or any(c in name + value for c in "\r\n"):
            raise ConfigError(f"{path}: http_server_config.headers.{name}: not a header this "
                              "file may set")
        out[name] = value
    return out


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Guard:
    """WSGI middleware: basic auth against ``users`` (bcrypt) and the extra headers.

    bcrypt costs tens of milliseconds by design; a password that checked out is
    remembered (as a salted SHA-256 of user and password, never the password) so that a
    Prometheus scraping every few seconds does not pay it each time, as exporter-toolkit
    caches too. Every refusal is counted (``refused``) and answered 401 with a Basic
    challenge; the reason never includes what was sent. The authenticated user is passed
    on as ``REMOTE_USER`` (the alerter's API tells readers from writers by it).
    """

    def __init__(self, app: WSGIApp, config: WebConfig,
                 on_refused: Callable[[str], None] = lambda reason: None) -> None:
        self._app = app
        self.config = config
        self._on_refused = on_refused
        self._salt = hashlib.sha256(str(id(self)).encode()).digest()
        self._good: set[bytes] = set()
        self._lock = threading.Lock()

    def reload(self, config: WebConfig) -> None:
        """Use ``config`` for the next requests (users, headers)."""
        with self._lock:
            self.config = config
            self._good = set()

    def _authorized(self, header: str) -> tuple[str, str | None]:
        """("", the user or None) if allowed, else (the refusal reason, None)."""
        users = self.config.users
        if not users:
            return "", None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return "no_credentials", None
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).decode() \
                .partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "no_credentials", None
        hashed = users.get(user)
        if not sep or hashed is None:
            bcrypt.checkpw(b"x", _DUMMY)  # same cost for an unknown user: no user probing
            return "wrong_credentials", None
        memo = hmac.new(self._salt, f"{user}\0{password}".encode(), "sha256").digest()
        with self._lock:
            if memo in self._good:
                return "", user
        if not bcrypt.checkpw(password.encode(), hashed):
            return "wrong_credentials", None
        with self._lock:
            self._good.add(memo)
        return "", user

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        headers = list(self.config.headers.items())
        reason, user = self._authorized(environ.get("HTTP_AUTHORIZATION", ""))
        # REMOTE_USER is who this layer authenticated, nothing else (the apps trust it)
        environ.pop("REMOTE_USER", None)
        if user is not None:
            environ["REMOTE_USER"] = user
        if reason:
            self._on_refused(reason)
            start_response("401 Unauthorized", [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("WWW-Authenticate", 'Basic realm="wardops"'), *headers])
            return [b"Unauthorized\n"]

        def start(status: str, response_headers: list[tuple[str, str]],
                  exc_info: Any = None) -> Any:
            return start_response(status, [*response_headers, *headers], exc_info)

        return self._app(environ, start)


_DUMMY = bcrypt.hashpw(b"wardops-dummy", bcrypt.gensalt(rounds=10))
