"""One SMTP delivery attempt, as Alertmanager's e-mail notifier talks to the smarthost.

Port 465 is TLS from the first byte; any other port starts in plain text, and with
``require_tls`` (the default) the server must offer STARTTLS or nothing is sent. AUTH is
used when ``auth_username`` is set and the server offers it: PLAIN (with
``auth_identity``) or LOGIN with ``auth_password``, CRAM-MD5 with ``auth_secret``. The
reply decides the next step (``retry.Outcome``): 2xx delivered, 4xx (a transient SMTP
failure: greylisting, a full queue) retried, 5xx (refused recipient, sender, message or
credentials) given up as a dead letter; timeouts, refused and dropped connections and
TLS failures are retried. Never raises for network or server trouble.
"""

from __future__ import annotations

import smtplib
import ssl

from alerter.notify.email.config import EmailConfig
from alerter.notify.retry import Outcome
from wardops_common.httpclient import TLSClientConfig


def tls_context(tls: TLSClientConfig) -> ssl.SSLContext:
    """The client context of a ``tls_config``: its CA (else the system's), its client
    certificate, or no verification with ``insecure_skip_verify``."""
    ctx = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.cert_file is not None and tls.key_file is not None:
        ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    return ctx


def classify_reply(code: int, message: bytes | str, step: str) -> Outcome:
    """An SMTP reply that ended the attempt: 4xx retried, 5xx (and anything else) not."""
    text = message.decode(errors="replace") if isinstance(message, bytes) else message
    if 400 <= code < 500:
        return Outcome(False, True, "smtp_4xx", detail=f"{step}: {code} {text}")
    return Outcome(False, False, "smtp_5xx" if 500 <= code < 600 else "smtp_other",
                   detail=f"{step}: {code} {text}")


def _authenticate(client: smtplib.SMTP, cfg: EmailConfig) -> None:
    """Alertmanager's choice: the first of the server's mechanisms it has credentials for."""
    offered = (client.esmtp_features.get("auth") or "").upper().split()
    password = cfg.auth_password.value if cfg.auth_password else ""
    for mech in offered:
        if mech == "CRAM-MD5" and cfg.auth_secret is not None:
            client.user, client.password = cfg.auth_username, cfg.auth_secret.value
            client.auth("CRAM-MD5", client.auth_cram_md5)
            return
        if mech == "PLAIN" and password:
            plain = f"{cfg.auth_identity}\0{cfg.auth_username}\0{password}"
            client.auth("PLAIN", lambda challenge=None: plain, initial_response_ok=True)
            return
        if mech == "LOGIN" and password:
            client.user, client.password = cfg.auth_username, password
            client.auth("LOGIN", client.auth_login, initial_response_ok=False)
            return
    raise smtplib.SMTPException(f"no usable auth mechanism among {' '.join(offered)!r} "
                                "for the configured credentials")


def send(message: bytes, cfg: EmailConfig) -> Outcome:
    """Deliver ``message`` (headers and body, as built by ``message.build_message``)."""
    host, port = cfg.smarthost
    step = "connect"
    try:
        ctx = tls_context(cfg.tls)
        if port == 465:
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, local_hostname=cfg.hello,
                                                    timeout=cfg.timeout, context=ctx)
        else:
            client = smtplib.SMTP(host, port, local_hostname=cfg.hello, timeout=cfg.timeout)
        with client:
            step = "EHLO"
            client.ehlo()
            if cfg.require_tls and port != 465:
                if not client.has_extn("starttls"):
                    return Outcome(False, True, "no_starttls", detail=(
                        f"'require_tls' is true (default) but {host}:{port} does not "
                        "advertise the STARTTLS extension"))
                step = "STARTTLS"
                client.starttls(context=ctx)
                client.ehlo()
            if cfg.auth_username and client.has_extn("auth"):
                step = "AUTH"
                _authenticate(client, cfg)
            step = "MAIL/RCPT/DATA"
            refused = client.sendmail(cfg.sender, cfg.recipients, message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        code = min(codes) if codes else 550  # any transient refusal: retry them all
        return classify_reply(code, "; ".join(f"{addr}: {c} {m.decode(errors='replace')}"
                                              for addr, (c, m) in exc.recipients.items()),
                              "RCPT")
    except smtplib.SMTPResponseException as exc:
        return classify_reply(exc.smtp_code, exc.smtp_error, step)
    except TimeoutError:
        return Outcome(False, True, "timeout", detail=f"{step}: timed out after {cfg.timeout:g}s")
    except ConnectionRefusedError:
        return Outcome(False, True, "connection_refused", detail=f"{host}:{port}: refused")
    except ssl.SSLError as exc:
        return Outcome(False, True, "tls_error", detail=f"{step}: {exc}")
    except (smtplib.SMTPException, OSError) as exc:
        if isinstance(exc.__context__, TimeoutError):  # smtplib reports it as a disconnect
            return Outcome(False, True, "timeout",
                           detail=f"{step}: timed out after {cfg.timeout:g}s")
        return Outcome(False, True, "connection_error", detail=f"{step}: {exc}")
    if refused:  # some recipients took it; retrying would mail the others twice
        return Outcome(True, False, "ok_partial", detail="refused: " + ", ".join(refused))
    return Outcome(True, False, "ok")
