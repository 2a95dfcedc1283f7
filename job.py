"""Run one external program safely: an argument list, captured output, a timeout that kills its whole group.

:class:`Job` builds the command ``[executable, --key value ..., positionals ...]`` and runs it without a shell,
in a process group of its own, so that a timeout (or an interruption of the pipeline) kills the program and
every child it started. On Linux the program also gets SIGKILL when the pipeline dies, even by SIGKILL
(``PR_SET_PDEATHSIG``), so that a hung program never outlives its time-out or its parent. Failures are
reported as :class:`JobError`; the subclass :class:`TransientJobError` marks those worth retrying (a timeout,
a program killed by a signal, an OS error such as a vanished NFS mount), as opposed to a program's
deterministic error (a non-zero exit status with a message), which would fail again.

As a script, ``python job.py EXECUTABLE [PARAM ...]`` runs one program and prints the command, its exit code,
its output and its error output.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from spoca4staff.ledger import STDERR_TAIL_CHARS

__all__ = ["Job", "JobResult", "JobError", "TransientJobError", "JobTimeoutError", "RUN_LOG_FORMAT", "stop_programs"]

LOGGER = logging.getLogger(__name__)

class JobResult(NamedTuple):
    """What a finished program returned: exit code (negative: killed by that signal), stdout, stderr, and the
    wall seconds it ran (0.0 when not measured, e.g. a result built by hand)."""

    exit_code: int
    output: str
    error: str
    seconds: float = 0.0


#: The DEBUG line logged after every program run (program name, exit status, wall seconds, start and end as
#: epoch seconds): a stable format, parsed by ``scripts/benchmark_pipeline.py`` to know when programs ran.
RUN_LOG_FORMAT = "program %s exited with status %d after %.3f s (ran from %.6f to %.6f, epoch seconds)"


class JobError(Exception):
    """A job that failed, with everything needed to understand why.

    Parameters
    ----------
    command
        The argument list that was run.
    exit_code
        The program's exit status; negative when killed by a signal, ``None`` when it did not finish
        (timeout) or could not start.
    stderr
        The program's error output (possibly empty).
    context
        What went wrong from the pipeline's point of view, e.g. "the output file was not written".

    Attributes
    ----------
    transient : bool
        ``False`` here: the failure is deterministic and retrying would not help.
    """

    transient = False

    def __init__(self, command: Sequence[str], exit_code: int | None, stderr: str = "", context: str = ""):
        self.command = [str(part) for part in command]
        self.exit_code = exit_code
        self.stderr = stderr or ""
        self.context = context
        super().__init__(self._message())

    @property
    def command_line(self) -> str:
        """The command as a shell-quoted line, for logs and the ledger (it is never run by a shell)."""
        return shlex.join(self.command)

    @property
    def stderr_tail(self) -> str:
        """The last :data:`ledger.STDERR_TAIL_CHARS` characters of stderr, stripped (what the ledger keeps)."""
        return self.stderr.strip()[-STDERR_TAIL_CHARS:]

    def _message(self) -> str:
        program = Path(self.command[0]).name if self.command else "?"
        if self.exit_code is None:
            status = "did not finish"
        elif self.exit_code < 0:
            status = f"was killed by signal {_signal_name(-self.exit_code)}"
        else:
            status = f"exited with status {self.exit_code}"
        parts = [f"{program} {status}"]
        if self.context:
            parts.append(self.context)
        stderr = self.stderr_tail
        if stderr:
            parts.append(f"stderr: {stderr}")
        return "; ".join(parts) + f" [command: {self.command_line}]"


class TransientJobError(JobError):
    """A failure that may not happen again: killed by a signal, an OS error. Worth retrying."""

    transient = True


class JobTimeoutError(TransientJobError):
    """The program ran longer than its timeout; it was killed together with its whole process group."""


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl`` (Linux only, looked up once), or None.

    Looked up among the symbols already loaded in this process (libc's among them): ``ctypes.util.find_library``
    would run ``ldconfig`` in a subprocess before the first program starts.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to SIGKILL the child when its parent dies (Linux); None elsewhere.

    The parent's pid is taken before the fork: if the parent died between the fork and the ``prctl`` call,
    the child has already been re-parented and kills itself at once.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return set_parent_death_signal


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


class Job:
    """One run of an external program.

    Parameters
    ----------
    executable
        The program to run.
    positional_parameters
        Arguments placed after the options, in order.
    optional_parameters
        Options, in order, given as ``--key value``; a ``None`` value gives a bare ``--key``.

    Examples
    --------
    >>> Job("prog", ["a.fits"], {"config": "x.config", "verbose": None}).command
    ['prog', '--config', 'x.config', '--verbose', 'a.fits']
    """

    def __init__(self, executable: str | os.PathLike, positional_parameters: Sequence[object] = (),
                 optional_parameters: Mapping[str, object | None] | None = None):
        self.executable = Path(executable)
        self.positional_parameters = [str(parameter) for parameter in positional_parameters]
        self.optional_parameters = dict(optional_parameters or {})

    @property
    def command(self) -> list[str]:
        """The argument list: ``[executable, --key value ..., positionals ...]``."""
        command = [str(self.executable)]
        for key, value in self.optional_parameters.items():
            command.append(f"--{key}")
            if value is not None:
                command.append(str(value))
        return command + self.positional_parameters

    @property
    def command_line(self) -> str:
        """The command as a shell-quoted line, for logs (it is never run by a shell)."""
        return shlex.join(self.command)

    def execute(self, timeout: float | None = None) -> JobResult:
        """Run the program and wait for it.

        The program runs in a new session (its own process group); on timeout, or when the caller is
        interrupted (``KeyboardInterrupt``, or any exception raised by a signal handler), the whole group is
        killed before the exception goes on. On Linux the program is killed too when this process dies.

        Parameters
        ----------
        timeout
            Seconds after which the program is killed; ``None`` waits for ever.

        Returns
        -------
        JobResult
            The exit code (whatever it is: this method does not judge it), stdout, stderr and the wall seconds
            the program ran, also logged at DEBUG (:data:`RUN_LOG_FORMAT`).

        Raises
        ------
        JobTimeoutError
            When the timeout expired.
        TransientJobError
            When the program could not be started (OS error).
        """
        command = self.command
        LOGGER.debug("running %s", self.command_line)
        started, clock = time.time(), time.monotonic()
        try:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, start_new_session=True,
                                       preexec_fn=_die_with_parent())
        except OSError as error:
            raise TransientJobError(command, None, "", f"could not start: {error}") from error
        with process:
            try:
                output, error_output = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                output, error_output = _kill_group(process)
                raise JobTimeoutError(command, None, error_output.decode(errors="replace"),
                                      f"timed out after {timeout:g} s, its process group was killed") from None
            except BaseException:
                _kill_group(process)
                raise
        seconds = time.monotonic() - clock
        LOGGER.debug(RUN_LOG_FORMAT, self.executable.name, process.returncode, seconds, started, started + seconds)
        return JobResult(process.returncode, output.decode(errors="replace"), error_output.decode(errors="replace"),
                         seconds)

    def run(self, timeout: float | None = None, context: str = "") -> JobResult:
        """Like :meth:`execute`, but a non-zero exit status raises.

        Raises
        ------
        TransientJobError
            When the program was killed by a signal (or timed out, or could not start).
        JobError
            When the program exited with a non-zero status.
        """
        result = self.execute(timeout)
        if result.exit_code < 0:
            raise TransientJobError(self.command, result.exit_code, result.error, context)
        if result.exit_code != 0:
            raise JobError(self.command, result.exit_code, result.error, context)
        return result


def _kill_group(process: subprocess.Popen) -> tuple[bytes, bytes]:
    """Kill the process group of ``process`` and collect what it wrote until then."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    output, error_output = process.communicate()
    return output or b"", error_output or b""


def stop_programs() -> int:
    """Kill the programs this process is running (each leads a session of its own: kill that group).

    For a run interrupted while several programs run at once: in the other threads of the process (the two
    segmentations of a time step), or on every Dask worker (run there by the coordinator). Returns how many
    were killed.
    """
    import psutil

    killed = 0
    for child in psutil.Process().children(recursive=False):
        try:
            if os.getsid(child.pid) == child.pid:
                os.killpg(child.pid, signal.SIGKILL)
                killed += 1
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return killed


def main(argv: list[str] | None = None) -> int:
    """Run one program given on the command line; print the command, exit code, output and error."""
    parser = argparse.ArgumentParser(
        description="Run one program the way the pipeline does (argument list, own process group, optional "
                    "timeout) and print the command, its exit code, its output and its error output. "
                    "Exit status: the program's, or 124 on timeout, 127 when it cannot be started.")
    parser.add_argument("executable", help="the program to run")
    parser.add_argument("parameters", nargs=argparse.REMAINDER, help="its arguments, passed as they are")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds after which the program and its children are killed (default: none)")
    args = parser.parse_args(argv)
    job = Job(args.executable, args.parameters)
    sys.stdout.write(f"command: {job.command_line}\n")
    try:
        result = job.execute(timeout=args.timeout)
    except JobTimeoutError as error:
        sys.stdout.write(f"timeout: {error}\n")
        return 124
    except TransientJobError as error:
        sys.stdout.write(f"error: {error}\n")
        return 127
    sys.stdout.write(f"exit code: {result.exit_code}\noutput:\n{result.output}\nerror:\n{result.error}\n")
    return result.exit_code if result.exit_code >= 0 else 128 - result.exit_code


if __name__ == "__main__":
    sys.exit(main())
