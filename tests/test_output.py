"""Files are written atomically: a failed write leaves no partial file and no temporary file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_library

from handoutgen.errors import DeliveryError
from handoutgen.output import confined, write_atomic


def test_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.pdf"
    write_atomic(target, b"first")
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["b.pdf"]


def test_output_names_cannot_leave_the_output_folder(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError) as caught:
        confined(tmp_path, "../escape.pdf")
    assert "leaves the output folder" in str(caught.value)


def test_full_disk_leaves_no_partial_file(tmp_path: Path) -> None:
    """A file-size limit makes every write past 4 KB fail, as a full disk would."""
    root = copy_library(tmp_path / "lib")
    target = tmp_path / "out" / "handout.pdf"
    target.parent.mkdir()
    target.write_bytes(b"old copy")
    code = (
        "import resource, sys; from handoutgen.cli import main;"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096));"
        f"sys.exit(main(['build', '--clinic', 'birch', '--treatment', 'needling',"
        f" '--kind', 'consent', '-o', {str(target)!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                            check=False, timeout=120)
    assert result.returncode == 3
    assert result.stderr == f"error: {target}:1: output: cannot write: File too large " \
                            "(a writable folder with free space)\n"
    assert target.read_bytes() == b"old copy"
    assert [p.name for p in target.parent.iterdir()] == ["handout.pdf"]
