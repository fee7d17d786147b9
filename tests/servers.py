"""Real servers for the delivery tests, on 127.0.0.1 or a unix socket, started and stopped here.

- SmtpServer: aiosmtpd with STARTTLS (or implicit TLS) and a required login, a self-signed
  certificate, and faults to inject per message (451, 550, a dropped connection).
- Cups: a private cupsd with its own configuration, socket, spool and file-backed queues using
  the generic PDF printer driver; its clients see its queues only, whatever CUPS settings the
  machine has, and a wait fails at once, with cupsd's log, when a job or cupsd fails.
"""

from __future__ import annotations

import datetime
import getpass
import http.client
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "handouts@clinic.test", "s3cret-pass"
ALDER = "assets/clinics/alder/clinic.yaml"
BIRCH = "assets/clinics/birch/clinic.yaml"


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


class _Controller(Controller):
    """aiosmtpd's controller, failing at once when the server cannot start (say its port is taken)
    instead of after the 5 s it waits for a server that is slow to start."""

    def _run(self, ready_event: threading.Event) -> None:
        super()._run(ready_event)  # returns at once if the server could not start (else at stop)
        ready_event.set()

    def _trigger_server(self) -> None:
        if self._thread_exception is not None:
            raise self._thread_exception
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpServer:
    """aiosmtpd on 127.0.0.1: STARTTLS required before login, login required before mail."""

    def __init__(self, folder: Path, security: str = "starttls") -> None:
        """security: "starttls" (required before login), "tls" (implicit) or "none" (plain)."""
        self.cert, self.key = make_certificate(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        self.handler = _Handler()
        self.port = free_port()
        options: dict[str, dict[str, Any]] = {
            "starttls": {"tls_context": context, "require_starttls": True, "auth_require_tls": True},
            "tls": {"ssl_context": context, "auth_require_tls": False},  # it cannot see implicit TLS
            "none": {"auth_require_tls": False},
        }
        self.controller = _Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     authenticator=_authenticate, auth_required=True,
                                     server_hostname="localhost", **options[security])

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


def mail_section(server: SmtpServer, security: str = "starttls", attachments: str = "passcode",
                 host: str = "127.0.0.1", body: str = "") -> str:
    """Mail settings for the test server (`body` "" leaves the clinic's default, the minimal body)."""
    return (f"mail:\n  sender: handouts@clinic.test\n  smtp:\n    host: {host}\n    port: {server.port}\n"
            f"    security: {security}\n    user: {USER}\n    password_env: TEST_SMTP_PASSWORD\n"
            f"    ca_file: smtp-cert.pem\n  attachments: {attachments}\n  retry_delay_seconds: 0.01\n"
            + (f"  body: {body}\n" if body else ""))


def use_server(lib: Path, server: SmtpServer, clinic: str = ALDER, **settings: str) -> None:
    """Point a clinic's mail settings at the test server (see mail_section) and trust its certificate."""
    path = lib / clinic
    text = path.read_text(encoding="utf-8").split("\nmail:\n")[0].split("\nprinter:")[0].rstrip("\n")
    path.write_text(text + "\n" + mail_section(server, **settings), encoding="utf-8")
    shutil.copy(server.cert, path.parent / "smtp-cert.pem")


JOB_STATES = {3: "pending", 4: "held", 5: "processing", 6: "stopped", 7: "canceled", 8: "aborted",
              9: "completed"}
FINISHED = ("canceled", "aborted", "completed")


def _is_cups_setting(name: str) -> bool:
    """Whether libcups reads this environment variable (a server, user, default printer...)."""
    return name.startswith("CUPS_") or name in ("LPDEST", "PRINTER")


@dataclass(frozen=True)
class Job:
    """A print job as the scheduler reports it."""

    id: int
    queue: str
    state: str  # one of JOB_STATES' values
    message: str  # the last message of its filters or backend
    name: str  # its title (job-name), as the spooler shows it


@dataclass(frozen=True)
class Queue:
    """A printer queue as the scheduler reports it."""

    name: str
    stopped: bool
    message: str


class _UnixConnection(http.client.HTTPConnection):
    """HTTP to the scheduler's unix socket."""

    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self.path))
        self.sock = sock


def _ipp_request(operation: int, attributes: list[tuple[int, str, list[str]]]) -> bytes:
    """An IPP 2.0 request with these operation attributes: (value tag, name, values)."""
    body = bytearray(struct.pack(">hhi", 0x0200, operation, 1))
    body.append(0x01)  # operation-attributes-tag
    for tag, name, values in attributes:
        for index, value in enumerate(values):
            key, raw = name.encode() if index == 0 else b"", value.encode()
            body += struct.pack(">bh", tag, len(key)) + key + struct.pack(">h", len(raw)) + raw
    body.append(0x03)  # end-of-attributes-tag
    return bytes(body)


def _ipp_groups(data: bytes, group: int) -> list[dict[str, list[bytes]]]:
    """The attribute groups of one kind (2 jobs, 4 printers) in an IPP response: name -> values."""
    found: list[dict[str, list[bytes]]] = []
    current: dict[str, list[bytes]] | None = None
    name, at = "", 8  # after the version, status and request id
    while at < len(data) and data[at] != 0x03:
        tag, at = data[at], at + 1
        if tag < 0x10:  # a delimiter: the next group starts
            current = {} if tag == group else None
            if current is not None:
                found.append(current)
            continue
        (size,) = struct.unpack_from(">h", data, at)
        name = data[at + 2:at + 2 + size].decode() if size else name  # no name: one more value
        at += 2 + size
        (size,) = struct.unpack_from(">h", data, at)
        if current is not None:
            current.setdefault(name, []).append(data[at + 2:at + 2 + size])
        at += 2 + size
    return found


def _text(group: dict[str, list[bytes]], name: str) -> str:
    return group.get(name, [b""])[0].decode("utf-8", "replace")


def _number(group: dict[str, list[bytes]], name: str) -> int:
    return int.from_bytes(group.get(name, [b"\0"])[0], "big")


class Cups:
    """A private CUPS scheduler that owns its whole configuration: its own config, socket, spool,
    logs and queues in a world-readable folder, no sharing or DNS-SD, and an environment for its
    clients in which they see its queues only: not the machine's scheduler, client.conf, lpoptions
    or default printer, nor printers that other machines advertise."""

    def __init__(self) -> None:
        # cupsd's filters run as user lp: the folder must not sit under a 0700 pytest folder
        self.dir = Path(tempfile.mkdtemp(prefix="handoutgen-cups-"))
        self.dir.chmod(0o755)
        self.socket = self.dir / "cups.sock"
        self.out = self.dir / "out"
        self.process: subprocess.Popen[bytes] | None = None
        self._settled = 0  # jobs up to this id have been waited for: a failure is reported once

    def client_env(self) -> dict[str, str]:
        """The variables that point a CUPS client at this server and nothing else."""
        return {
            "CUPS_SERVER": str(self.socket),
            # client.conf and lpoptions are read from here instead of /etc/cups
            "CUPS_SERVERROOT": str(self.dir / "client"),
            # ~/.cups/lpoptions and ~/.cups/client.conf: an empty home
            "HOME": str(self.dir / "home"),
            # libcups adds printers advertised over DNS-SD, found through avahi on the system bus:
            # without a bus it lists the server's queues only
            "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={self.dir / 'no-system-bus'}",
        }

    def env(self) -> dict[str, str]:
        """This process's environment with the machine's CUPS settings replaced by this server's."""
        kept = {name: value for name, value in os.environ.items() if not _is_cups_setting(name)}
        return kept | self.client_env()

    def isolate(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make this process's CUPS clients (the tool under test) see this server only."""
        for name in [name for name in os.environ if _is_cups_setting(name)]:
            monkeypatch.delenv(name)
        for name, value in self.client_env().items():
            monkeypatch.setenv(name, value)

    def start(self) -> Cups:
        """Write the configuration, start cupsd and wait until it answers."""
        self._configure()
        try:
            with (self.dir / "logs/stderr").open("wb") as stderr:
                self.process = subprocess.Popen(
                    ["cupsd", "-f", "-c", str(self.dir / "cupsd.conf"), "-s",
                     str(self.dir / "cups-files.conf")],
                    env=self.env(), stdout=subprocess.DEVNULL, stderr=stderr)
            deadline = time.monotonic() + 20  # a last resort: cupsd answers within a second
            while not self._answers():
                self._check_alive("cupsd did not start")  # waits a moment for it to exit
                if self._errors():  # e.g. it cannot listen on the socket yet keeps running
                    raise RuntimeError("cupsd did not start\n" + self.log())
                if time.monotonic() > deadline:
                    raise RuntimeError("cupsd did not answer in 20 s\n" + self.log())
        except BaseException:
            self.stop()
            raise
        return self

    def _configure(self) -> None:
        for sub in ("spool", "spool/tmp", "cache", "state", "logs", "out", "client", "home"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
            (self.dir / sub).chmod(0o777 if sub in ("out", "spool/tmp") else 0o755)
        (self.dir / "cupsd.conf").write_text(
            f"Listen {self.socket}\nBrowsing No\nBrowseLocalProtocols none\nDefaultShared No\n"
            "ErrorPolicy abort-job\nLogLevel warn\nDefaultAuthType None\n"
            "<Location />\n  Order allow,deny\n  Allow all\n</Location>\n"
            "<Policy default>\n  JobPrivateAccess default\n  JobPrivateValues default\n"
            "  SubscriptionPrivateAccess default\n  SubscriptionPrivateValues default\n"
            "  <Limit All>\n    Order allow,deny\n    Allow all\n  </Limit>\n</Policy>\n")
        (self.dir / "cups-files.conf").write_text(
            f"ServerRoot {self.dir}\nRequestRoot {self.dir / 'spool'}\nTempDir {self.dir / 'spool/tmp'}\n"
            f"CacheDir {self.dir / 'cache'}\nStateDir {self.dir / 'state'}\n"
            f"AccessLog {self.dir / 'logs/access_log'}\nErrorLog {self.dir / 'logs/error_log'}\n"
            f"PageLog {self.dir / 'logs/page_log'}\n"
            # the default, /run/cups/printcap, is the system scheduler's
            f"Printcap {self.dir / 'printcap'}\nFileDevice Yes\n")
        (self.dir / "client/client.conf").write_text(f"ServerName {self.socket}\n")

    def add_printer(self, name: str) -> Path:
        """A queue with the generic PDF driver whose output goes to a file; returns that file."""
        target = self.out / f"{name}.prn"
        # Debian 12's CUPS (2.4.2) writes into a file: queue's file but does not create it: without
        # the file every job stops ("the scheduler could not open the output file")
        target.touch()
        self._run("lpadmin", "-p", name, "-E", "-v", f"file://{target}",
                  "-m", "lsb/usr/cupsfilters/Generic-PDF_Printer-PDF.ppd")
        return target

    def remove_printer(self, name: str) -> None:
        self._run("lpadmin", "-x", name)
        (self.out / f"{name}.prn").unlink(missing_ok=True)

    def clear_output(self) -> None:
        """Empty every queue's output file (keeping the files, which the scheduler needs)."""
        for target in self.out.glob("*.prn"):
            target.write_bytes(b"")

    def wait_idle(self, timeout: float = 60) -> None:
        """Wait until every job has finished (only then is its output file complete). Fail at once,
        with the scheduler's log, when a job stops, is held, canceled or aborted, a queue with jobs
        stops, or cupsd exits: the timeout is a last resort for a job that never ends."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                jobs, queues = self.jobs(), self.queues()
            except (OSError, http.client.HTTPException) as err:
                self._check_alive("cupsd exited while jobs were printing")
                raise RuntimeError(f"cupsd stopped answering: {err!r}\n" + self.log()) from err
            waiting = {job.queue for job in jobs if job.state not in FINISHED}
            problems = [f"job {job.id} on {job.queue} {job.state}: {job.message or '(no message)'}"
                        for job in jobs if job.state in ("held", "stopped")
                        or (job.state in ("canceled", "aborted") and job.id > self._settled)]
            problems += [f"queue {queue.name} stopped: {queue.message or '(no message)'}"
                         for queue in queues if queue.stopped and queue.name in waiting]
            if problems:
                self._clean_up(jobs)
                raise RuntimeError("printing failed: " + "; ".join(problems) + "\n" + self.log())
            if not waiting:
                self._settled = max([job.id for job in jobs], default=self._settled)
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"jobs still printing after {timeout} s\n" + self.log())
            time.sleep(0.1)

    def _clean_up(self, jobs: list[Job]) -> None:
        """Cancel the unfinished jobs and restart stopped queues, so the next test starts clean."""
        self._run("cancel", "-a")
        for queue in self.queues():
            if queue.stopped:
                self._run("cupsenable", queue.name)
        self._settled = max([job.id for job in jobs], default=self._settled)

    def jobs(self) -> list[Job]:
        """Every job the scheduler remembers, finished or not."""
        groups = self._ipp(0x000A, [(0x45, "printer-uri", ["ipp://localhost/"]),
                                    (0x44, "which-jobs", ["all"]),
                                    (0x44, "requested-attributes",
                                     ["job-id", "job-state", "job-printer-uri",
                                      "job-printer-state-message", "job-name"])], group=2)  # Get-Jobs
        return [Job(_number(job, "job-id"), _text(job, "job-printer-uri").rsplit("/", 1)[-1],
                    JOB_STATES.get(_number(job, "job-state"), "unknown"),
                    _text(job, "job-printer-state-message"), _text(job, "job-name")) for job in groups]

    def completed(self) -> list[int]:
        """The ids of the jobs that finished printing."""
        return [job.id for job in self.jobs() if job.state == "completed"]

    def queues(self) -> list[Queue]:
        """Every queue, and whether it is stopped."""
        groups = self._ipp(0x4002, [(0x44, "requested-attributes",
                                     ["printer-name", "printer-state", "printer-state-message"])],
                           group=4)  # CUPS-Get-Printers
        return [Queue(_text(queue, "printer-name"), _number(queue, "printer-state") == 5,
                      _text(queue, "printer-state-message")) for queue in groups]

    def _ipp(self, operation: int, attributes: list[tuple[int, str, list[str]]],
             group: int) -> list[dict[str, list[bytes]]]:
        """One IPP request to the scheduler; the response's groups of one kind."""
        request = _ipp_request(operation, [(0x47, "attributes-charset", ["utf-8"]),
                                           (0x48, "attributes-natural-language", ["en"]),
                                           *attributes,
                                           (0x42, "requesting-user-name", [getpass.getuser()])])
        connection = _UnixConnection(self.socket)
        try:
            connection.request("POST", "/", body=request, headers={"Content-Type": "application/ipp"})
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        status = int.from_bytes(data[2:4], "big") if response.status == 200 else -1
        if status < 0 or (status >= 0x0400 and status != 0x0406):  # 0x0406: no jobs or queues
            raise RuntimeError(f"cupsd refused IPP operation {operation:#06x}: HTTP {response.status}, "
                               f"IPP status {status:#06x}\n" + self.log())
        return _ipp_groups(data, group)

    def _answers(self) -> bool:
        """Whether cupsd takes requests on its socket yet."""
        try:
            self.queues()
        except (OSError, http.client.HTTPException):
            return False
        return True

    def _check_alive(self, what: str) -> None:
        """Fail with the log if cupsd has exited (or exits within a moment, as a killed one does)."""
        try:
            code = self.process.wait(timeout=0.2) if self.process is not None else None
        except subprocess.TimeoutExpired:
            return
        raise RuntimeError(f"{what}: cupsd exited (status {code})\n" + self.log())

    def _run(self, *command: str) -> None:
        """Run a CUPS command against this server; fail with its message and the log."""
        result = subprocess.run(command, env=self.env(), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}\n" + self.log())

    def _lines(self, name: str) -> list[str]:
        path = self.dir / "logs" / name
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    def _errors(self) -> list[str]:
        """The lines of the error log at level error or worse (E, C, A, X)."""
        return [line for line in self._lines("error_log") if line[:2] in ("E ", "C ", "A ", "X ")]

    def log(self) -> str:
        """The end of cupsd's error log and anything it wrote to stderr."""
        parts = []
        for name in ("error_log", "stderr"):
            # a failed job's debug history lists every argument and variable of its filters: noise
            lines = [line for line in self._lines(name) if "] argv[" not in line and "] envp[" not in line]
            if lines:
                parts.append(f"--- cupsd {name} (last lines) ---\n" + "\n".join(lines[-30:]))
        return "\n".join(parts) or "(cupsd logged nothing)"

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
