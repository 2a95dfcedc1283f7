"""The errors of reading FITS and AIA files, shared by the readers of headers and checksums and the AIA record.

They live here, below every reader, so that the FITS structure reader (:mod:`spoca4staff.fits_hdus`) and the AIA
file record (:mod:`spoca4staff.aia_file`, which re-exports them) raise the same classes: a caller catching
:class:`AiaFileError` also catches a damaged file's :class:`FitsStructureError`.
"""

from __future__ import annotations

__all__ = ["AiaFileError", "FitsStructureError"]


class AiaFileError(ValueError):
    """A fact cannot be read from an AIA file: a keyword is missing or has a bad value, or the file is unreadable."""


class FitsStructureError(AiaFileError):
    """The bytes are not a well-formed FITS file (bad header, or shorter than its headers say)."""
