"""Cold starts of the classification programs: the deterministic "random" initialisation of compat 5.5.

Without a centres history (a new installation, a deleted centres file, any single-image run) both programs
start from centres picked in the sorted histogram at cumulative positions that walk past its end; the
original's walk there repeats a cycle of length 2 or 3 set by the shape of its red-black tree of bins.

* The five cold-start references of compat 12.3 (``../shared/data/cold-start``) are reproduced exactly:
  centres files byte for byte after two runs, map pixel MD5s, class counts and CNBRBINS; and the sorted
  initial centres of the 5.5 table (``--classification.maxNumberIteration 0`` writes them).
* The tree simulation (SPoCA/lib/classification/red_black_tree.*) is compared, on thousands of insertion
  orders, with the tree of libstdc++'s own ``std::set`` (the original's container), read through its node links.
* The histogram's first-occurrence order (SPoCA/lib/classification/histogram.hpp) is compared with a numpy
  computation, for several splits of the rows between threads.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import numpy as np
import pytest

from library_driver import compile_driver
from section12_reference import map_summary

REPO = Path(__file__).resolve().parents[1]
CH_CONFIG = REPO / "configs" / "AIA.CH_segmentation.config"
AR_CONFIG = REPO / "configs" / "AIA.AR_segmentation.config"
IMAGE = "AIA.20110319_105401.{:04d}.lev1.fits"

# Compat 12.3: the centres files after two runs (newest line first) ...
CENTERS = {
    "s3": "[AIA_193]\t[(11.790377),(19.971469),(24.939283),(28.555956)]\n"
          "[AIA_193]\t[(11.785234),(19.948707),(24.925880),(28.552807)]\n",
    "s6": "[AIA_193]\t[(12.505670),(20.790136),(26.552557),(30.323469)]\n"
          "[AIA_193]\t[(12.512395),(20.810464),(26.566520),(30.327106)]\n",
    "s7": "[AIA_193]\t[(13.378259),(22.948138),(28.668789),(32.770953)]\n"
          "[AIA_193]\t[(13.371879),(22.923657),(28.657306),(32.768106)]\n",
    "s2": "[AIA_171,AIA_193]\t[(0.093626,0.173630),(1.135544,1.136149),(3.562019,4.331116),(7.692271,8.634061)]"
          "\t[0.001223,0.001031,0.003068,0.005812]\n"
          "[AIA_171,AIA_193]\t[(0.095933,0.178173),(1.136573,1.137381),(3.571680,4.362239),(7.796721,8.728285)]"
          "\t[0.000548,0.000576,0.001618,0.003077]\n",
    "s5": "[AIA_171,AIA_193]\t[(0.092417,0.175265),(0.967995,0.965608),(1.253232,1.257508),(5.318956,6.560474)]"
          "\t[0.000447,0.000744,0.000779,0.003060]\n"
          "[AIA_171,AIA_193]\t[(0.092418,0.175266),(0.968033,0.965646),(1.253296,1.257564),(5.318921,6.560360)]"
          "\t[0.000447,0.000743,0.000779,0.003102]\n",
}
# ... the maps of the two runs: class counts, MD5 of the pixels as big-endian int32, CNBRBINS ...
MAPS = {
    "s3": (({0: 318729, 1: 131231, 2: 97228, 3: 198399, 4: 302989}, "e41d66ea1b930b26b56c71ab26b5bc30"),
           ({0: 318729, 1: 131425, 2: 97438, 3: 198517, 4: 302467}, "c0368f8275eb15111f7f7f041745d8d3"), 2105),
    "s6": (({0: 318987, 1: 125440, 2: 91958, 3: 198576, 4: 313615}, "cea65368aebedd862ef01d5725bffc9f"),
           ({0: 318987, 1: 125440, 2: 91958, 3: 198576, 4: 313615}, "cea65368aebedd862ef01d5725bffc9f"), 2135),
    "s7": (({0: 318388, 1: 116761, 2: 85670, 3: 216502, 4: 311255}, "7d47479da957e9eff94b56b8a4b8c392"),
           ({0: 318388, 1: 116891, 2: 85938, 3: 216497, 4: 310862}, "c4b86f5f25079415f98f67a9333e9880"), 2412),
    "s2": (({0: 318727, 1: 169469, 2: 541871, 3: 13363, 4: 5146}, "4a097c665950d067369b164509ab4f9a"),
           ({0: 318727, 1: 181277, 2: 529904, 3: 13525, 4: 5143}, "fdadaa25e8b740e9ff5667adaf3f344f"), 21595),
    "s5": (({0: 318396, 1: 139961, 2: 315078, 3: 261686, 4: 13455}, "7dda57e6b003b4afc7ba3ab218adbe69"),
           ({0: 318396, 1: 139963, 2: 315065, 3: 261700, 4: 13452}, "764414d7ec8ed9fff7c0ddb1d23980f3"), 20526),
}
# ... and the sorted initial centres of the table of compat 5.5 (section 12's sample is the first row).
INITIAL = {
    "section12": "[(3.865000),(7.935000),(13.355000),(13.365000)]",
    "s3": "[(0.000000),(10.635000),(18.525000),(29.035000)]",
    "s7": "[(0.000000),(12.255000),(21.295000),(33.345000)]",
    "s6": "[(12.205000),(20.205000),(30.885000),(30.885000)]",
    "s2": "[(0.775000,0.795000),(2.605000,2.965000),(18.795000,9.175000),(18.915000,9.175000)]",
    "s5": "[(0.000000,0.010000),(0.000000,0.010000),(0.725000,0.895000),(2.415000,2.795000)]",
}
CH_CASES, AR_CASES = ("s3", "s6", "s7"), ("s2", "s5")


def cold_start_images(shared_data: Path, case: str) -> list[Path]:
    """The images of a 12.3 case: the 193 image (CH), or the 171 and 193 images (AR), in the pipeline's order."""
    folder = shared_data / "cold-start" / case
    wavelengths = (193,) if case in CH_CASES else (171, 193)
    images = [folder / IMAGE.format(wavelength) for wavelength in wavelengths]
    if not all(image.is_file() for image in images):
        pytest.skip(f"no cold-start images in {folder}")
    return images


def classify(programs: dict[str, Path], case: str, images: list[Path], centers: Path, output: Path,
             *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the case's program as the pipeline does (argument list, never a shell)."""
    program, config = ((programs["ch_segmentation"], CH_CONFIG) if case in CH_CASES
                       else (programs["ar_segmentation"], AR_CONFIG))
    return subprocess.run([str(program), "--config", str(config), "--centersFile", str(centers), "--output",
                           str(output), *extra, *map(str, images)], capture_output=True, text=True, check=False,
                          timeout=120)


@pytest.mark.parametrize("case", CH_CASES + AR_CASES)
def test_two_cold_start_runs_reproduce_the_original(case: str, shared_data: Path, spoca_programs: dict[str, Path],
                                                    tmp_path: Path) -> None:
    images = cold_start_images(shared_data, case)
    centers = tmp_path / "centers.txt"
    for run in (1, 2):
        result = classify(spoca_programs, case, images, centers, tmp_path / f"map{run}.fits")
        assert result.returncode == 0, result.stderr
    assert centers.read_bytes() == CENTERS[case].encode()
    first, second, bins = MAPS[case]
    assert map_summary(tmp_path / "map1.fits") == (*first, bins)
    assert map_summary(tmp_path / "map2.fits") == (*second, bins)


@pytest.mark.parametrize("case", ("section12",) + CH_CASES + AR_CASES)
def test_initial_centres_follow_the_red_black_tree_walk(case: str, shared_data: Path,
                                                        spoca_programs: dict[str, Path], tmp_path: Path) -> None:
    # With no iteration, the centres file receives the sorted initial centres (compat 5.5).
    if case == "section12":
        images, case_kind = [shared_data / "AIA20110319_105400_0171.fits"], "s3"
        if not images[0].is_file():
            pytest.skip("no shared sample")
    else:
        images, case_kind = cold_start_images(shared_data, case), case
    centers = tmp_path / "centers.txt"
    result = classify(spoca_programs, case_kind, images, centers, tmp_path / "map.fits",
                      "--classification.maxNumberIteration", "0")
    assert result.returncode == 0, result.stderr
    assert centers.read_text().rstrip("\n").split("\t")[1] == INITIAL[case]


# -- the red-black tree simulation against libstdc++'s std::set -----------------------------------------------

TREE_DRIVER = r"""
#include <cstdio>
#include <iterator>
#include <set>
#include <vector>
#include "classification/red_black_tree.hpp"

// libstdc++'s tree node links: the depth of a node (climbing to the root, whose parent is the header, whose
// parent is the root again) and its colour.
static unsigned depth(const std::_Rb_tree_node_base* node) {
    unsigned d = 0;
    while (node->_M_parent->_M_parent != node) {
        node = node->_M_parent;
        ++d;
    }
    return d;
}

// Reads sequences "n k_1 ... k_n" of distinct keys. For each, prints "ours stdset same": whether the largest
// key's node has a left child in the simulation and in libstdc++'s std::set built by the same insertions, and
// whether the two trees have the same shape and colours (depth and colour of every node, in key order).
int main() {
    std::size_t n = 0;
    while (std::scanf("%zu", &n) == 1) {
        spoca::RedBlackTreeShape tree(n);
        std::set<std::uint64_t> reference;
        for (std::size_t k = 0; k < n; ++k) {
            unsigned long key = 0;
            if (std::scanf("%lu", &key) != 1) return 2;
            tree.insert(key);
            reference.insert(key);
        }
        const auto nodes = tree.inOrder();
        bool same = nodes.size() == reference.size();
        std::size_t k = 0;
        for (auto it = reference.begin(); same && it != reference.end(); ++it, ++k) {
            same = nodes[k].depth == depth(it._M_node) && nodes[k].red == (it._M_node->_M_color == std::_S_red);
        }
        const bool theirs = !reference.empty() && std::prev(reference.end())._M_node->_M_left != nullptr;
        std::printf("%d %d %d\n", tree.largestHasLeftChild() ? 1 : 0, theirs ? 1 : 0, same ? 1 : 0);
    }
    return 0;
}
"""


def insertion_orders(seed: int = 20111319) -> list[list[int]]:
    """Many insertion orders: random permutations of every small size and of larger ones, sorted and reversed
    runs, nearly sorted orders, and orders like a scan of a disc image (bins met roughly from dark to bright)."""
    rng = random.Random(seed)
    orders: list[list[int]] = []
    for n in range(1, 40):
        for _ in range(40):
            orders.append(rng.sample(range(n), n))
    for n in (100, 257, 1000, 1086, 2105, 4099):
        for _ in range(30):
            orders.append(rng.sample(range(n), n))
        orders += [list(range(n)), list(range(n))[::-1]]
        nearly = list(range(n))
        for _ in range(n // 20):
            i, j = rng.randrange(n), rng.randrange(n)
            nearly[i], nearly[j] = nearly[j], nearly[i]
        orders.append(nearly)
        # a disc scanned row by row: values rise towards the middle of each row, with noise; the keys are the
        # bins in the order their first pixel is met, as the programs insert them
        values = (rng.gauss(n / 2 - abs(x - n / 2), n / 10) for _ in range(3) for x in range(n))
        orders.append(list(dict.fromkeys(int(v) for v in values)))
    return orders


@pytest.fixture(scope="module")
def tree_driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_driver(tmp_path_factory.mktemp("tree"), TREE_DRIVER, ["classification/red_black_tree.cpp"])


def test_tree_simulation_matches_libstdcxx_set_on_many_insertion_orders(tree_driver: Path) -> None:
    orders = insertion_orders()
    text = "".join(f"{len(order)} {' '.join(map(str, order))}\n" for order in orders)
    result = subprocess.run([str(tree_driver)], input=text, capture_output=True, text=True, check=True, timeout=120)
    answers = [tuple(map(int, line.split())) for line in result.stdout.splitlines()]
    assert len(answers) == len(orders)
    mismatches = [order[:12] for order, (ours, theirs, same) in zip(orders, answers, strict=True)
                  if ours != theirs or not same]
    assert mismatches == []
    # both answers occur, so the comparison says something about each
    assert {ours for ours, _, _ in answers} == {0, 1}


def test_tree_of_one_or_two_keys(tree_driver: Path) -> None:
    # one key: no child; [2, 1]: 1 is the left child of the largest; [1, 2]: 2 is a right leaf, no left child;
    # [1, 3, 2]: rotated so that 2 is the black root with two red leaves
    result = subprocess.run([str(tree_driver)], input="1 5\n2 2 1\n2 1 2\n3 1 3 2\n", capture_output=True,
                            text=True, check=True, timeout=60)
    assert result.stdout.split("\n")[:4] == ["0 0 1", "1 1 1", "0 0 1", "0 0 1"]


# -- the histogram's first-occurrence order --------------------------------------------------------------------

HISTOGRAM_DRIVER = r"""
#include <cstdio>
#include <limits>
#include "classification/histogram.hpp"

// Reads "width height threads binSize" then the pixels (row by row; "inf" marks an invalid pixel); prints one
// line per bin, in the histogram's order: centre, count, scan index of the first pixel.
int main() {
    int width = 0, height = 0;
    unsigned threads = 0;
    double binSize = 0;
    if (std::scanf("%d %d %u %lf", &width, &height, &threads, &binSize) != 4) return 2;
    spoca::Image<double> image(width, height);
    for (int k = 0; k < width * height; ++k) {
        if (std::scanf("%lf", image.data() + k) != 1) return 2;
    }
    const spoca::ChannelStack<1> stack({&image});
    const auto h = spoca::buildHistogram(stack, spoca::Feature<1>{binSize}, true, threads);
    for (std::size_t b = 0; b < h.size(); ++b) {
        std::printf("%.17g %.0f %llu\n", h.bins[b][0], h.counts[b], static_cast<unsigned long long>(h.firstScan[b]));
    }
    return 0;
}
"""


# The values each case adds to gamma-distributed pixels, and the bin size. "dense": every bin in the counters'
# dense windows (their bins are merged in order, without hashing); "huge": values binned by their exact centre;
# "wide": indices beyond the dense windows; "negative": a negative bin size (centres fall as indices rise).
HISTOGRAM_CASES = {"dense": 0.5, "huge": 0.5, "wide": 0.5, "negative": -0.5}


@pytest.fixture(scope="module")
def histogram_driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compiled histogram driver (skipped without a C++ compiler)."""
    return compile_driver(tmp_path_factory.mktemp("histogram"), HISTOGRAM_DRIVER)


@pytest.mark.parametrize("case", HISTOGRAM_CASES)
@pytest.mark.parametrize("threads", [1, 2, 3, 7])
def test_histogram_records_the_first_pixel_of_each_bin(histogram_driver: Path, threads: int, case: str) -> None:
    driver = histogram_driver
    rng = np.random.default_rng(threads)
    width, height, bin_size = 61, 37, HISTOGRAM_CASES[case]
    pixels = rng.gamma(2.0, 3.0, (height, width))
    pixels[rng.random((height, width)) < 0.2] = np.inf          # invalid pixels are not scanned
    if case == "huge":
        pixels[5, 7:20] = 1e15                                  # huge values: binned by their exact centre
    if case == "wide":
        pixels[9, :] = rng.uniform(1e5, 1e6, width)             # bins 2^17 and more from the first ones,
        pixels[20, ::2] = -pixels[9, ::2]                       # on both sides of the dense windows
    text = f"{width} {height} {threads} {bin_size}\n" + " ".join(repr(float(v)) for v in pixels.ravel()) + "\n"
    result = subprocess.run([str(driver)], input=text, capture_output=True, text=True, check=True, timeout=60)
    got = [(float(c), int(n), int(f)) for c, n, f in (line.split() for line in result.stdout.splitlines())]

    flat = pixels.ravel()
    valid = np.flatnonzero(np.isfinite(flat))
    centres = np.floor(flat[valid] / bin_size) * bin_size + bin_size / 2
    expected = []
    for centre in np.unique(centres):
        where = valid[centres == centre]
        expected.append((float(centre), where.size, int(where.min())))
    assert got == expected
