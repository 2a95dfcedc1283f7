"""Write a file atomically: into a temporary file, then renamed into place.

A reader of an output of the pipeline (a CSV, a FITS image, a PNG, a cached download) must never see a
half-written file, and a failed or interrupted write must leave the previous file untouched. Every output is
therefore written to a temporary file in the same folder (or in a scratch folder on the same file system),
flushed to disk, and renamed to its final name with :func:`os.replace`, which is atomic on POSIX.

The temporary file gets the usual permissions of a new file (0666 less the umask), not the 0600 of
:func:`tempfile.mkstemp`: it is created by :func:`open` (mode 0666, plus ``O_EXCL``) and the kernel applies
the process's umask at that moment, so the umask is never read nor changed (``os.umask`` can only be read
by setting it, which races with other threads).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write"]

_NAME_ATTEMPTS = 100  # random names tried before giving up (a collision needs 2**48 files)


@contextmanager
def atomic_write(
    path: str | os.PathLike[str],
    mode: str = "wb",
    *,
    encoding: str | None = None,
    newline: str | None = None,
    scratch_folder: str | os.PathLike[str] | None = None,
    suffix: str = ".tmp",
) -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` when the ``with`` block ends without an exception.

    Parameters
    ----------
    path
        The final file. Its folder must exist; an existing file is replaced, and stays untouched until then.
    mode
        ``"wb"`` (bytes) or ``"w"`` (text).
    encoding, newline
        As for :func:`open`, in text mode.
    scratch_folder
        Where the temporary file is created, on the same file system as ``path`` (the rename must not
        cross file systems); the folder of ``path`` by default.
    suffix
        The end of the temporary file's name, which is ``.<name of path>.<random hex><suffix>`` (hidden).

    Yields
    ------
    IO
        The open temporary file. Its ``name`` is the temporary path, so that the caller can check the
        written file before it is renamed (flush it first); an exception raised in the block cancels the
        write.

    Notes
    -----
    At the end of the block the file is flushed, ``fsync``-ed (so that the rename never exposes a file whose
    data is not on disk yet), closed and renamed to ``path``. On any exception, including
    ``KeyboardInterrupt``, the temporary file is removed and ``path`` is left as it was. An OS error that does
    not name its file (a write or ``fsync`` failing on a full disk) is raised again naming ``path``.

    Examples
    --------
    >>> with atomic_write(folder / "stats.csv", "w", encoding="utf-8", newline="") as stream:  # doctest: +SKIP
    ...     stream.write(text)
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', not {mode!r}")
    target = Path(path)
    folder = Path(scratch_folder) if scratch_folder is not None else target.parent
    stream = _create_temporary(folder, f".{target.name}.", suffix, mode, encoding, newline)
    temporary = Path(stream.name)
    try:
        with stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        if error.filename is None and error.errno is not None:  # a failed write or fsync does not say which file
            raise type(error)(error.errno, error.strerror, str(target)) from error
        raise
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _create_temporary(folder: Path, prefix: str, suffix: str, mode: str, encoding: str | None,
                      newline: str | None) -> IO[Any]:
    """Open a new file ``<folder>/<prefix><random hex><suffix>`` (mode 0666 less the umask).

    ``O_EXCL`` makes the creation fail rather than reuse an existing file, so two writers never share one.
    (Not mode ``"x"``: the file keeps its mode ``"w"``/``"wb"``, which some writers, e.g. astropy, check.)
    """
    for _ in range(_NAME_ATTEMPTS):
        temporary = folder / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            return open(temporary, mode, encoding=encoding, newline=newline, opener=_exclusive)  # closed by the caller
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: no free temporary file name {prefix}*{suffix} after {_NAME_ATTEMPTS} attempts")


def _exclusive(path: str, flags: int) -> int:
    """The opener of :func:`open` with ``O_EXCL`` added: fail if ``path`` exists."""
    return os.open(path, flags | os.O_EXCL, 0o666)
