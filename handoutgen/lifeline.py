"""Processes that end with the process that started them, and folders that are theirs while they live.

A batch's workers write patient PDFs. If the program that started them is killed (kill -9, a
crash, the computer's memory running out), they must not carry on writing into a folder nobody
will collect, nor race the next start that deletes such folders. On Linux the kernel ends them
when their parent ends (PR_SET_PDEATHSIG); everywhere, they also check between tasks.

A folder a process writes into holds a lock file: the process and its workers hold a shared lock
on it as long as any of them lives, and a sweep deletes a folder only when it can take the lock
for itself.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
LOCK = ".lock"

_parent: int | None = None  # the process this one ends with


def bind_to_parent(parent: int) -> None:
    """End this process when `parent` (the process that started it) ends."""
    global _parent
    _parent = parent
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    check()  # the parent may have ended before the kernel was asked to watch it


def check() -> None:
    """End this process at once if the process it is bound to has ended."""
    if _parent is not None and os.getppid() != _parent:
        os._exit(1)  # nothing to clean up: the folder is swept by the next start


def hold(folder: Path) -> IO[bytes]:
    """Hold the folder's lock (shared) while the file returned is open, here or in a forked worker.

    Raises OSError when the folder is gone or is being swept: its owner has ended."""
    handle = (folder / LOCK).open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise
    return handle  # forked workers inherit it open, and the lock with it


def sweep(folder: Path) -> bool:
    """Delete a folder whose lock nobody holds; False when someone still does (or it has no lock)."""
    try:
        handle = (folder / LOCK).open("rb")
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # a process, or a worker of one, still writes here
        shutil.rmtree(folder, ignore_errors=True)  # under the lock: nobody can take it meanwhile
    return True
