"""The stored pixels of a RICE_1 tile-compressed integer image, decoded by the SPoCA programs' decoder.

astropy decodes a 4096x4096 AIA file in about 0.25 s, most of it spent in Python per tile; the image statistics
decode it here, in one call to :mod:`spoca4staff._kernels` (the C++ decoder of ``SPoCA/lib/core/rice_decoder.hpp``,
built by ``pip install -e .``), in about 0.07 s. The values are those astropy gives with
``do_not_scale_image_data=True``: the stored integers, in native byte order.

Only the layout of SDO/JSOC files is taken, as the SPoCA programs take it (``SPoCA/lib/core/rice_image.hpp``): a
2-D image of 16- or 32-bit integers, tiles of whole rows, a table whose only column is ``COMPRESSED_DATA``.
:func:`read_rice_image` returns ``None`` for any other HDU, and the caller reads it with astropy. The table
header and where the data lie come from :mod:`spoca4staff.fits_hdus` (no astropy): the pipeline's
:class:`~spoca4staff.aia_file.AiaFile` has them already (:func:`read_rice_hdu`).

>>> import tempfile
>>> import numpy as np
>>> from astropy.io import fits
>>> data = np.arange(-600, 600, dtype=np.int16).reshape(30, 40)
>>> path = Path(tempfile.mkdtemp()) / "tiles.fits"
>>> fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, compression_type="RICE_1")]).writeto(path)
>>> bool(np.array_equal(read_rice_image(path, 1), data))
True
>>> read_rice_image(path, 0) is None  # the primary HDU is not a compressed image
True
>>> path.unlink(); path.parent.rmdir()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from spoca4staff import _kernels
from spoca4staff.fits_hdus import Hdu, read_hdus

__all__ = ["DecodeBufferPool", "DecodeBuffers", "RiceImageError", "read_rice_hdu", "read_rice_image"]

LOGGER = logging.getLogger(__name__)

#: The numpy type of the stored pixels, by ZBITPIX.
_PIXEL_TYPES = {16: np.int16, 32: np.int32}
#: The numpy type of a heap descriptor's two numbers (length, offset), by the letter of the column's TFORM.
_DESCRIPTOR_TYPES = {"P": ">i4", "Q": ">i8"}


class RiceImageError(ValueError):
    """The compressed image cannot be decoded: a damaged tile, or a file shorter than its header says."""


class DecodeBuffers:
    """Memory that one thread's successive decodings reuse: the stored tiles and the pixels of the last image.

    A 4096 AIA image needs 45 MB of them; allocated afresh for each image, they are zeroed by the kernel first
    (79 against 75 ms an image, 7-10 against 3 ms of it system time). The array :func:`read_rice_hdu` returns with
    these buffers is a view of them, valid until the next decoding with the same buffers: a thread borrows them
    from a :class:`DecodeBufferPool` for one image.
    """

    def __init__(self) -> None:
        self._tiles = np.empty(0, dtype=np.uint8)
        self._pixels = np.empty(0, dtype=np.uint8)

    def tiles(self, size: int) -> np.ndarray:
        """``size`` bytes for the stored tiles."""
        if self._tiles.size < size:
            self._tiles = np.empty(size, dtype=np.uint8)
        return self._tiles[:size]

    def pixels(self, shape: tuple[int, int], dtype: type) -> np.ndarray:
        """A C-contiguous, writable array of ``shape`` and ``dtype`` for the decoded pixels."""
        size = shape[0] * shape[1] * np.dtype(dtype).itemsize
        if self._pixels.size < size:
            self._pixels = np.empty(size, dtype=np.uint8)
        return self._pixels[:size].view(dtype).reshape(shape)


def _integer(header: Mapping[str, object], keyword: str, default: int | None = None) -> int | None:
    value = header.get(keyword, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _compression_parameters(header: Mapping[str, object], bytepix: int) -> int | None:
    """BLOCKSIZE (default 32) when the ZNAMEi/ZVALi parameters are those the decoder takes, else None."""
    block_size = 32
    for index in range(1, 100):
        name = header.get(f"ZNAME{index}")
        if name is None:
            break
        value = _integer(header, f"ZVAL{index}")
        if name == "BLOCKSIZE" and value in (16, 32):
            block_size = value
        elif name != "BYTEPIX" or value != bytepix:
            return None
    return block_size


def _layout(header: Mapping[str, object]) -> tuple[int, int, int, int, int, str] | None:
    """(width, height, rows per tile, BLOCKSIZE, ZBITPIX, descriptor type) of a table header the decoder takes."""
    zbitpix = _integer(header, "ZBITPIX")
    width, height = _integer(header, "ZNAXIS1"), _integer(header, "ZNAXIS2")
    form = str(header.get("TFORM1", "")).strip()
    if header.get("ZCMPTYPE") != "RICE_1" or zbitpix not in _PIXEL_TYPES or _integer(header, "ZNAXIS") != 2:
        return None
    if _integer(header, "TFIELDS") != 1 or header.get("TTYPE1") != "COMPRESSED_DATA":
        return None
    if not width or not height or width < 0 or height < 0:
        return None
    column = form.removeprefix("1")  # e.g. PB(3923): bytes on the heap, 32-bit descriptors
    descriptor = column[:1]
    if descriptor not in _DESCRIPTOR_TYPES or column[1:2] != "B":
        return None
    tile_rows = _integer(header, "ZTILE2", 1)
    if _integer(header, "ZTILE1", width) != width or not tile_rows or tile_rows < 1:
        return None
    if _integer(header, "NAXIS2") != -(-height // tile_rows):
        return None
    if _integer(header, "NAXIS1") != 2 * np.dtype(_DESCRIPTOR_TYPES[descriptor]).itemsize:  # one descriptor a row
        return None
    block_size = _compression_parameters(header, zbitpix // 8)
    if block_size is None:
        return None
    return width, height, min(tile_rows, height), block_size, zbitpix, _DESCRIPTOR_TYPES[descriptor]


class DecodeBufferPool:
    """The :class:`DecodeBuffers` of a process, lent to one image at a time: as many as images read at once."""

    def __init__(self) -> None:
        self._spare: list[DecodeBuffers] = []
        self._lock = threading.Lock()

    @contextmanager
    def borrow(self) -> Iterator[DecodeBuffers]:
        """Buffers no other image uses until the block ends (new ones when all are lent)."""
        with self._lock:
            buffers = self._spare.pop() if self._spare else DecodeBuffers()
        try:
            yield buffers
        finally:
            with self._lock:
                self._spare.append(buffers)


def read_rice_image(path: Path | str, hdu: int) -> np.ndarray | None:
    """The stored integers of the tile-compressed image in HDU ``hdu`` of ``path``, or ``None``.

    Parameters
    ----------
    path
        A local FITS file.
    hdu
        The index of the HDU holding the image (1 for SDO files).

    Returns
    -------
    numpy.ndarray or None
        A 2-D, C-contiguous, writable array of int16 (ZBITPIX 16) or int32 (ZBITPIX 32) in native byte order;
        ``None`` when the HDU is not a RICE_1 image of the layout the decoder takes.

    Raises
    ------
    RiceImageError
        When the file is shorter than its header says, or a tile cannot be decoded (the message says which).
    FitsStructureError
        When the file is not FITS, or a header is damaged.
    """
    hdus = read_hdus(path, complete=False)
    if not 0 <= hdu < len(hdus):
        return None
    return read_rice_hdu(path, hdus[hdu])


def read_rice_hdu(path: Path | str, stored: Hdu, buffers: DecodeBuffers | None = None) -> np.ndarray | None:
    """:func:`read_rice_image` of an HDU whose stored header and place in the file were read already.

    With ``buffers`` the tiles are read and the pixels decoded into their memory (see :class:`DecodeBuffers`).

    Raises
    ------
    RiceImageError
        When the file is shorter than its header says, or a tile cannot be decoded (the message says which).
    """
    layout = _layout(stored.header)
    if layout is None:
        return None
    width, height, tile_rows, block_size, zbitpix, descriptor = layout
    table_size = int(stored.header["NAXIS1"]) * int(stored.header["NAXIS2"])
    heap_start = _integer(stored.header, "THEAP", table_size)
    heap_size = _integer(stored.header, "PCOUNT", 0)
    if heap_start is None or heap_size is None or heap_start < table_size:
        return None
    size = heap_start + heap_size
    data = np.empty(size, dtype=np.uint8) if buffers is None else buffers.tiles(size)
    with open(path, "rb") as stream:
        stream.seek(stored.data_start)
        if stream.readinto(memoryview(data)) != data.size:
            raise RiceImageError("decompression error: the file ends before the last tile")
    descriptors = data[:table_size].view(descriptor).reshape(-1, 2).astype(np.int64)
    dtype = _PIXEL_TYPES[zbitpix]
    out = np.empty((height, width), dtype=dtype) if buffers is None else buffers.pixels((height, width), dtype)
    try:
        _kernels.decode_tiles(data[heap_start:], np.ascontiguousarray(descriptors[:, 0]),
                              np.ascontiguousarray(descriptors[:, 1]), out, tile_rows * width, block_size,
                              zbitpix // 8)
    except ValueError as error:
        raise RiceImageError(f"decompression error: {error}") from None
    return out
