"""The HDUs of a FITS file as stored: their headers, where their data lie, and the FITS checksums.

Choosing the AIA files of a time step, validating the programs' maps and reading an image's facts need headers
and checksums, not pixels. They are read here by hand because astropy.io.fits takes 0.25 s to import (0.2 s of it
``astropy.units``) and about 10 ms to read an AIA file's headers, which each pipeline script paid at start and
then per file; this reader takes about 1 ms a file, and a DATASUM is summed by numpy in 2 ms a 4096 AIA file.
One reader serves local files and remote ones (read by HTTP range requests), so that both are judged by one rule.
The pixels are read by the SPoCA programs' decoder (:mod:`spoca4staff.rice_image`) or, for a file it does not
take, by astropy.

* :class:`FitsHeader`: the keyword values of one header, read as the FITS standard (4.0, section 4.2) says and
  as astropy gives them;
* :func:`iter_fits_headers` and :func:`read_hdus`: the HDUs of a file (:class:`Hdu`), one by one or all of a
  local file, which must be as long as its headers announce;
* :func:`image_header`: the header of the image a tile-compressed HDU holds, by astropy's rule;
* :func:`checksum_problem`: DATASUM and CHECKSUM verified on the stored bytes, compressed tiles included;
* :func:`astropy_fits` and :func:`astropy_data_errors`: astropy, imported on first use, for the pixels of files
  the SPoCA decoder does not take.

>>> header = FitsHeader.from_cards("EXPTIME =                2.0D0 / [s]".ljust(80) + "OBJECT  = 'O''Hara  '".ljust(80))
>>> header["EXPTIME"], header["OBJECT"]
(2.0, "O'Hara")
"""

from __future__ import annotations

import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import BinaryIO

import numpy as np

from spoca4staff.exceptions import FitsStructureError

__all__ = [
    "BLOCK",
    "FitsHeader",
    "Hdu",
    "astropy_data_errors",
    "astropy_fits",
    "checksum_problem",
    "image_header",
    "iter_fits_headers",
    "ones_complement_sum",
    "read_hdus",
]

#: The FITS block: headers and data are stored in whole blocks of 2880 bytes.
BLOCK = 2880
_CARD = 80
_MAX_HEADER_BLOCKS = 1000  # 36000 cards: anything longer is not a FITS header

_INTEGER = re.compile(r"[+-]?[0-9]+")
_REAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[EeDd][+-]?[0-9]+)?")
#: Cards without a value: commentary (FITS standard 4.4.2.4); a CONTINUE card extends the string before it.
_COMMENTARY = frozenset({"", "COMMENT", "HISTORY"})


def _string(text: str) -> str | None:
    """The value of a quoted string field (``text`` starts with its opening quote), or None when unterminated."""
    pieces, start = [], 1
    while True:
        end = text.find("'", start)
        if end < 0:
            return None
        pieces.append(text[start:end])
        if not text.startswith("'", end + 1):  # '' is a quote inside the string
            return "".join(pieces).rstrip()  # trailing blanks are not significant (4.2.1.1); leading ones are
        pieces.append("'")
        start = end + 2


def _value(field: str) -> object:
    """The value of a card's value field (columns 11-80), as astropy reads it.

    A string (trailing blanks removed), True/False for T/F, an int, a float (``D`` exponents included), a complex
    for ``(re, im)``, None for an empty (undefined) value; any other text, such as JSOC's ``nan``, is kept as the
    stripped text, as astropy keeps a value it cannot parse.
    """
    text = field.lstrip()
    if text.startswith("'"):
        value = _string(text)
        return value if value is not None else text.rstrip()
    token = text.split("/", 1)[0].strip()
    if not token:
        return None
    if token in ("T", "F"):
        return token == "T"
    if _INTEGER.fullmatch(token):
        return int(token)
    if _REAL.fullmatch(token):
        return _real(token)
    if token.startswith("(") and token.endswith(")"):
        parts = [part.strip() for part in token[1:-1].split(",")]
        if len(parts) == 2 and all(_REAL.fullmatch(part) for part in parts):
            return complex(_real(parts[0]), _real(parts[1]))
    return token


def _real(text: str) -> float:
    """A real of a value field: FORTRAN's ``D`` exponent is Python's ``E``."""
    return float(text.replace("D", "E").replace("d", "e"))


class FitsHeader(Mapping):
    """The keyword values of one FITS header: ``header["NAXIS"]``, ``header.get("BLANK")``, ``"T_OBS" in header``.

    Keywords are upper-case; when one is repeated, the first card gives its value (as astropy's ``header[key]``).
    Commentary cards (COMMENT, HISTORY, blank keywords) carry no value and are left out; a CONTINUE card extends a
    string ending in ``&`` (the long-string convention). What the pipeline reads of a header is these values: its
    comments and card order are not kept. A plain mapping, it pickles (for the workers of a Dask cluster).

    Parameters
    ----------
    values
        Keyword to value.
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, object] | None = None) -> None:
        self._values = {str(key).upper(): value for key, value in (values or {}).items()}

    @classmethod
    def from_cards(cls, text: str) -> FitsHeader:
        """The header of ``text``, its 80-character cards one after the other, up to its END card if it has one."""
        values: dict[str, object] = {}
        last: str | None = None
        for start in range(0, len(text), _CARD):
            card = text[start:start + _CARD]
            keyword = card[:8].rstrip().upper()
            if keyword == "END":
                break
            if keyword == "CONTINUE" and last is not None:
                value, field = values[last], card[8:].lstrip()
                if isinstance(value, str) and value.endswith("&") and field.startswith("'"):
                    more = _string(field)
                    if more is not None:
                        values[last] = value[:-1] + more
                        continue
            last = None
            if keyword in _COMMENTARY or card[8:10] != "= " or keyword in values:
                continue
            values[keyword] = _value(card[10:])
            last = keyword
        header = cls()
        header._values = values
        return header

    def __getitem__(self, keyword: str) -> object:
        return self._values[keyword.upper()]

    def __contains__(self, keyword: object) -> bool:
        return isinstance(keyword, str) and keyword.upper() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"FitsHeader({self._values!r})"

    def __getstate__(self) -> dict[str, object]:
        return self._values

    def __setstate__(self, values: dict[str, object]) -> None:
        self._values = values


@dataclass(frozen=True)
class Hdu:
    """One HDU as stored: its index, its header (for a compressed image, the table's) and where its parts lie.

    Parameters
    ----------
    index
        The HDU's index in the file (0: the primary HDU).
    header
        The header as stored.
    header_start, data_start, data_end
        Byte offsets of the header, of the data and of the end of the data without its padding.
    """

    index: int
    header: FitsHeader
    header_start: int
    data_start: int
    data_end: int

    @property
    def padded_end(self) -> int:
        """Where the HDU ends: its data padded to a whole number of blocks."""
        return self.data_start + -(-(self.data_end - self.data_start) // BLOCK) * BLOCK


def _data_size(header: FitsHeader) -> int:
    """Data size in bytes of an HDU, without padding (FITS standard, section 4.4.1)."""
    naxis = int(header.get("NAXIS", 0))
    if naxis <= 0:
        if naxis < 0:
            raise ValueError("a negative NAXIS")
        return 0
    axes = [int(header.get(f"NAXIS{axis}", 0)) for axis in range(1, naxis + 1)]
    counts = (int(header.get("GCOUNT", 1)), int(header.get("PCOUNT", 0)))
    if min(axes) < 0 or min(counts) < 0:
        raise ValueError("a negative NAXISn, PCOUNT or GCOUNT")
    return abs(int(header["BITPIX"])) // 8 * counts[0] * (counts[1] + math.prod(axes))


def _has_end_card(block: bytes) -> bool:
    return any(block[start:start + _CARD].rstrip() == b"END" for start in range(0, BLOCK, _CARD))


def iter_fits_headers(read: Callable[[int, int], bytes]) -> Iterator[Hdu]:
    """Yield the HDUs of a FITS file one by one, reading only their headers.

    Parameters
    ----------
    read
        ``read(offset, size)`` returns the bytes of the file from ``offset`` (fewer at the end of the file,
        none beyond it): a local file, or HTTP Range requests on a remote one.

    Raises
    ------
    FitsStructureError
        When a header is malformed or cut short; the message names the HDU.
    """
    offset, index = 0, 0
    while True:
        raw = bytearray()
        expected = b"SIMPLE  =" if index == 0 else b"XTENSION="
        while True:
            block = read(offset + len(raw), BLOCK)
            if not block and not raw and index > 0:
                return  # the end of the file, after the last HDU
            if not raw and not block.startswith(expected):
                if index == 0:
                    raise FitsStructureError("not a FITS header (it does not start with 'SIMPLE  =')")
                raise FitsStructureError(f"HDU {index}: not a FITS header (it does not start with 'XTENSION=', "
                                         f"damaged or cut short at byte {offset})")
            if len(block) < BLOCK:
                raise FitsStructureError(f"HDU {index}: header cut short at byte {offset + len(raw) + len(block)}")
            raw += block
            if _has_end_card(block):
                break
            if len(raw) >= _MAX_HEADER_BLOCKS * BLOCK:
                raise FitsStructureError(f"HDU {index}: no END card in the header")
        try:
            header = FitsHeader.from_cards(raw.decode("ascii"))
            size = _data_size(header)
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as error:
            raise FitsStructureError(f"HDU {index}: unreadable header ({error})") from error
        data_start = offset + len(raw)
        hdu = Hdu(index, header, offset, data_start, data_start + size)
        yield hdu
        offset = hdu.padded_end
        index += 1


def read_hdus(path: Path | str, *, complete: bool = True) -> list[Hdu]:
    """The HDUs of a local FITS file, headers read (no data): :func:`iter_fits_headers` on the file.

    The file must hold the HDUs its headers announce, the last one's data padded to a whole block; with
    ``complete=False``, the last one's data may be cut short (the reader of the data then says so).

    Raises
    ------
    FitsStructureError
        When the file is not FITS, a header is damaged, or the file is shorter than its headers say.
    OSError
        With an ``errno``, when the system fails to read the file.
    """
    with open(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size

        def read(offset: int, count: int) -> bytes:
            stream.seek(offset)
            return stream.read(count)

        hdus = list(iter_fits_headers(read))
    end = hdus[-1].padded_end
    if complete and end > size:
        raise FitsStructureError(f"truncated: {size} bytes, but its headers announce {end}")
    return hdus


# ----------------------------------------------------------------- the image header of a compressed HDU

# astropy's rule (astropy.io.fits.hdu.compressed.header._bintable_header_to_image_header), which the pipeline
# followed when it read headers with astropy: the table's own keywords and the compression's are dropped, the
# Z keywords become the image's.
_INDEXED_RESERVED = re.compile(r"(TTYPE|TFORM|TUNIT|TNULL|TSCAL|TZERO|TDISP|TBCOL|TDIM|TCTYP|TCUNI|TCRPX|TCRVL|"
                               r"TCDLT|TRPOS|ZNAXIS|ZTILE|ZNAME|ZVAL|NAXIS)[1-9][0-9 ]*")
_RESERVED = frozenset({"SIMPLE", "XTENSION", "BITPIX", "NAXIS", "EXTEND", "PCOUNT", "GCOUNT", "GROUPS", "BSCALE",
                       "BZERO", "TFIELDS", "THEAP", "CHECKSUM", "DATASUM", "ZSIMPLE", "ZTENSION", "ZBITPIX", "ZNAXIS",
                       "ZEXTEND", "ZBLOCKED", "ZPCOUNT", "ZGCOUNT", "ZHECKSUM", "ZDATASUM", "ZIMAGE", "ZCMPTYPE",
                       "ZMASKCMP", "ZQUANTIZ", "ZDITHER0", "ZBLANK", "ZSCALE", "ZZERO"})
#: The image keywords a compressed HDU stores under another name (astropy's, as cfitsio's).
_RENAMED = (("ZEXTEND", "EXTEND"), ("ZBLOCKED", "BLOCKED"), ("ZHECKSUM", "CHECKSUM"), ("ZDATASUM", "DATASUM"))


def image_header(header: FitsHeader) -> FitsHeader:
    """The header of the image an HDU holds: for a tile-compressed HDU (``ZIMAGE = T``), the image's; else itself.

    The image header is the table header without the table's and the compression's keywords, with ``ZBITPIX``,
    ``ZNAXIS``, ``ZNAXISn``, ``ZPCOUNT``... as ``BITPIX``, ``NAXIS``, ``NAXISn``, ``PCOUNT``..., ``BSCALE`` and
    ``BZERO`` kept when not zero, and ``BLANK`` from ``ZBLANK`` for an integer image that has none: astropy's rule.

    Raises
    ------
    KeyError
        When a compressed HDU's header lacks ZBITPIX, ZNAXIS or one of its ZNAXISn.
    """
    if header.get("ZIMAGE") is not True:
        return header
    image = {"SIMPLE": header["ZSIMPLE"]} if "ZSIMPLE" in header else {"XTENSION": "IMAGE"}
    image |= {"BITPIX": header["ZBITPIX"], "NAXIS": header["ZNAXIS"]}
    image |= {f"NAXIS{axis}": header[f"ZNAXIS{axis}"] for axis in range(1, int(header["ZNAXIS"]) + 1)}
    if "SIMPLE" not in image:
        image |= {"PCOUNT": header.get("ZPCOUNT", 0), "GCOUNT": header.get("ZGCOUNT", 1)}
    image |= {keyword: value for keyword, value in header.items()
              if keyword not in _RESERVED and not _INDEXED_RESERVED.fullmatch(keyword)}
    image |= {keyword: header[keyword] for keyword in ("BSCALE", "BZERO") if header.get(keyword)}
    image |= {keyword: header[stored] for stored, keyword in _RENAMED if stored in header}
    if image.get("EXTNAME") == "COMPRESSED_IMAGE":
        del image["EXTNAME"]
    if isinstance(image["BITPIX"], int) and image["BITPIX"] > 0 and "BLANK" not in image:
        if "ZBLANK" in header:
            image["BLANK"] = header["ZBLANK"]
        elif "ZBLANK" in (header.get(f"TTYPE{column}") for column in range(1, int(header.get("TFIELDS", 0)) + 1)):
            image["BLANK"] = -(1 << (image["BITPIX"] - 1))  # a ZBLANK column without a BLANK keyword
    return FitsHeader(image)


# ----------------------------------------------------------------- checksums

def ones_complement_sum(data: np.ndarray | bytes | bytearray | memoryview) -> int:
    """The 32-bit ones' complement sum of ``data`` read as big-endian words (the FITS checksum's, appendix J).

    The words are summed in 64 bits (no overflow below 2**32 words, 16 GiB) and the carries folded back in.
    """
    buffer = memoryview(data).cast("B")
    words = np.frombuffer(buffer, dtype=">u4", count=len(buffer) // 4)
    total = int(words.sum(dtype=np.uint64))
    tail = bytes(buffer[len(buffer) // 4 * 4:])
    if tail:  # only for a data unit read without its padding of zeros
        total += int.from_bytes(tail.ljust(4, b"\0"), "big")
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


#: The bytes summed at a time: a buffer that stays in the cache, instead of a copy of the whole data unit.
_CHUNK = 1 << 20


def _stored_sum(stream: BinaryIO, start: int, end: int) -> int | None:
    """The ones' complement sum of the bytes ``start:end`` of ``stream`` (None: the file ends before ``end``)."""
    buffer = np.empty(min(_CHUNK, max(end - start, 0)), dtype=np.uint8)
    total = 0
    stream.seek(start)
    while start < end:
        count = stream.readinto(memoryview(buffer)[:min(_CHUNK, end - start)])
        if not count:
            return None
        total += ones_complement_sum(buffer[:count])  # chunks of whole words: the sums add up
        start += count
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def checksum_problem(path: Path | str, hdu: Hdu, *, header_too: bool = True) -> str | None:
    """Why the stored bytes of ``hdu`` do not match its DATASUM (and CHECKSUM), or None when they match.

    The data unit is read as stored, compressed tiles included: nothing is decompressed. DATASUM is the ones'
    complement sum of the data; CHECKSUM makes the sum of the whole HDU, header included, all ones (-0). A keyword
    the header does not have is not checked. ``header_too=False`` checks DATASUM only (JSOC headers hold cards a
    FITS reader must repair, such as ``nan`` values, and so need not match their CHECKSUM once repaired).

    Raises
    ------
    OSError
        When the file cannot be read.
    """
    data_sum = hdu.header.get("DATASUM")
    checksum = hdu.header.get("CHECKSUM") if header_too else None
    if data_sum is None and checksum is None:
        return None
    with open(path, "rb", buffering=0) as stream:
        data = _stored_sum(stream, hdu.data_start, hdu.padded_end)
        header = _stored_sum(stream, hdu.header_start, hdu.data_start) if checksum is not None else 0
    if data is None or header is None:
        return f"HDU {hdu.index}: the file ends before its data do"
    if data_sum is not None and (not isinstance(data_sum, str) or not data_sum.strip().isdigit()
                                 or int(data_sum) != data):
        return f"HDU {hdu.index} does not match its DATASUM"
    if checksum is not None:
        total = header + data
        total = (total & 0xFFFFFFFF) + (total >> 32)
        if total != 0xFFFFFFFF:
            return f"HDU {hdu.index} does not match its CHECKSUM"
    return None


# ----------------------------------------------------------------- astropy, for the pixels this module does not read

def astropy_fits() -> ModuleType:
    """:mod:`astropy.io.fits`, imported on first use (0.25 s), for the files the SPoCA decoder does not take.

    Importing astropy makes its logger show the process's warnings (``warnings.showwarning``); imported in the
    middle of a run, it would take them from whoever shows them then (the image statistics log each image's
    warnings with its name): the way warnings were shown before the import is kept.
    """
    first = "astropy" not in sys.modules
    shown = warnings.showwarning
    from astropy.io import fits

    if first:
        warnings.showwarning = shown
    return fits


def astropy_data_errors() -> tuple[type[BaseException], ...]:
    """What astropy, numpy and cfitsio's tile decompression may raise reading the pixels of a damaged FITS file.

    A function, not a constant: it imports astropy (:func:`astropy_fits`). The tile decompression's error class is
    private to astropy, hence the fallback.
    """
    astropy_fits()
    try:
        from astropy.io.fits.hdu.compressed._compression import CfitsioException
    except ImportError:  # pragma: no cover - another astropy layout
        CfitsioException = RuntimeError  # noqa: N806
    return OSError, ValueError, TypeError, KeyError, IndexError, EOFError, RuntimeError, CfitsioException
