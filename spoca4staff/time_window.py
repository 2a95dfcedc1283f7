"""The time steps of a run: dates on the command line, the window and its steps.

A run walks time steps ``start, start + interval, ...`` up to but excluding the end. Without a start date (the
cron case) the window is the look-back period ending now, its first step aligned on a multiple of the interval
since 1970-01-01T00:00Z so that successive runs hit the same steps. :func:`parse_date` is the one parser of the
dates given on command lines (the pipeline scripts and the tools of ``scripts/``).
"""

from __future__ import annotations

import argparse
import math
from datetime import datetime, timedelta, timezone

__all__ = ["InvalidDate", "UsageError", "parse_date", "time_steps", "select_time_steps"]


class UsageError(ValueError):
    """The command line asks for something impossible (e.g. a start date not before the end date): exit 2."""


class InvalidDate(argparse.ArgumentTypeError, ValueError):
    """A text that is not an ISO 8601 date: argparse shows its message; other callers may catch ValueError."""


def parse_date(text: str) -> datetime:
    """Parse an ISO 8601 date (for argparse, or any command line); return it as a naive UTC datetime.

    A date without a time zone is taken as UTC; one with an offset (``Z``, ``+02:00``) is converted.

    Raises
    ------
    InvalidDate
        When ``text`` is not an ISO 8601 date; the message says so, with an example.

    Examples
    --------
    >>> parse_date("2026-03-20T06:00+02:00")
    datetime.datetime(2026, 3, 20, 4, 0)
    """
    try:
        date = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidDate(f"{text!r} is not an ISO 8601 date, e.g. 2026-03-20T06:00:00") from None
    if date.tzinfo is not None:
        date = date.astimezone(timezone.utc).replace(tzinfo=None)
    return date


_EPOCH = datetime(1970, 1, 1)


def time_steps(start: datetime, end: datetime, interval: timedelta) -> list[datetime]:
    """The time steps ``start, start + interval, ...`` strictly before ``end``."""
    if interval <= timedelta(0):
        raise ValueError("the interval must be positive")
    steps = []
    step = start
    while step < end:
        steps.append(step)
        step += interval
    return steps


def select_time_steps(args: argparse.Namespace, look_back_hours: float, interval_hours: float,
                      now: datetime | None = None) -> list[datetime]:
    """The time steps of a run from the command line: ``[start, end)`` by interval.

    Without ``--start-date`` the window is the ``look_back_hours`` before the end (default now), its first
    step rounded up to a multiple of the interval since the epoch, so that successive cron runs hit the
    same time steps.

    Raises
    ------
    UsageError
        When ``--start-date`` is not before the end (``--end-date``, or now).
    """
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    interval = timedelta(hours=args.interval or interval_hours)
    end = args.end_date or now
    start = args.start_date
    if start is not None and start >= end:
        raise UsageError(f"--start-date {start:%Y-%m-%dT%H:%M:%S} is not before "
                         f"{'--end-date' if args.end_date else 'now'} {end:%Y-%m-%dT%H:%M:%S}: no time step to run")
    if start is None:
        earliest = end - timedelta(hours=look_back_hours)
        start = _EPOCH + math.ceil((earliest - _EPOCH) / interval) * interval
    return time_steps(start, end, interval)
