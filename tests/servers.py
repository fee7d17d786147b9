"""Real servers for the delivery tests, on 127.0.0.1 or a unix socket, started and stopped here.

- SmtpServer: aiosmtpd with STARTTLS (or implicit TLS) and a required login, a self-signed
  certificate, and faults to inject per message (451, 550, a dropped connection).
- Cups: a private cupsd with its own configuration, socket and spool, and file-backed queues
  using the generic PDF printer driver.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "handouts@clinic.test", "s3cret-pass"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1; returns (certificate, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    """One message the server accepted."""

    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class _Handler:
    messages: list[Received] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)  # one per DATA, in order: "451", "550", "drop"
    attempts: int = 0  # DATA commands seen, including refused ones

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        fault = self.faults.pop(0) if self.faults else ""
        if fault == "451":
            return "451 4.3.0 Try again later"
        if fault == "550":
            return f"550 5.7.1 <{envelope.rcpt_tos[0]}> rejected"
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        if fault == "drop":  # accepted, then the connection breaks before the reply
            server.transport.close()
        return "250 2.0.0 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login.decode() == USER \
        and data.password.decode() == PASSWORD
    return AuthResult(success=ok, handled=False)


class SmtpServer:
    """aiosmtpd on 127.0.0.1: STARTTLS required before login, login required before mail."""

    def __init__(self, folder: Path, security: str = "starttls") -> None:
        """security: "starttls" (required before login), "tls" (implicit) or "none" (plain)."""
        self.cert, self.key = make_certificate(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        self.handler = _Handler()
        self.port = free_port()
        options: dict[str, Any] = {
            "starttls": {"tls_context": context, "require_starttls": True, "auth_require_tls": True},
            "tls": {"ssl_context": context, "auth_require_tls": False},  # it cannot see implicit TLS
            "none": {"auth_require_tls": False},
        }[security]
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     authenticator=_authenticate, auth_required=True,
                                     server_hostname="localhost", **options)

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    def fail_next(self, *faults: str) -> None:
        """Make the next DATA commands fail, in order."""
        self.handler.faults.extend(faults)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


class Cups:
    """A private CUPS scheduler: its own config, socket, spool and logs in a world-readable folder."""

    def __init__(self) -> None:
        # cupsd's filters run as user lp: the folder must not sit under a 0700 pytest folder
        self.dir = Path(tempfile.mkdtemp(prefix="handoutgen-cups-"))
        self.dir.chmod(0o755)
        self.socket = self.dir / "cups.sock"
        self.out = self.dir / "out"
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {**os.environ, "CUPS_SERVER": str(self.socket)}

    def start(self) -> Cups:
        for sub in ("spool", "spool/tmp", "cache", "state", "logs", "out"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
            (self.dir / sub).chmod(0o777 if sub in ("out", "spool/tmp") else 0o755)
        (self.dir / "cupsd.conf").write_text(
            f"Listen {self.socket}\nBrowsing No\nErrorPolicy abort-job\nLogLevel warn\n"
            "DefaultAuthType None\n<Location />\n  Order allow,deny\n  Allow all\n</Location>\n"
            "<Policy default>\n  <Limit All>\n    Order allow,deny\n    Allow all\n  </Limit>\n"
            "</Policy>\n")
        (self.dir / "cups-files.conf").write_text(
            f"ServerRoot {self.dir}\nRequestRoot {self.dir / 'spool'}\nTempDir {self.dir / 'spool/tmp'}\n"
            f"CacheDir {self.dir / 'cache'}\nStateDir {self.dir / 'state'}\n"
            f"AccessLog {self.dir / 'logs/access_log'}\nErrorLog {self.dir / 'logs/error_log'}\n"
            f"PageLog {self.dir / 'logs/page_log'}\nFileDevice Yes\n")
        self.process = subprocess.Popen(
            ["cupsd", "-f", "-c", str(self.dir / "cupsd.conf"), "-s", str(self.dir / "cups-files.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.socket.exists() and subprocess.run(["lpstat", "-r"], env=self.env(),
                                                       capture_output=True).returncode == 0:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("cupsd did not start: " + self.log())

    def add_printer(self, name: str) -> Path:
        """A queue with the generic PDF driver whose output goes to a file; returns that file."""
        target = self.out / f"{name}.prn"
        subprocess.run(["lpadmin", "-p", name, "-E", "-v", f"file://{target}",
                        "-m", "lsb/usr/cupsfilters/Generic-PDF_Printer-PDF.ppd"],
                       env=self.env(), check=True, capture_output=True)
        return target

    def wait_idle(self, timeout: float = 60) -> None:
        """Wait until every job has left the queue (the output file is complete only then)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = subprocess.run(["lpstat", "-o"], env=self.env(), capture_output=True, text=True)
            if not jobs.stdout.strip():
                return
            time.sleep(0.2)
        raise RuntimeError("jobs still queued: " + self.log())

    def completed(self) -> list[str]:
        """Lines of `lpstat -W completed -o`: the jobs that finished."""
        return subprocess.run(["lpstat", "-W", "completed", "-o"], env=self.env(), capture_output=True,
                              text=True).stdout.splitlines()

    def log(self) -> str:
        path = self.dir / "logs/error_log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)
