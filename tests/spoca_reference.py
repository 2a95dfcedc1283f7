"""Independent Python transcriptions of the original SPoCA's algorithms, shared by the tests.

The tests compare the C++ programs with these transcriptions of the spec (/work/shared/spec/SPoCA-behaviour.md),
never with output of the code under test. This module is not a test file: pytest imports it from the test
files, as ``tests/`` is on ``sys.path`` (pytest's default ``prepend`` import mode puts there the folder of a
test file whose folder has no ``__init__.py``).
"""

from __future__ import annotations

__all__ = ["quickselect"]


def _swap_if_greater(a: list[float], i: int, j: int) -> None:
    """Swap a[i] and a[j] when a[i] > a[j]."""
    if a[i] > a[j]:
        a[i], a[j] = a[j], a[i]


def _partition(a: list[float], lo: int, hi: int, p: float) -> tuple[int, int]:
    """One partition step of compat 10.2 (steps 3 to 6) on a[lo..hi]; returns (ll, hh)."""
    mid = lo + int((hi - lo) * p)
    _swap_if_greater(a, mid, hi)
    _swap_if_greater(a, lo, hi)
    _swap_if_greater(a, mid, lo)
    a[mid], a[lo + 1] = a[lo + 1], a[mid]
    ll, hh = lo + 1, hi
    while True:
        ll += 1
        while ll <= hi and a[lo] > a[ll]:  # the upward scan, capped at hi + 1
            ll += 1
        hh -= 1
        while a[hh] > a[lo]:
            hh -= 1
        if hh < ll:
            break
        a[ll], a[hh] = a[hh], a[ll]
    a[lo], a[hh] = a[hh], a[lo]
    return ll, hh


def quickselect(a: list[float], p: float) -> float:
    """The original's modified quickselect (compat 10.2), transcribed step by step.

    Parameters
    ----------
    a : list of float
        The values; reordered in place exactly as the original reorders them (get_STAFF_stats computes its
        moments on the values in that order, quirk Q8).
    p : float
        The percentile in [0, 1]; the pivot is taken at the percentile index of each partition.

    Returns
    -------
    float
        The element at index int((n - 1) * p) once the selection is done.
    """
    lo, hi = 0, len(a) - 1
    k = int((hi - lo) * p)
    while hi > lo + 1:
        ll, hh = _partition(a, lo, hi, p)
        if hh <= k:
            lo = ll
        if hh >= k:
            hi = hh - 1
    if hi == lo + 1:
        _swap_if_greater(a, lo, hi)
    return a[k]
