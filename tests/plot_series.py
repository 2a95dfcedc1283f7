"""The STAFF CSV series the plot tests write and check: one CSV per time step and channel, values chosen here.

Shared by test_plot_stats (which compares the plotted points with :func:`staff_value`) and test_plot_pages.
Like spoca_reference.py, this module is not a test file: pytest imports it from the test files, as ``tests/``
is on ``sys.path`` (pytest's ``prepend`` import mode).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

__all__ = ["STAFF_HEADER", "STAFF_NUMBERS", "ROW_TYPES", "CHANNELS", "STEPS", "staff_value", "observation",
           "write_staff_csvs"]

STAFF_HEADER = ("Channel,Type,ObservationDate,MinIntensity,MaxIntensity,Mean,Median,LowerQuartile,UpperQuartile,"
                "Variance,Skewness,Kurtosis,TotalIntensity,Area_Raw,Area_AtDiskCenter,FillingFactor")
STAFF_NUMBERS = STAFF_HEADER.split(",")[3:]
ROW_TYPES = ("AR_all", "CH_central_meridian", "CH_ondisc", "AR_ondisc", "QS_ondisc")
CHANNELS = {"AIA_171": 1, "AIA_193": 8}  # channel: seconds after the time step
STEPS = [datetime(2026, 3, 20) + timedelta(hours=6 * index) for index in range(6)]


def staff_value(step: int, channel: str, row_type: str, column: str) -> str:
    """The CSV text of one STAFF value, with NaNs at chosen places (a whole file, a cell, a ``-nan``)."""
    if step == 2 and channel == "AIA_193":
        return "nan"
    if step == 4 and row_type == "CH_ondisc" and column == "Mean":
        return "nan"
    if row_type == "CH_central_meridian" and column == "FillingFactor" and step in (1, 3):
        return "-nan"
    number = 100 * STAFF_NUMBERS.index(column) + 10 * ROW_TYPES.index(row_type) + step + 0.123457 * CHANNELS[channel]
    return f"{number:.6f}"


def observation(step: int, channel: str) -> datetime:
    return STEPS[step] + timedelta(seconds=CHANNELS[channel])


def write_staff_csvs(folder: Path) -> None:
    """One CSV per time step and channel, named as get_STAFF_stats.x names them."""
    folder.mkdir(parents=True, exist_ok=True)
    for step, date in enumerate(STEPS):
        maps = f"{date:%Y%m%d_%H%M%S}.SegmentedMap"
        for channel in CHANNELS:
            when = observation(step, channel)
            image = f"AIA{when:%Y%m%d_%H%M%S}_{channel[-3:].rjust(4, '0')}"
            lines = [STAFF_HEADER]
            for row_type in ROW_TYPES:
                values = [staff_value(step, channel, row_type, column) for column in STAFF_NUMBERS]
                lines.append(",".join([channel, row_type, f"{when:%Y-%m-%dT%H:%M:%S}", *values]))
            (folder / f"{maps}_and_{maps}_on_{image}.csv").write_text("\n".join(lines) + "\n")
