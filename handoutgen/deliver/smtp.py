"""Deliver stage (SMTP): hand one message to the clinic's mail server, with honest outcomes.

A message is "sent" when the server accepted it, "failed" when it refused it for good (5xx)
or kept refusing it for now (4xx, unreachable) after every retry, and "unknown" when the
connection broke after the whole message was handed over: it may have been delivered, so it is
never resent automatically. Problems that would fail every message (a refused login, a
certificate that cannot be trusted, no encryption offered) stop the run instead.
"""

from __future__ import annotations

import dataclasses
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from ..errors import DeliveryError
from ..library.branding import Smtp
from ..values import Value, frozen

_END_OF_DATA = b"\r\n.\r\n"


@frozen
class Outcome(Value):
    """What happened to one message."""

    status: Literal["sent", "failed", "unknown"]
    reply: str  # the server's last reply, with the recipient's address taken out
    attempts: int
    permanent: bool = False  # a failure the server will repeat: not worth retrying
    reached: bool = True  # False when the server could not be reached at all


class _NotNow(Exception):
    """A problem that may pass: try again later."""

    def __init__(self, reply: str, reached: bool = True) -> None:
        super().__init__(reply)
        self.reply, self.reached = reply, reached


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
        """Connect, encrypt and log in; fatal problems stop the run, passing ones raise _NotNow."""
        s = self.settings
        where = f"{s.host}:{s.port}"
        conn: _Tracking | None = None
        try:
            if s.security == "tls":
                conn = _TrackingSSL(s.host, s.port, timeout=s.timeout_seconds, context=self._tls())
            else:
                conn = _Tracking(s.host, s.port, timeout=s.timeout_seconds)
                conn.ehlo()
                if s.security == "starttls":
                    if not conn.has_extn("starttls"):
                        raise self.fatal(f"{where} does not offer STARTTLS",
                                         "a server that encrypts the connection, or security: tls")
                    conn.starttls(context=self._tls())
                    conn.ehlo()
            if s.user is not None:
                conn.login(s.user, self.password or "")
            return conn
        except BaseException as err:
            if conn is not None:
                conn.close()
            raise self._opening_problem(err, where) from err

    def _opening_problem(self, err: BaseException, where: str) -> BaseException:
        """Sort out what went wrong while connecting: stop the run, or try again later."""
        s = self.settings
        if isinstance(err, DeliveryError | KeyboardInterrupt):
            return err
        if isinstance(err, ssl.SSLError):
            return self.fatal(f"secure connection to {where} failed: {err.reason or err}",
                              "a certificate this computer trusts (see mail.smtp.ca_file)")
        if isinstance(err, smtplib.SMTPResponseException):
            reply = _reply(err.smtp_code, err.smtp_error, "")
            if err.smtp_code < 500:
                return _NotNow(f"{where} answered {reply}")
            if isinstance(err, smtplib.SMTPAuthenticationError):
                return self.fatal(f"{where} refused the login of {s.user!r}: {err.smtp_code}",
                                  f"the right user, and its password in ${s.password_env}")
            return self.fatal(f"{where} refused the connection: {reply}", "a server that accepts this "
                              "computer and user")
        if isinstance(err, smtplib.SMTPServerDisconnected) or (
                isinstance(err, OSError) and not isinstance(err, smtplib.SMTPException)):
            text = getattr(err, "strerror", None) or str(err) or type(err).__name__
            return _NotNow(f"cannot reach {where}: {text}", reached=False)
        if isinstance(err, smtplib.SMTPException):  # e.g. no login method both sides know
            return self.fatal(f"{where}: {err}", "a server that supports this login and encryption")
        return err

    def send(self, message: EmailMessage, sender: str, recipient: str) -> Outcome:
        """Send one message, retrying what the server says may work later."""
        last = Outcome("failed", "not tried", 0)
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                self.sleep(self.delay * 2 ** (attempt - 2))
            last = self._once(message, sender, recipient, attempt)
            if last.status != "failed" or last.permanent:
                return last
            self.close()  # a passing problem: start afresh on the next try
        if not last.reached:  # every later message would fail the same way: stop the run
            raise self.fatal(f"{last.reply} (after {self.attempts} tries)",
                             "a reachable mail server: check mail.smtp host and port")
        return dataclasses.replace(last, reply=f"{last.reply} (still failing after {last.attempts} tries)")

    def _once(self, message: EmailMessage, sender: str, recipient: str, attempt: int) -> Outcome:
        try:
            if self.connection is None:
                self.connection = self._open()
        except _NotNow as err:
            return Outcome("failed", err.reply, attempt, reached=err.reached)
        conn = self.connection
        conn.handed_over = False
        try:
            conn.send_message(message, sender, [recipient])
            return Outcome("sent", "250", attempt)
        except smtplib.SMTPRecipientsRefused as err:
            code, text = next(iter(err.recipients.values()), (0, b""))
            return Outcome("failed", _reply(code, text, recipient), attempt, permanent=code >= 500)
        except smtplib.SMTPSenderRefused as err:
            if err.smtp_code >= 500:  # every message would be refused the same way
                raise self.fatal(f"the server refuses the sender {sender}: "
                                 f"{_reply(err.smtp_code, err.smtp_error, recipient)}",
                                 "a sender address the server accepts for this user (mail.sender)"
                                 ) from err
            return Outcome("failed", _reply(err.smtp_code, err.smtp_error, recipient), attempt)
        except smtplib.SMTPResponseException as err:
            return Outcome("failed", _reply(err.smtp_code, err.smtp_error, recipient), attempt,
                           permanent=err.smtp_code >= 500)
        except (smtplib.SMTPServerDisconnected, OSError) as err:
            if isinstance(err, smtplib.SMTPException) and \
                    not isinstance(err, smtplib.SMTPServerDisconnected):
                return Outcome("failed", str(err), attempt, permanent=True)  # e.g. needs SMTPUTF8
            if conn.handed_over:
                self.close()
                return Outcome("unknown", "connection lost after the message was handed over "
                               f"({type(err).__name__})", attempt)
            return Outcome("failed", f"connection lost ({type(err).__name__})", attempt)

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
    if recipient:
        line = re.sub(re.escape(recipient), "<recipient>", line, flags=re.IGNORECASE)
        line = line.replace("<<recipient>>", "<recipient>")
    return f"{code} {line}".strip()
