"""Draw one overlay PNG: the SPoCA CH and AR contours over an AIA image (the drawing is :mod:`spoca4staff.overlay`).

Run as a script::

    .venv/bin/python scripts/overlay.py MAP_CH MAP_AR IMAGE -o PNG [--ch-class 1] [--ar-class 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spoca4staff.command_line import setup_tool_logging
from spoca4staff.overlay import DEFAULT_MAX_SIZE, OverlayError, write_overlay

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Write a PNG of an AIA image, north up on helioprojective axes in arcsec with a colour bar in "
        "DN/s, with the coronal-hole contours of a SPoCA CH segmentation map and the active-region contours of a "
        "SPoCA AR segmentation map drawn on top, the solar limb, a legend and the observation time. Large images "
        "are averaged down to at most --max-size pixels a side.",
        epilog="example (after make demo): .venv/bin/python scripts/overlay.py "
        "demo/output/ch_maps/20260320_060000.SegmentedMap.fits demo/output/ar_maps/20260320_060000.SegmentedMap.fits "
        "demo/archive/0193/2026/03/20/H0600/AIA20260320_060004_0193.fits -o overlay.png",
    )
    parser.add_argument("ch_map", type=Path, metavar="MAP_CH", help="CH segmentation map (ch_segmentation.x output)")
    parser.add_argument("ar_map", type=Path, metavar="MAP_AR", help="AR segmentation map (ar_segmentation.x output)")
    parser.add_argument("image", type=Path, metavar="IMAGE", help="AIA FITS image to draw the contours on")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="PNG", help="PNG file to write")
    parser.add_argument("--ch-class", type=int, default=1, metavar="N",
                        help="class number of coronal holes in MAP_CH (default: %(default)s)")
    parser.add_argument("--ar-class", type=int, default=3, metavar="N",
                        help="class number of active regions in MAP_AR (default: %(default)s)")
    parser.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE, metavar="PIXELS",
                        help="largest number of display pixels along either axis (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log diagnostics on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (1 with a one-line message when an input is bad)."""
    arguments = _parser().parse_args(argv)
    setup_tool_logging(arguments.verbose)
    try:
        write_overlay(arguments.ch_map, arguments.ar_map, arguments.image, arguments.output,
                      ch_class=arguments.ch_class, ar_class=arguments.ar_class, max_size=arguments.max_size)
    except (OverlayError, ValueError, OSError) as error:
        sys.stderr.write(f"overlay.py: error: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
