"""Tests of atomic_file.atomic_write: permissions, the rename, and nothing changed or left behind on failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from spoca4staff.atomic_file import atomic_write


class _Failure(Exception):
    """Raised inside the ``with`` block to make the write fail."""


def test_bytes_written_with_the_usual_permissions(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "image.fits"
    with atomic_write(target) as stream:
        stream.write(b"\x00\x01 bytes")
    assert target.read_bytes() == b"\x00\x01 bytes"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0o600
    assert [path.name for path in tmp_path.iterdir()] == ["image.fits"]


def test_permissions_follow_the_umask_at_call_time(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        with atomic_write(tmp_path / "private.csv", "w") as stream:
            stream.write("a")
        os.umask(0o002)
        with atomic_write(tmp_path / "shared.csv", "w") as stream:
            stream.write("b")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "private.csv").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "shared.csv").stat().st_mode) == 0o664


def test_text_mode_encoding_and_newline(tmp_path: Path) -> None:
    target = tmp_path / "stats.csv"
    with atomic_write(target, "w", encoding="utf-8", newline="") as stream:
        stream.write("Å,b\r\n")
    assert target.read_bytes() == "Å,b\r\n".encode()


def test_the_rename_is_what_makes_the_file_appear(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with atomic_write(target, "w", suffix=".part") as stream:
        stream.write("whole")
        stream.flush()
        temporary = Path(stream.name)
        assert not target.exists()
        assert temporary.parent == tmp_path and temporary.name.startswith(".out.txt.")
        assert temporary.name.endswith(".part")
        assert temporary.read_text() == "whole"  # the caller can check the file before the rename
    assert target.read_text() == "whole"
    assert not temporary.exists()


def test_an_existing_file_is_replaced_only_at_the_end(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_write(target, "w") as stream:
        stream.write("new")
        stream.flush()
        assert target.read_text() == "old"
    assert target.read_text() == "new"


@pytest.mark.parametrize("error", [_Failure("bad data"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_target_untouched_and_nothing_behind(tmp_path: Path,
                                                                        error: BaseException) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(type(error)), atomic_write(target, "w") as stream:
        stream.write("half")
        raise error
    assert target.read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["out.txt"]


def test_a_failed_first_write_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(_Failure), atomic_write(tmp_path / "new.bin") as stream:
        stream.write(b"half")
        raise _Failure
    assert list(tmp_path.iterdir()) == []


def test_scratch_folder_holds_the_temporary_file(tmp_path: Path) -> None:
    scratch, output = tmp_path / "scratch", tmp_path / "output"
    scratch.mkdir()
    output.mkdir()
    target = output / "centers.txt"
    with atomic_write(target, "w", scratch_folder=scratch) as stream:
        stream.write("1 2 3\n")
        assert Path(stream.name).parent == scratch
        assert list(output.iterdir()) == []
    assert target.read_text() == "1 2 3\n"
    assert list(scratch.iterdir()) == []


def test_a_failed_rename_removes_the_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "folder"
    target.mkdir()  # os.replace cannot put a file over a folder
    with pytest.raises(OSError), atomic_write(target) as stream:
        stream.write(b"data")
    assert target.is_dir() and list(target.iterdir()) == []
    assert [path.name for path in tmp_path.iterdir()] == ["folder"]


def test_only_write_modes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"), atomic_write(tmp_path / "x", "a"):
        pass
    assert list(tmp_path.iterdir()) == []
