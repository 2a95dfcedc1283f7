"""Probe used by ``scripts/benchmark.py``: time the image statistics of one file in a fresh process.

Prints ``wall_seconds cpu_seconds peak_MiB`` on one line. The times cover the computation only (the
imports are done first); the peak is the whole process's maximum resident set size.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from get_image_stats import image_statistics  # noqa: E402

__all__ = ["main"]


def main(path: str) -> int:
    """Compute the statistics of ``path`` once and print the figures."""
    wall, cpu = time.perf_counter(), time.process_time()
    image_statistics(path, 0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write(f"{wall:.4f} {cpu:.4f} {peak:.1f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
