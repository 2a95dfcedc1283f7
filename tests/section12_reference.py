"""The original SPoCA's results of compat 12 on the shared sample, and the helpers to compare with them.

Shared by the tests that reproduce section 12 (test_classification, test_cold_start, test_staff_statistics,
test_get_staff_stats_reference). Like spoca_reference.py, this module is not a test file: pytest imports it from
the test files, as ``tests/`` is on ``sys.path`` (pytest's ``prepend`` import mode).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from astropy.io import fits

__all__ = ["SAMPLE", "CH_CENTERS", "AR_CENTERS", "MAPS", "SECTION12_CSV", "relabel", "map_summary"]

#: The shared real AIA 171 sample of section 12 (in ``../shared/data``).
SAMPLE = "AIA20110319_105400_0171.fits"

# Compat 12: the original's results on the shared sample.
CH_CENTERS = (
    "[AIA_171]\t[(4.374365),(8.413515),(10.931680),(13.093317)]\n"
    "[AIA_171]\t[(4.377478),(8.422617),(10.938572),(13.095082)]\n"
)
AR_CENTERS = (
    "[AIA_171,AIA_193]\t[(0.609674,0.609674),(1.238636,1.238636),(3.334284,3.334284),(9.663275,9.663275)]"
    "\t[0.002056,0.001756,0.004487,0.008268]\n"
    "[AIA_171,AIA_193]\t[(0.612579,0.612579),(1.241834,1.241834),(3.377619,3.377619),(9.849252,9.849252)]"
    "\t[0.002054,0.001774,0.004582,0.012691]\n"
)
MAPS = {
    "ch_map1": ({0: 318868, 1: 82294, 2: 146426, 3: 228780, 4: 272208}, "bd805892487e883b8a9cf40601d53393", 1086),
    "ch_map2": ({0: 318868, 1: 82295, 2: 146425, 3: 228780, 4: 272208}, "7dd54987cdf7eae6a50bfea0bd7338cd", 1086),
    "ar_map1": ({0: 318868, 1: 328832, 2: 352817, 3: 43358, 4: 4701}, "f020119d2f29a49b4030009d4b82d1a2", 1656),
    "ar_map2": ({0: 318868, 1: 328852, 2: 352796, 3: 43359, 4: 4701}, "5e183f78f4eb719e6a211a02fd48dee2", 1656),
}

SECTION12_CSV = """\
Channel,Type,ObservationDate,MinIntensity,MaxIntensity,Mean,Median,LowerQuartile,UpperQuartile,Variance,Skewness,Kurtosis,TotalIntensity,Area_Raw,Area_AtDiskCenter,FillingFactor
AIA_171,AR_all,2011-03-19T10:54:01,184.130484,2361.658651,433.599420,359.259172,291.339372,504.006799,46074.640062,2.389150,7.941906,18800437.249731,130035.025769,144992.968456,0.059420
AIA_171,CH_central_meridian,2011-03-19T10:54:01,33.756734,65.950657,43.192046,40.539338,38.820245,46.259229,45.639156,1.222972,0.445176,32825.955028,2279.264272,4315.854098,0.005807
AIA_171,CH_ondisc,2011-03-19T10:54:01,28.255637,106.771301,43.346932,40.539338,38.007583,46.196716,89.294128,2.709353,11.858483,79801.701689,5521.217797,11448.682764,0.003633
AIA_171,AR_ondisc,2011-03-19T10:54:01,257.395100,1862.277774,402.877714,349.632252,291.308116,468.843534,24960.871938,2.369986,9.212093,12347396.180538,91914.330814,144992.968456,0.060482
AIA_171,QS_ondisc,2011-03-19T10:54:01,40.976925,4715.503243,163.556955,145.310239,111.365968,186.005858,15909.667130,9.302484,133.777467,77565086.703548,1422257.906906,2693393.345933,0.935885
"""  # noqa: E501


def relabel(source: Path, target: Path) -> None:
    """Byte copy of ``source`` whose WAVELNTH card value changes from 171 to 193 (compat 12, offsets 1708-1709)."""
    data = bytearray(source.read_bytes())
    assert data[1680:1688] == b"WAVELNTH" and data[1708:1710] == b"71"
    data[1708:1710] = b"93"
    target.write_bytes(bytes(data))


def map_summary(path: Path) -> tuple[dict[int, int], str, int]:
    """Class counts, MD5 of the pixels as big-endian int32 in row-major order, and CNBRBINS of a map."""
    with fits.open(path) as hdus:
        pixels = np.asarray(hdus[1].data).astype(">i4")
        bins = hdus[1].header["CNBRBINS"]
    values, counts = np.unique(pixels, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True)), hashlib.md5(pixels.tobytes()).hexdigest(), bins
