"""Tests of scripts/plot_pages.py in a real browser: the interactive pages render offline.

The pages written by ``plot_stats.write_plots`` are loaded from disk by Debian's headless Chromium (installed
by ``make test`` through scripts/ensure_system_packages.sh --browser), with every network feature off. The
test checks what BokehJS builds when it runs (the ``bk-Figure`` element is not in the HTML file, only in the
rendered DOM) and that the screenshot shows the curves (pixels of the curve colours in the plot area).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from plot_series import write_staff_csvs
from scripts.plot_stats import write_plots

WINDOW = (1200, 700)
CH_COLOUR = (0x1F, 0x77, 0xB4)  # CH_ondisc curves
AR_COLOUR = (0xD6, 0x27, 0x28)  # AR_ondisc curves


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("no chromium: `make test` installs Debian's chromium (scripts/ensure_system_packages.sh --browser)",
                pytrace=False)


def browse(chromium: str, page: Path, profile: Path, *mode: str) -> subprocess.CompletedProcess:
    """Load ``page`` (a local file) in headless Chromium, all network features off, and let its scripts run."""
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}", "--virtual-time-budget=10000",
               *mode, page.resolve().as_uri()]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pages")
    write_staff_csvs(folder / "staff")
    write_plots({"S": str(folder / "staff" / "*.csv")}, folder / "plots", columns=["Mean", "Area_AtDiskCenter"])
    return folder / "plots"


def test_page_is_rendered_by_bokehjs(chromium: str, pages: Path, tmp_path: Path) -> None:
    page = pages / "Mean.html"
    assert "bk-Figure" not in page.read_text(encoding="utf-8")  # made by BokehJS when it runs, not in the file
    result = browse(chromium, page, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'class="bk-Figure"' in result.stdout


def test_screenshot_shows_the_curves(chromium: str, pages: Path, tmp_path: Path) -> None:
    shot = tmp_path / "Area_AtDiskCenter.png"
    result = browse(chromium, pages / "Area_AtDiskCenter.html", tmp_path / "profile", f"--screenshot={shot}")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    rgb = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert rgb.shape[:2] == (WINDOW[1], WINDOW[0])
    plot_area = rgb[40:500, 60:1000]
    for colour in (CH_COLOUR, AR_COLOUR):
        close = np.abs(plot_area - np.array(colour)).sum(axis=2) < 30
        assert close.sum() > 200, f"too few pixels of the curve colour {colour}: {close.sum()}"
    assert len(np.unique(plot_area.reshape(-1, 3), axis=0)) > 50  # not a blank or single-colour page


def test_index_page_loads_its_pictures(chromium: str, pages: Path, tmp_path: Path) -> None:
    shot = tmp_path / "index.png"
    result = browse(chromium, pages / "index.html", tmp_path / "profile", f"--screenshot={shot}")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    dom = browse(chromium, pages / "index.html", tmp_path / "profile", "--dump-dom").stdout
    assert 'href="Mean.html"' in dom and 'src="staff_Mean.png"' in dom
    rgb = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50  # the PNG plots are drawn, not broken images
