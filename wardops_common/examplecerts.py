"""Example certificates for a TLS-everywhere deployment (docker-compose, a lab): a private
CA, a server certificate per service name, and client certificates for mutual TLS.

``wardops-exporter make-certs DIR --server exporter --server prometheus ... --client
prometheus ...`` writes ``ca.crt`` and ``<name>.crt``/``<name>.key`` per server and
``<name>-client.crt``/``.key`` per client. It keeps what is there and still valid for
30 days, so running it at every ``docker compose up`` renews nothing until needed.
These are *example* certificates for a stack that has no PKI yet: a bank issues its own
from its CA and points ``--web.config.file`` and ``tls_config`` at them.

The keys are written readable by all (0644) because the containers that read them run as
different users (wardops, Prometheus's nobody, Grafana's 472) and share one volume that
only they mount; with your own certificates, give each key to its service alone.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: a certificate valid for less than this is issued again
RENEW_BEFORE = datetime.timedelta(days=30)


@dataclass(frozen=True)
class Pair:
    """A certificate and its key, as PEM files."""

    cert: Path
    key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write(directory: Path, stem: str, cert: x509.Certificate,
           key: ec.EllipticCurvePrivateKey, key_mode: int = 0o600) -> Pair:
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    # key first: a reader that sees the new certificate finds its key already there
    tmp = key_path.with_suffix(".key.tmp")
    tmp.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    os.chmod(tmp, key_mode)
    os.replace(tmp, key_path)
    tmp = cert_path.with_suffix(".crt.tmp")
    tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp, cert_path)
    return Pair(cert_path, key_path)


class CA:
    """A certificate authority that signs server and client certificates.

    ``days``: how long its certificates are valid; ``key_mode``: the keys' file mode.
    """

    def __init__(self, directory: Path, name: str = "wardops example CA", *, days: int = 1,
                 key_mode: int = 0o600) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.days = days
        self.key_mode = key_mode
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self.name = _name(name)
        self.cert = (x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=days))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .sign(self.key, hashes.SHA256()))
        stem = name.replace(" ", "-")
        self.pair = _write(directory, stem, self.cert, self.key, key_mode)

    @classmethod
    def load(cls, directory: Path, stem: str) -> CA:
        """The CA whose ``stem.crt``/``stem.key`` are in ``directory``."""
        self = cls.__new__(cls)
        self.directory = directory
        self.pair = Pair(directory / f"{stem}.crt", directory / f"{stem}.key")
        self.cert = x509.load_pem_x509_certificate(self.pair.cert.read_bytes())
        key = serialization.load_pem_private_key(self.pair.key.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        self.key = key
        self.name = self.cert.subject
        self.days = (self.cert.not_valid_after_utc - self.cert.not_valid_before_utc).days
        self.key_mode = self.pair.key.stat().st_mode & 0o777
        return self

    def issue(self, stem: str, *, server: bool, names: tuple[str, ...] = (),
              loopback: bool = False) -> Pair:
        """A server certificate for 127.0.0.1 and localhost, or only for the DNS ``names``
        when given (plus 127.0.0.1 with ``loopback``); or a client certificate whose
        common name is ``stem``."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        ends = min(now + datetime.timedelta(days=self.days), self.cert.not_valid_after_utc)
        builder = (x509.CertificateBuilder().subject_name(_name(stem)).issuer_name(self.name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(ends))
        if server:
            local = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
            alt: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
            if not alt:
                alt = [local, x509.DNSName("localhost")]
            elif loopback:
                alt.append(local)
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), False)
            usage = ExtendedKeyUsageOID.SERVER_AUTH
        else:
            usage = ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), False)
        return _write(self.directory, stem, builder.sign(self.key, hashes.SHA256()), key,
                      self.key_mode)


def _still_good(path: Path, now: datetime.datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - now > RENEW_BEFORE


def make_certs(directory: Path, servers: list[str], clients: list[str],
               days: int = 825) -> list[Path]:
    """Write the CA (``ca.crt``), ``<server>.crt/.key`` for each server name (valid for
    that name, ``localhost`` and 127.0.0.1) and ``<client>-client.crt/.key`` for each
    client; keep every file still valid for :data:`RENEW_BEFORE`. Returns the files
    written."""
    now = datetime.datetime.now(datetime.UTC)
    written: list[Path] = []
    if _still_good(directory / "ca.crt", now) and (directory / "ca.key").is_file():
        ca = CA.load(directory, "ca")
        ca.days = days
    else:
        ca = CA(directory, "ca", days=days + 30, key_mode=0o600)  # the CA's key: ours only
        written.append(ca.pair.cert)
        for stale in directory.glob("*.crt"):  # signed by the CA being replaced
            if stale.name != "ca.crt":
                stale.unlink()
    ca.key_mode = 0o644  # leaf keys: read by services running as other users (see above)
    for name in servers:
        if not _still_good(directory / f"{name}.crt", now):
            written.append(ca.issue(name, server=True, names=(name, "localhost"),
                                    loopback=True).cert)
    for name in clients:
        if not _still_good(directory / f"{name}-client.crt", now):
            written.append(ca.issue(f"{name}-client", server=False).cert)
    return written
