"""Run the whole pipeline on the bundled demo configuration (``make demo``).

Generates, once, a small but realistic synthetic AIA archive in ``demo/archive`` (one day at 6-hour
steps, 1024x1024, every AIA EUV and UV wavelength, with one file of bad QUALITY and one missing
wavelength), then runs ``get_staff_stats.py`` and ``get_image_stats.py`` on ``configs/AIA.demo.ini``
over that day, draws the time series, and ends by saying where the maps and CSVs were written.
Running it again reuses the archive and skips the time steps already done.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from scripts.make_synthetic_aia import make_archive

__all__ = ["DEMO_START", "DEMO_END", "main"]

REPO_ROOT = Path(__file__).resolve().parents[1]

LOGGER = logging.getLogger("demo")
DEMO_INI = REPO_ROOT / "configs" / "AIA.demo.ini"
ARCHIVE = REPO_ROOT / "demo" / "archive"
OUTPUT = REPO_ROOT / "demo" / "output"
DEMO_START = datetime(2026, 3, 20, 0, 0)
DEMO_END = DEMO_START + timedelta(days=1)
WAVELENGTHS = (94, 131, 171, 193, 211, 304, 335, 1600, 1700)
#: The 193 image at noon has a bad QUALITY (bit 0, missing telemetry): that step has no CH or AR map.
BAD_QUALITY = ((DEMO_START + timedelta(hours=12), 193),)
#: No 171 image at 18:00: that step still gets its CH map, but no AR map and no STAFF statistics.
MISSING = ((DEMO_START + timedelta(hours=18), 171),)


def ensure_archive() -> None:
    """Generate the demo archive unless a complete one is already there."""
    stamp = ARCHIVE / ".complete"
    if stamp.exists():
        LOGGER.info("demo archive already in %s", ARCHIVE)
        return
    LOGGER.info("generating the demo archive in %s (once)", ARCHIVE)
    make_archive(ARCHIVE, DEMO_START, DEMO_END, timedelta(hours=6), WAVELENGTHS, size=1024, seed=2026,
                 bad_quality=BAD_QUALITY, missing=MISSING)
    stamp.touch()


def _shown(interpreter: Path) -> str:
    """The interpreter as a user types it from the repository root: ``.venv/bin/python`` under ``make demo``."""
    try:
        return str(interpreter.relative_to(REPO_ROOT))
    except ValueError:
        return str(interpreter)


def run(script: str, *arguments: str) -> int:
    """Run one of the pipeline scripts on the demo configuration and return its exit status."""
    command = [sys.executable, str(REPO_ROOT / script), str(DEMO_INI), *arguments]
    LOGGER.info("running %s", " ".join(command))
    return subprocess.run(command, cwd=REPO_ROOT, check=False).returncode


def main() -> int:
    """Generate the data, run both scripts and the plots; return non-zero if any of them failed."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ensure_archive()
    dates = ("--start-date", DEMO_START.isoformat(), "--end-date", DEMO_END.isoformat())
    statuses = {
        "get_staff_stats.py": run("get_staff_stats.py", *dates),
        "get_image_stats.py": run("get_image_stats.py", *dates),
    }
    plots = OUTPUT / "plots"
    for kind, folder in (("staff", "staff_stats"), ("image", "image_stats")):
        statuses[f"scripts/plot_stats.py ({kind})"] = subprocess.run(
            [sys.executable, str(REPO_ROOT / "scripts" / "plot_stats.py"),
             "--series", "demo", str(OUTPUT / folder / "*.csv"), "--kind", kind,
             "--start-date", DEMO_START.isoformat(), "--end-date", DEMO_END.isoformat(),
             "--output-directory", str(plots / kind), "--ledger", str(OUTPUT / "spoca4staff.ledger.sqlite"),
             "--overlays", str(OUTPUT / "overlays")],
            cwd=REPO_ROOT, check=False).returncode
    failed = [name for name, status in statuses.items() if status != 0]
    summary = [
        "Demo finished." if not failed else f"Demo finished with failures in: {', '.join(failed)}.",
        f"  CH segmentation maps:  {OUTPUT / 'ch_maps'}",
        f"  AR segmentation maps:  {OUTPUT / 'ar_maps'}",
        f"  STAFF statistics CSV:  {OUTPUT / 'staff_stats'}",
        f"  image statistics CSV:  {OUTPUT / 'image_stats'}",
        f"  overlays:              {OUTPUT / 'overlays'}",
        f"  time-series plots:     {plots / 'staff' / 'index.html'} and {plots / 'image' / 'index.html'}",
        f"  job ledger:            {_shown(Path(sys.executable))} get_staff_stats.py "
        f"{DEMO_INI.relative_to(REPO_ROOT)} --status   (in {REPO_ROOT})",
    ]
    sys.stdout.write("\n".join(summary) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
