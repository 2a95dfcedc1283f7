"""Load and validate the pipeline's ini files into typed, frozen dataclasses.

An ini file (read with :mod:`configparser`) holds the sections below; see ``configs/AIA.demo.ini`` for a
commented example.

``[SDO_DATA]``
    ``aia_file_pattern``, ``hdu``, ``ignore_quality_bits``; optional ``hmi_file_pattern``,
    ``quality_keyword`` and, for remote archives, ``cache_directory``, ``cache_size_limit``, ``http_timeout``,
    ``http_retry_attempts``, ``http_retry_initial_delay``, ``http_retry_max_delay``.
``[CH_SEGMENTATION]``, ``[AR_SEGMENTATION]``
    ``executable``, ``config_file``, ``centers_file``, ``wavelengths``, ``output_directory``.
``[STAFF_STATS]``
    ``executable``, ``config_file``, ``wavelengths``, ``output_directory``.
``[IMAGE_STATS]``
    ``wavelengths``, ``output_directory``; optional ``hdu`` and ``memory_limit``.
``[OPERATIONS]`` (optional, every key optional)
    ``ledger``, ``lock_file``, ``look_back_hours``, ``interval_hours``, ``job_timeout``, ``retry_attempts``,
    ``retry_initial_delay``, ``retry_max_delay``, ``ledger_timeout``.
``[OVERLAYS]`` (optional; overlays are drawn only when the section is present)
    ``output_directory``.

Relative paths are resolved against the folder of the ini file, so a configuration works from any working
directory. A section the pipeline does not know (a typo such as ``[CH_SEGMENTATON]``) is an error, and so is
an ``output_directory`` that exists but is not a folder. Validation is per need: a script asks only for the
sections it uses (``get_image_stats.py`` does not need the SPoCA sections), and every problem found is raised
as one :class:`ConfigurationError` naming the ini file, the section and the key, before any job runs. Output
folders are not created at load time but by :meth:`Configuration.create_output_directories`, when a run starts.
"""

from __future__ import annotations

import configparser
import difflib
import logging
import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from sdo_data import SdoData

__all__ = [
    "ConfigurationError",
    "SdoDataConfig",
    "SegmentationConfig",
    "StaffStatsConfig",
    "ImageStatsConfig",
    "OperationsConfig",
    "OverlaysConfig",
    "Configuration",
    "load_configuration",
    "STAFF_SECTIONS",
    "IMAGE_STATS_SECTIONS",
    "DEFAULT_LEDGER_NAME",
    "DEFAULT_LOCK_NAME",
]

#: Sections needed by ``get_staff_stats.py``.
STAFF_SECTIONS = ("SDO_DATA", "CH_SEGMENTATION", "AR_SEGMENTATION", "STAFF_STATS")
#: Sections needed by ``get_image_stats.py``.
IMAGE_STATS_SECTIONS = ("SDO_DATA", "IMAGE_STATS")
_KNOWN_SECTIONS = (*STAFF_SECTIONS, "IMAGE_STATS", "OPERATIONS", "OVERLAYS")
#: File names used for the ledger and the lock file when the ini does not give them.
DEFAULT_LEDGER_NAME = "spoca4staff.ledger.sqlite"
DEFAULT_LOCK_NAME = "spoca4staff.lock"

T = TypeVar("T")
LOGGER = logging.getLogger("configuration")


class ConfigurationError(Exception):
    """A configuration problem: missing section or key, bad value, missing executable or file.

    Parameters
    ----------
    ini_file
        The ini file at fault.
    section, key
        Where the problem is; ``key`` is ``None`` for a problem with a whole section.
    problem
        What is wrong, in a few words.
    """

    def __init__(self, ini_file: Path | str, section: str | None, key: str | None, problem: str):
        self.ini_file = Path(ini_file)
        self.section = section
        self.key = key
        self.problem = problem
        where = str(ini_file)
        if section is not None:
            where += f": [{section}]"
        if key is not None:
            where += f" {key}"
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class SdoDataConfig:
    """``[SDO_DATA]``: where the SDO files are and which ones are good enough to use."""

    aia_file_pattern: str
    hdu: int
    ignore_quality_bits: tuple[int, ...]
    hmi_file_pattern: str | None = None
    quality_keyword: str | None = None
    cache_directory: Path | None = None
    cache_size_limit: int | None = None
    http_timeout: float | None = None
    http_retry_attempts: int | None = None
    http_retry_initial_delay: float | None = None
    http_retry_max_delay: float | None = None


@dataclass(frozen=True)
class SegmentationConfig:
    """``[CH_SEGMENTATION]`` or ``[AR_SEGMENTATION]``: one SPoCA classification program and its outputs."""

    executable: Path
    config_file: Path
    centers_file: Path
    wavelengths: tuple[int, ...]
    output_directory: Path


@dataclass(frozen=True)
class StaffStatsConfig:
    """``[STAFF_STATS]``: the ``get_STAFF_stats.x`` program, the images it measures and where CSVs go."""

    executable: Path
    config_file: Path
    wavelengths: tuple[int, ...]
    output_directory: Path


@dataclass(frozen=True)
class ImageStatsConfig:
    """``[IMAGE_STATS]``: the wavelengths summarised by ``get_image_stats.py``, where and from which HDU.

    ``hdu`` is ``None`` when not given: the first HDU holding a 2-D image is used. ``memory_limit`` (bytes) is
    the most memory an image may need; ``None``: the default of :data:`get_image_stats.DEFAULT_MEMORY_LIMIT`.
    """

    wavelengths: tuple[int, ...]
    output_directory: Path
    hdu: int | None = None
    memory_limit: int | None = None


@dataclass(frozen=True)
class OperationsConfig:
    """``[OPERATIONS]``: ledger, lock, time window, job timeout and retries of transient failures.

    Times are in hours for the window and the interval, in seconds for the timeout, the retry delays and
    ``ledger_timeout`` (how long to wait for another process's write to the ledger before giving up).
    """

    ledger: Path
    lock_file: Path
    look_back_hours: float = 48.0
    interval_hours: float = 6.0
    job_timeout: float = 900.0
    retry_attempts: int = 3
    retry_initial_delay: float = 10.0
    retry_max_delay: float = 300.0
    ledger_timeout: float = 60.0


@dataclass(frozen=True)
class OverlaysConfig:
    """``[OVERLAYS]``: the folder of the overlay images (drawn only when the section is present)."""

    output_directory: Path


@dataclass(frozen=True)
class Configuration:
    """A loaded ini file. Sections that were not asked for (and optional sections absent) are ``None``."""

    path: Path
    operations: OperationsConfig
    sdo_data: SdoDataConfig | None = None
    ch_segmentation: SegmentationConfig | None = None
    ar_segmentation: SegmentationConfig | None = None
    staff_stats: StaffStatsConfig | None = None
    image_stats: ImageStatsConfig | None = None
    overlays: OverlaysConfig | None = None

    def output_directories(self) -> list[Path]:
        """Every folder the loaded sections write into: outputs, centres files, ledger, lock, overlays."""
        folders: list[Path] = []
        for section in (self.ch_segmentation, self.ar_segmentation):
            if section is not None:
                folders += [section.output_directory, section.centers_file.parent]
        for section in (self.staff_stats, self.image_stats, self.overlays):
            if section is not None:
                folders.append(section.output_directory)
        folders += [self.operations.ledger.parent, self.operations.lock_file.parent]
        return list(dict.fromkeys(folders))

    def create_output_directories(self) -> None:
        """Create the output folders that are missing (call it when a run starts).

        Raises
        ------
        ConfigurationError
            When a folder cannot be created; the message names the ini file and the reason.
        """
        for folder in self.output_directories():
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ConfigurationError(self.path, None, None,
                                         f"cannot create the output folder {folder}: {error.strerror or error}"
                                         ) from error

    def make_sdo_data(self) -> SdoData:
        """Build the :class:`sdo_data.SdoData` that finds the files described by ``[SDO_DATA]``."""
        if self.sdo_data is None:
            raise ConfigurationError(self.path, "SDO_DATA", None, "section not loaded")
        from sdo_data import SdoData

        settings = self.sdo_data
        remote = {name: getattr(settings, name) for name in _REMOTE_KEYS if getattr(settings, name) is not None}
        return SdoData(settings.aia_file_pattern, hmi_file_pattern=settings.hmi_file_pattern,
                       ignore_quality_bits=list(settings.ignore_quality_bits), hdu=settings.hdu,
                       quality_keyword=settings.quality_keyword, **remote)


_REMOTE_KEYS = ("cache_directory", "cache_size_limit", "http_timeout", "http_retry_attempts",
                "http_retry_initial_delay", "http_retry_max_delay")
_SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024**2, "MB": 1024**2, "MIB": 1024**2,
               "G": 1024**3, "GB": 1024**3, "GIB": 1024**3, "T": 1024**4, "TB": 1024**4, "TIB": 1024**4}
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class _SectionReader:
    """Typed access to the keys of one section, raising :class:`ConfigurationError` with the location."""

    def __init__(self, ini_file: Path, parser: configparser.ConfigParser, section: str):
        self.ini_file = ini_file
        self.folder = ini_file.parent
        self.section = section
        self.values = parser[section] if parser.has_section(section) else {}

    def error(self, key: str | None, problem: str) -> ConfigurationError:
        return ConfigurationError(self.ini_file, self.section, key, problem)

    def raw(self, key: str, required: bool = True) -> str | None:
        value = self.values.get(key)
        if value is None or not value.strip():
            if required:
                raise self.error(key, "missing key" if value is None else "empty value")
            return None
        return value.strip()

    def convert(self, key: str, convert: Callable[[str], T], expected: str, required: bool = True) -> T | None:
        text = self.raw(key, required)
        if text is None:
            return None
        try:
            return convert(text)
        except (ValueError, TypeError) as error:
            raise self.error(key, f"{text!r} is not {expected}") from error

    def integer(self, key: str, minimum: int | None = None, required: bool = True) -> int | None:
        value = self.convert(key, int, "an integer", required)
        if value is not None and minimum is not None and value < minimum:
            raise self.error(key, f"{value} is below the minimum {minimum}")
        return value

    def number(self, key: str, default: float | None = None, positive: bool = True) -> float | None:
        value = self.convert(key, float, "a number", required=False)
        if value is None:
            return default
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise self.error(key, f"{value} is not a {'positive' if positive else 'non-negative'} finite number")
        return value

    def integers(self, key: str, required: bool = True) -> tuple[int, ...]:
        text = self.raw(key, required)
        if text is None:
            return ()
        items = [item for item in re.split(r"[\s,]+", text.strip("[]() \t")) if item]
        try:
            return tuple(int(item) for item in items)
        except ValueError as error:
            raise self.error(key, f"{text!r} is not a list of integers") from error

    def wavelengths(self, key: str = "wavelengths", count: int | None = None) -> tuple[int, ...]:
        values = self.integers(key)
        if not values:
            raise self.error(key, "no wavelength given")
        if any(value <= 0 for value in values):
            raise self.error(key, "wavelengths must be positive integers")
        if len(set(values)) != len(values):
            raise self.error(key, "a wavelength is listed twice")
        if count is not None and len(values) != count:
            raise self.error(key, f"expected exactly {count} wavelength{'s' if count > 1 else ''}, got {len(values)}")
        return values

    def path(self, key: str, required: bool = True) -> Path | None:
        text = self.raw(key, required)
        if text is None:
            return None
        return _resolve(self.folder, text)

    def output_folder(self, key: str = "output_directory") -> Path:
        """A folder the pipeline writes into: it may not exist yet, but must not be anything else."""
        path = self.path(key)
        if path.exists() and not path.is_dir():
            raise self.error(key, f"{path} exists and is not a folder")
        return path

    def existing_file(self, key: str, executable: bool = False) -> Path:
        path = self.path(key)
        if not path.exists():
            raise self.error(key, f"{path} does not exist")
        if not path.is_file():
            raise self.error(key, f"{path} is not a file")
        if executable and not os.access(path, os.X_OK):
            raise self.error(key, f"{path} is not executable")
        if not executable and not os.access(path, os.R_OK):
            raise self.error(key, f"{path} is not readable")
        return path

    def file_pattern(self, key: str, required: bool = True) -> str | None:
        text = self.raw(key, required)
        if text is None:
            return None
        pattern = text if _URL.match(text) else str(_resolve(self.folder, text))
        try:
            pattern.format(date=datetime(2011, 3, 19, 10, 54), wavelength=171)
        except (KeyError, IndexError, ValueError, AttributeError) as error:
            raise self.error(key, f"{text!r} is not a valid pattern: only {{date}} and {{wavelength}} "
                                  f"can be used ({error})") from error
        return pattern

    def size(self, key: str) -> int | None:
        text = self.raw(key, required=False)
        if text is None:
            return None
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]*)", text)
        if match is None or match.group(2).upper() not in _SIZE_UNITS:
            raise self.error(key, f"{text!r} is not a size (a number of bytes, optionally with K, M, G or T)")
        return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).upper()])


def _resolve(folder: Path, text: str) -> Path:
    """``text`` as a path, relative to ``folder`` unless absolute; ``..`` are folded, symlinks kept."""
    path = Path(os.path.expanduser(text))
    return Path(os.path.normpath(path if path.is_absolute() else folder / path))


def _read_sdo_data(reader: _SectionReader) -> SdoDataConfig:
    cache_directory = reader.path("cache_directory", required=False)
    return SdoDataConfig(
        aia_file_pattern=reader.file_pattern("aia_file_pattern"),
        hdu=reader.integer("hdu", minimum=0),
        ignore_quality_bits=_quality_bits(reader),
        hmi_file_pattern=reader.file_pattern("hmi_file_pattern", required=False),
        quality_keyword=reader.raw("quality_keyword", required=False),
        cache_directory=cache_directory,
        cache_size_limit=reader.size("cache_size_limit"),
        http_timeout=reader.number("http_timeout"),
        http_retry_attempts=reader.integer("http_retry_attempts", minimum=1, required=False),
        http_retry_initial_delay=reader.number("http_retry_initial_delay"),
        http_retry_max_delay=reader.number("http_retry_max_delay"),
    )


def _quality_bits(reader: _SectionReader) -> tuple[int, ...]:
    if "ignore_quality_bits" not in reader.values:
        raise reader.error("ignore_quality_bits", "missing key (leave it empty to ignore no bit)")
    bits = reader.integers("ignore_quality_bits", required=False)
    if any(not 0 <= bit <= 31 for bit in bits):
        raise reader.error("ignore_quality_bits", "quality bits are numbered 0 to 31")
    return bits


def _read_segmentation(reader: _SectionReader, channels: int) -> SegmentationConfig:
    return SegmentationConfig(
        executable=reader.existing_file("executable", executable=True),
        config_file=reader.existing_file("config_file"),
        centers_file=reader.path("centers_file"),
        wavelengths=reader.wavelengths(count=channels),
        output_directory=reader.output_folder(),
    )


def _read_staff_stats(reader: _SectionReader) -> StaffStatsConfig:
    return StaffStatsConfig(
        executable=reader.existing_file("executable", executable=True),
        config_file=reader.existing_file("config_file"),
        wavelengths=reader.wavelengths(),
        output_directory=reader.output_folder(),
    )


def _read_image_stats(reader: _SectionReader) -> ImageStatsConfig:
    return ImageStatsConfig(
        wavelengths=reader.wavelengths(),
        output_directory=reader.output_folder(),
        hdu=reader.integer("hdu", minimum=0, required=False),
        memory_limit=reader.size("memory_limit"),
    )


def _read_operations(reader: _SectionReader, beside: Path) -> OperationsConfig:
    defaults = OperationsConfig(ledger=beside / DEFAULT_LEDGER_NAME, lock_file=beside / DEFAULT_LOCK_NAME)
    return OperationsConfig(
        ledger=reader.path("ledger", required=False) or defaults.ledger,
        lock_file=reader.path("lock_file", required=False) or defaults.lock_file,
        look_back_hours=reader.number("look_back_hours", defaults.look_back_hours),
        interval_hours=reader.number("interval_hours", defaults.interval_hours),
        job_timeout=reader.number("job_timeout", defaults.job_timeout),
        retry_attempts=_optional(reader.integer("retry_attempts", minimum=1, required=False),
                                 defaults.retry_attempts),
        retry_initial_delay=reader.number("retry_initial_delay", defaults.retry_initial_delay, positive=False),
        retry_max_delay=reader.number("retry_max_delay", defaults.retry_max_delay, positive=False),
        ledger_timeout=reader.number("ledger_timeout", defaults.ledger_timeout),
    )


def _optional(value: Any, default: Any) -> Any:
    return default if value is None else value


def _default_operations_folder(ini_file: Path, parser: configparser.ConfigParser) -> Path:
    """The folder "beside the outputs": the common parent of every output folder named in the ini.

    All the output folders of the file count, whichever sections a script needs, so that every script
    run with the same ini shares the same ledger. Without any output folder, the ini's own folder.
    """
    parents = []
    for section in _KNOWN_SECTIONS:
        if parser.has_section(section) and parser[section].get("output_directory", "").strip():
            parents.append(_resolve(ini_file.parent, parser[section]["output_directory"].strip()).parent)
    if not parents:
        return ini_file.parent
    try:
        return Path(os.path.commonpath(parents))
    except ValueError:
        return parents[0]


#: The keys each section may hold; others are reported as likely typos.
_KNOWN_KEYS = {
    "SDO_DATA": {"aia_file_pattern", "hmi_file_pattern", "hdu", "ignore_quality_bits", "quality_keyword",
                 *_REMOTE_KEYS},
    "CH_SEGMENTATION": {"executable", "config_file", "centers_file", "wavelengths", "output_directory"},
    "AR_SEGMENTATION": {"executable", "config_file", "centers_file", "wavelengths", "output_directory"},
    "STAFF_STATS": {"executable", "config_file", "wavelengths", "output_directory"},
    "IMAGE_STATS": {"wavelengths", "output_directory", "hdu", "memory_limit"},
    "OPERATIONS": {"ledger", "lock_file", "look_back_hours", "interval_hours", "job_timeout", "retry_attempts",
                   "retry_initial_delay", "retry_max_delay", "ledger_timeout"},
    "OVERLAYS": {"output_directory"},
}


def _warn_unknown_keys(ini_file: Path, parser: configparser.ConfigParser, sections: Iterable[str]) -> None:
    """Log a warning for every key of ``sections`` that the pipeline does not use (a typo, most likely)."""
    for section in sections:
        if parser.has_section(section):
            for key in sorted(set(parser.options(section)) - _KNOWN_KEYS[section] - set(parser.defaults())):
                LOGGER.warning("%s: [%s] %s: unknown key, ignored (known keys: %s)", ini_file, section, key,
                               ", ".join(sorted(_KNOWN_KEYS[section])))


def _check_section_names(ini_file: Path, parser: configparser.ConfigParser) -> None:
    """Raise :class:`ConfigurationError` for a section the pipeline does not know (a typo, most likely).

    A misspelt section would otherwise be ignored, and the real one reported missing or, worse for an
    optional section such as ``[OPERATIONS]``, silently replaced by its defaults.
    """
    for section in parser.sections():
        if section not in _KNOWN_SECTIONS:
            close = difflib.get_close_matches(section.upper(), _KNOWN_SECTIONS, n=1)
            hint = f"did you mean [{close[0]}]?" if close else f"known sections: {', '.join(_KNOWN_SECTIONS)}"
            raise ConfigurationError(ini_file, section, None, f"unknown section ({hint})")


_READERS: dict[str, Callable[[_SectionReader], Any]] = {
    "SDO_DATA": _read_sdo_data,
    "CH_SEGMENTATION": lambda reader: _read_segmentation(reader, channels=1),
    "AR_SEGMENTATION": lambda reader: _read_segmentation(reader, channels=2),
    "STAFF_STATS": _read_staff_stats,
    "IMAGE_STATS": _read_image_stats,
}


def load_configuration(ini_file: Path | str, sections: Iterable[str] = ()) -> Configuration:
    """Read ``ini_file`` and validate the ``sections`` a script needs, plus the optional ones.

    Parameters
    ----------
    ini_file
        The ini file; relative paths inside it are resolved against its folder.
    sections
        The required sections, e.g. :data:`STAFF_SECTIONS` or :data:`IMAGE_STATS_SECTIONS`. Sections not
        listed are not validated and are ``None`` in the result, except ``[OPERATIONS]`` (always read, with
        defaults) and ``[OVERLAYS]`` (read when present).

    Returns
    -------
    Configuration
        The typed configuration; no folder has been created yet.

    Raises
    ------
    ConfigurationError
        For an unreadable ini, a missing section or key, a bad value, a missing or non-executable program or
        a missing SPoCA config file; the message names the ini file, the section and the key.
    """
    sections = tuple(sections)
    unknown = [name for name in sections if name not in _READERS]
    if unknown:
        raise ValueError(f"unknown section(s) requested: {', '.join(unknown)}")
    ini_file = Path(os.path.abspath(ini_file))
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with ini_file.open(encoding="utf-8") as stream:
            parser.read_file(stream)
    except OSError as error:
        raise ConfigurationError(ini_file, None, None, f"cannot read the file: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise ConfigurationError(ini_file, None, None, f"not UTF-8 text (byte {error.object[error.start]:#04x} at "
                                                       f"position {error.start}): save it as UTF-8") from None
    except configparser.Error as error:
        raise ConfigurationError(ini_file, None, None, f"not a valid ini file: {error.message}") from error
    _check_section_names(ini_file, parser)
    loaded: dict[str, Any] = {}
    for name in sections:
        if not parser.has_section(name):
            raise ConfigurationError(ini_file, name, None, "missing section")
        loaded[name.lower()] = _READERS[name](_SectionReader(ini_file, parser, name))
    beside = _default_operations_folder(ini_file, parser)
    operations = _read_operations(_SectionReader(ini_file, parser, "OPERATIONS"), beside)
    _warn_unknown_keys(ini_file, parser, (*sections, "OPERATIONS", "OVERLAYS"))
    if parser.has_section("OVERLAYS"):
        loaded["overlays"] = OverlaysConfig(_SectionReader(ini_file, parser, "OVERLAYS").output_folder())
    return Configuration(path=ini_file, operations=operations, **loaded)


def _main(argv: list[str] | None = None) -> int:
    """Check an ini file from the command line and print what it resolves to."""
    import argparse
    import dataclasses
    import sys

    parser = argparse.ArgumentParser(description="Check a spoca4staff ini file and print its resolved values. "
                                                 "Exit status 2 when it is invalid.")
    parser.add_argument("ini_file", type=Path, help="the ini file to check")
    parser.add_argument("--sections", nargs="*", default=[*STAFF_SECTIONS, "IMAGE_STATS"],
                        choices=list(_READERS), help="the sections to validate (default: all of them)")
    args = parser.parse_args(argv)
    try:
        configuration = load_configuration(args.ini_file, args.sections)
    except ConfigurationError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    for field in dataclasses.fields(configuration):
        sys.stdout.write(f"{field.name}: {getattr(configuration, field.name)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
