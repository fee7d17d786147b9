"""Deliver stage (SMTP): hand one message to the clinic's mail server, with honest outcomes.

A message is "sent" when the server accepted it, "failed" when it refused it for good (5xx)
or kept refusing it for now (4xx, unreachable) after every retry, and "unknown" when the
connection broke after the whole message was handed over: it may have been delivered, so it is
never resent automatically. Problems that would fail every message (a refused login, a
certificate that cannot be trusted, no encryption offered) stop the run instead.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from .branding import Smtp
from .errors import DeliveryError

_END_OF_DATA = b"\r\n.\r\n"


@dataclass(frozen=True)
class Outcome:
    """What happened to one message."""

    status: str  # "sent", "failed" or "unknown"
    reply: str  # the server's last reply, with the recipient's address taken out
    attempts: int


class _Tracking(smtplib.SMTP):
    """Remembers whether the whole message has gone out on the wire (the end-of-data mark)."""

    handed_over = False

    def send(self, s: Any) -> None:
        super().send(s)
        if isinstance(s, bytes) and s.endswith(_END_OF_DATA):
            self.handed_over = True


class _TrackingSSL(_Tracking, smtplib.SMTP_SSL):
    """Implicit TLS (port 465) with the same tracking."""


class Sender:
    """One connection to the mail server, opened when first needed and reused for a run."""

    def __init__(self, settings: Smtp, password: str | None, ca_file: Path | None, place: tuple[str, int],
                 attempts: int, delay: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings, self.password, self.ca_file, self.place = settings, password, ca_file, place
        self.attempts, self.delay, self.sleep = attempts, delay, sleep
        self.connection: _Tracking | None = None

    def fatal(self, message: str, allowed: str) -> DeliveryError:
        return DeliveryError.one(*self.place, "mail.smtp", message, allowed)

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ca_file is not None:
            try:
                context.load_verify_locations(cafile=str(self.ca_file))
            except (OSError, ssl.SSLError) as err:
                raise self.fatal(f"cannot read ca_file: {err}", "a PEM certificate file") from err
        return context

    def _open(self) -> _Tracking:
        s = self.settings
        where = f"{s.host}:{s.port}"
        try:
            if s.security == "tls":
                conn: _Tracking = _TrackingSSL(s.host, s.port, timeout=s.timeout_seconds,
                                               context=self._tls())
            else:
                conn = _Tracking(s.host, s.port, timeout=s.timeout_seconds)
                conn.ehlo()
                if s.security == "starttls":
                    if not conn.has_extn("starttls"):
                        conn.close()
                        raise self.fatal(f"{where} does not offer STARTTLS",
                                         "a server that encrypts the connection, or security: tls")
                    conn.starttls(context=self._tls())
                    conn.ehlo()
            if s.user is not None:
                conn.login(s.user, self.password or "")
        except ssl.SSLError as err:
            raise self.fatal(f"secure connection to {where} failed: {err.reason or err}",
                             "a certificate this computer trusts (see mail.smtp.ca_file)") from err
        except smtplib.SMTPAuthenticationError as err:
            raise self.fatal(f"{where} refused the login of {s.user!r}: {err.smtp_code}",
                             f"the right user, and its password in ${s.password_env}") from err
        except smtplib.SMTPNotSupportedError as err:
            raise self.fatal(f"{where} does not support login", "a server with AUTH, or no user") from err
        return conn

    def send(self, message: EmailMessage, sender: str, recipient: str) -> Outcome:
        """Send one message, retrying what the server says may work later."""
        reply, unreachable = "", False
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                self.sleep(self.delay * 2 ** (attempt - 2))
            try:
                if self.connection is None:
                    self.connection = self._open()
                self.connection.handed_over = False
                self.connection.send_message(message, sender, [recipient])
                return Outcome("sent", "250", attempt)
            except smtplib.SMTPRecipientsRefused as err:
                code, text = next(iter(err.recipients.values()), (0, b""))
                reply, unreachable = _reply(code, text, recipient), False
            except smtplib.SMTPResponseException as err:
                reply, unreachable = _reply(err.smtp_code, err.smtp_error, recipient), False
            except (smtplib.SMTPServerDisconnected, OSError) as err:
                if self.connection is not None and self.connection.handed_over:
                    self.close()
                    return Outcome("unknown", f"connection lost after the message was handed over "
                                   f"({type(err).__name__})", attempt)
                unreachable = self.connection is None
                reply = f"cannot reach {self.settings.host}:{self.settings.port}: " \
                        f"{getattr(err, 'strerror', None) or err or type(err).__name__}"
            if reply[:1] == "5":
                return Outcome("failed", reply, attempt)
            self.close()  # a temporary problem: start afresh on the next try
        if unreachable:  # every later message would fail the same way: stop the run
            raise self.fatal(f"{reply} (after {self.attempts} tries)",
                             "a reachable mail server: check mail.smtp host and port")
        return Outcome("failed", reply, self.attempts)

    def close(self) -> None:
        """Say goodbye to the server, if connected; never raises."""
        conn, self.connection = self.connection, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()


def _reply(code: int, text: bytes | str, recipient: str) -> str:
    """The server's reply as one line, without the recipient's address (it is patient data)."""
    line = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    line = " ".join(line.split())
    for form in (f"<{recipient}>", recipient):
        line = line.replace(form, "<recipient>")
    return f"{code} {line}".strip()
