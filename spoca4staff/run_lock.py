"""One run at a time, and clean interruptions: the run lock and the signal handling.

Two runs of the same configuration (a cron run still going when the next one starts) would compute the same
time steps and fight over the centres files. :class:`RunLock` makes the second one stop at once; the kernel
releases the lock when its holder dies, even with SIGKILL. :func:`interruptible` turns SIGTERM and Ctrl-C into
:class:`RunInterrupted`, so that the running job is stopped and recorded as interrupted.
"""

from __future__ import annotations

import fcntl
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["RunInterrupted", "LockBusy", "RunLock", "interruptible"]


class RunInterrupted(BaseException):
    """Raised in the main thread by SIGTERM or SIGINT (a BaseException, like KeyboardInterrupt)."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name


class LockBusy(Exception):
    """Another run holds the lock of this configuration."""


class RunLock:
    """An exclusive, non-blocking ``flock`` on a lock file: one run at a time per configuration.

    The lock is released by the kernel when the process dies, even with SIGKILL, so a stale lock file
    never blocks the next run. The file itself is kept (deleting it would race with other runs); it
    holds the pid of the current holder, for the operator.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`LockBusy` at once, naming the file and the holder's pid.

        Raises OSError (with the lock file as its ``filename``) when the lock file cannot be created or
        written (disk full, read-only file system, no permission).
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock_file = self.path.open("a+", encoding="utf-8")
        except OSError as error:
            raise _named(error, self.path) from error
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            holder = lock_file.read().strip() or "unknown"
            lock_file.close()
            raise LockBusy(f"another run holds the lock {self.path} (pid {holder}); nothing done") from None
        try:
            lock_file.seek(0)
            lock_file.truncate()
            lock_file.write(f"{os.getpid()}\n")
            lock_file.flush()
        except OSError as error:
            lock_file.close()
            raise _named(error, self.path) from error
        self._file = lock_file
        return self

    def release(self) -> None:
        """Release the lock (closing the file releases the flock)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> RunLock:
        return self.acquire() if self._file is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


@contextmanager
def interruptible() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into :class:`RunInterrupted` (once; later signals are ignored while cleaning up)."""
    received: list[str] = []

    def handler(number: int, _frame: object) -> None:
        if received:
            return
        received.append(signal.Signals(number).name)
        raise RunInterrupted(received[0])

    previous = {number: signal.signal(number, handler) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def _named(error: OSError, path: os.PathLike | str) -> OSError:
    """``error`` with ``path`` as its file name when it has none (``os.write`` and friends do not say)."""
    if error.filename is not None or error.errno is None:
        return error
    return type(error)(error.errno, error.strerror, str(path))
