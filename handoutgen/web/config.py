"""The web app's settings, and the rule that keeps it on this computer unless a password is set."""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import Problem, UsageError
from ..library.branding import is_loopback
from ..library.patient import SOURCE
from ..values import Value, frozen

PASSWORD_ENV = "HANDOUTGEN_PASSWORD"
MIN_PASSWORD = 10
Clock = Callable[[], float]  # seconds on a clock that never goes back, as time.monotonic


@frozen
class Settings(Value):
    """How one web app runs: what it serves, where it writes, and how it is protected."""

    root: Path
    clinic: str | None = None  # a fixed clinic for this deployment; None offers every clinic
    password: str | None = None  # the front-desk password; None only on a loopback address
    mail_folder: Path = Path("out/email")  # send ledger and passcode list, as `email --out`
    host: str = "127.0.0.1"
    proxy: str | None = None  # the TLS proxy's address: its X-Forwarded-For is believed, the cookie Secure
    session_minutes: int = 30  # idle time after which the front desk signs in again
    max_upload_bytes: int = 2 * 1024 * 1024
    max_rows: int = 1000
    jobs: int = 0  # batch worker processes; 0 means every core
    preview_dpi: int = 60
    warm: bool = True  # lay every blank document out at start, so the first preview is quick
    # Times sign-in pauses, idle sessions, the sign-in limit and batch deletion. The session
    # cookie is signed with a key made at every start, so its times never leave this process.
    clock: Clock = time.monotonic


def password_from(env: str, host: str, line: int, host_line: int) -> str | None:
    """The front-desk password from the environment; refuse a public address without one."""
    password = os.environ.get(env) or None
    problems: list[Problem] = []
    if password is not None and len(password) < MIN_PASSWORD:
        problems.append(Problem(SOURCE, line, "--password-env", f"${env} is {len(password)} characters long",
                                f"a front-desk password of at least {MIN_PASSWORD} characters"))
    if password is None and not is_loopback(host):
        problems.append(Problem(SOURCE, host_line, "--host",
                                f"{host!r} can be reached from other computers and no front-desk "
                                f"password is set",
                                f"export {env}=<a password of at least {MIN_PASSWORD} characters>, "
                                "or --host 127.0.0.1"))
    if problems:
        raise UsageError(problems)
    return password


def proxy_from(address: str | None, password: str | None, env: str, line: int) -> str | None:
    """The TLS proxy's address for --behind-proxy: an IP address, and only with a password."""
    if address is None:
        return None
    problems: list[Problem] = []
    try:
        address = str(ipaddress.ip_address(address))
    except ValueError:
        problems.append(Problem(SOURCE, line, "--behind-proxy", f"{address!r} is not an IP address",
                                "the address the proxy connects from, e.g. 127.0.0.1"))
    if password is None:
        problems.append(Problem(SOURCE, line, "--behind-proxy", "a proxy serves other computers and no "
                                "front-desk password is set",
                                f"export {env}=<a password of at least {MIN_PASSWORD} characters>"))
    if problems:
        raise UsageError(problems)
    return address
