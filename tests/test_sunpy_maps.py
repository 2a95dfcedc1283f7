"""The project's environment opens our outputs with ``sunpy.map.Map``.

requirements.txt installs ``sunpy[map]``; these tests check that every requirement of that extra is installed,
and open with sunpy the segmentation maps written by the real SPoCA programs and the AIA images they read.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
import sunpy.map
from astropy.io import fits
from packaging.requirements import Requirement
from sunpy.coordinates import Helioprojective

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "configs"


def test_every_requirement_of_sunpy_map_is_installed() -> None:
    requirements = [Requirement(text) for text in importlib.metadata.requires("sunpy") or []]
    extra = [requirement for requirement in requirements
             if requirement.marker is not None and re.search(r"extra\s*==\s*['\"]map['\"]", str(requirement.marker))]
    assert extra, "sunpy declares no 'map' extra"
    for requirement in extra:
        version = importlib.metadata.version(requirement.name)  # raises PackageNotFoundError when missing
        assert requirement.specifier.contains(version, prereleases=True), f"{requirement.name} {version}"


@pytest.fixture(scope="module")
def segmentation_maps(spoca_programs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A CH map and an AR map written by ch_segmentation.x and ar_segmentation.x on synthetic 171 and 193."""
    from scripts.make_synthetic_aia import write_aia_file

    folder = tmp_path_factory.mktemp("sunpy_maps")
    images = {wavelength: write_aia_file(folder / f"AIA20260320_000000_{wavelength:04d}.fits", "2026-03-20T00:00:00",
                                         wavelength, size=512, seed=7) for wavelength in (171, 193)}
    ch_map, ar_map = folder / "ch.SegmentedMap.fits", folder / "ar.SegmentedMap.fits"
    commands = [
        [str(spoca_programs["ch_segmentation"]), "--config", str(CONFIGS / "AIA.CH_segmentation.config"),
         "--centersFile", str(folder / "ch_centers.txt"), "--output", str(ch_map), str(images[193])],
        [str(spoca_programs["ar_segmentation"]), "--config", str(CONFIGS / "AIA.AR_segmentation.config"),
         "--centersFile", str(folder / "ar_centers.txt"), "--output", str(ar_map), str(images[171]),
         str(images[193])],
    ]
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=folder)
        assert result.returncode == 0, result.stderr
    return {"CH": ch_map, "AR": ar_map, "images": images}


@pytest.mark.parametrize("kind", ["CH", "AR"])
def test_sunpy_opens_segmentation_maps(segmentation_maps: dict, kind: str) -> None:
    path = segmentation_maps[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=UserWarning)  # sunpy warns about metadata it cannot use
        smap = sunpy.map.Map(str(path))
    with fits.open(path) as hdul:
        header, data = hdul[1].header, hdul[1].data
    np.testing.assert_array_equal(smap.data, data)
    assert set(np.unique(smap.data)) <= {0, 1, 2, 3, 4}
    assert isinstance(smap.coordinate_frame, Helioprojective)
    assert smap.date.isot.startswith("2026-03-20T00:00")
    assert smap.scale[0].to_value(u.arcsec / u.pix) == pytest.approx(header["CDELT1"])
    assert smap.dsun.to_value(u.m) == pytest.approx(header["DSUN_OBS"])
    centre = smap.wcs.pixel_to_world(header["CRPIX1"] - 1, header["CRPIX2"] - 1)
    assert centre.Tx.to_value(u.arcsec) == pytest.approx(header.get("CRVAL1", 0.0), abs=1e-6)
    assert centre.Ty.to_value(u.arcsec) == pytest.approx(header.get("CRVAL2", 0.0), abs=1e-6)


def test_sunpy_opens_the_aia_images_as_aia_maps(segmentation_maps: dict) -> None:
    from sunpy.map.sources import AIAMap

    for wavelength, path in segmentation_maps["images"].items():
        smap = sunpy.map.Map(str(path))
        assert isinstance(smap, AIAMap)
        assert smap.wavelength.to_value(u.angstrom) == wavelength
        assert smap.data.shape == (512, 512)
