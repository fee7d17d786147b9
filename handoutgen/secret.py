"""The installation secret: the key of every hash taken over patient values.

Ledger keys, Message-IDs, walk-in appointment ids and the manifest's `inputs` of patient
documents are HMAC-SHA256 with this secret, so someone who has the library and a ledger or
manifest cannot confirm a guessed name by hashing it. The secret is made on first use, 32
random bytes as hex in a file readable by its owner only, outside the library:
$HANDOUTGEN_SECRET if set, else $XDG_CONFIG_HOME/handoutgen/secret, else
~/.config/handoutgen/secret. docs/admin.md says how to back it up.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
from functools import lru_cache
from pathlib import Path

from .errors import DeliveryError, UsageError
from .load import display

ENV = "HANDOUTGEN_SECRET"
_HEX = re.compile(r"[0-9a-f]{64}")


def secret_path() -> Path:
    """Where this installation keeps its secret."""
    return _secret_path(os.environ.get(ENV), os.environ.get("XDG_CONFIG_HOME"), os.environ.get("HOME"))


@lru_cache(maxsize=4)  # a batch hashes every row's values: the place is worked out once
def _secret_path(given: str | None, config: str | None, home: str | None) -> Path:
    if given:
        return Path(given)
    return Path(config or str(Path.home() / ".config")) / "handoutgen" / "secret"


def keyed_hash(data: bytes) -> str:
    """HMAC-SHA256 of `data` under the installation secret, as hex."""
    return hmac.new(_secret(secret_path()), data, hashlib.sha256).hexdigest()


def key_id() -> str:
    """A name for the secret that tells secrets apart and reveals nothing of it."""
    return keyed_hash(b"handoutgen key id")[:16]


@lru_cache(maxsize=4)
def _secret(path: Path) -> bytes:
    """Read the secret, making it first if there is none."""
    if not path.exists():
        _create(path)
    return _read(path)


def _create(path: Path) -> None:
    """Write a new secret; if another process makes one at the same moment, theirs is kept."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (os.urandom(32).hex() + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):  # a link, unlike a rename, never replaces one
            os.link(tmp, path)
    except OSError as err:
        raise DeliveryError.one(display(path), 1, "secret", f"cannot create: {err.strerror}",
                                f"a writable folder, or ${ENV} naming a file in one") from err
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_mode & 0o077:
            raise UsageError.one(display(path), 1, "secret", "other users can read or change it",
                                 f"readable by its owner only: chmod 600 {display(path)}")
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError as err:
        raise DeliveryError.one(display(path), 1, "secret", f"cannot read: {err.strerror}",
                                "the secret file this program made, or its backup") from err
    if not _HEX.fullmatch(text):
        raise UsageError.one(display(path), 1, "secret", "is not a secret this program made",
                             "64 hexadecimal digits: restore the file from its backup")
    return bytes.fromhex(text)
