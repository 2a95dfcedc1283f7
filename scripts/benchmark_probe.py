"""Probe used by ``scripts/benchmark.py``: time one Python computation in a fresh process.

``benchmark_probe.py image_stats IMAGE`` times the image statistics of one file;
``benchmark_probe.py overlay CH_MAP AR_MAP IMAGE PNG`` times one overlay (after an untimed first call,
which pays matplotlib's and sunpy's one-off start-up, as a pipeline run does once).
Prints ``wall_seconds cpu_seconds peak_MiB`` on one line: the times cover the computation only (the
imports are done first); the peak is the whole process's maximum resident set size.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable

__all__ = ["main"]


def _image_stats(image: str) -> Callable[[], object]:
    from get_image_stats import image_statistics

    return lambda: image_statistics(image, 0)


def _overlay(ch_map: str, ar_map: str, image: str, png: str) -> Callable[[], object]:
    from spoca4staff.overlay import write_overlay

    write_overlay(ch_map, ar_map, image, png)
    return lambda: write_overlay(ch_map, ar_map, image, png)


PROBES = {"image_stats": _image_stats, "overlay": _overlay}


def main(argv: list[str]) -> int:
    """Prepare the probe named by ``argv[0]``, time one call and print the figures."""
    computation = PROBES[argv[0]](*argv[1:])
    wall, cpu = time.perf_counter(), time.process_time()
    computation()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write(f"{wall:.4f} {cpu:.4f} {peak:.1f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
