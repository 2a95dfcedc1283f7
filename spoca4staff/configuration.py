"""Load and validate the pipeline's ini files into typed, frozen dataclasses.

An ini file (read with :mod:`configparser`) holds the sections below; see ``configs/AIA.demo.ini`` for a
commented example. The keys of each section are the fields of its dataclass, which also say how each key is
read and checked (the ``ini`` metadata of the field): that is the one statement of the schema, from which
the sections are read and their known keys listed.

``[SDO_DATA]``
    :class:`SdoDataConfig`.
``[CH_SEGMENTATION]``, ``[AR_SEGMENTATION]``
    :class:`SegmentationConfig` (one wavelength for CH, two for AR).
``[STAFF_STATS]``
    :class:`StaffStatsConfig`.
``[IMAGE_STATS]``
    :class:`ImageStatsConfig`.
``[OPERATIONS]`` (optional, every key optional)
    :class:`OperationsConfig`.
``[OVERLAYS]`` (optional; overlays are drawn only when the section is present)
    :class:`OverlaysConfig`.

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
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

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


class _Key(NamedTuple):
    """How one ini key is read: the :class:`_SectionReader` method (which converts and checks it) and its options."""

    read: str
    options: dict[str, Any]


def _key(read: str, *, remote: bool = False, **options: Any) -> dict[str, Any]:
    """The ``metadata`` of a field that is an ini key (named as the field) read by ``_SectionReader.<read>``.

    ``options`` go to the reader (e.g. ``required=False``, ``minimum=0``); a key absent or empty takes the
    field's default. ``remote``: a setting of remote archives, passed to :class:`sdo_data.SdoData` when set.
    """
    return {"ini": _Key(read, options), "remote": remote}


@dataclass(frozen=True)
class SdoDataConfig:
    """``[SDO_DATA]``: where the SDO files are and which ones are good enough to use."""

    aia_file_pattern: str = field(metadata=_key("file_pattern"))
    hdu: int = field(metadata=_key("integer", minimum=0))
    ignore_quality_bits: tuple[int, ...] = field(metadata=_key("quality_bits"))
    hmi_file_pattern: str | None = field(default=None, metadata=_key("file_pattern", required=False))
    quality_keyword: str | None = field(default=None, metadata=_key("raw", required=False))
    cache_directory: Path | None = field(default=None, metadata=_key("path", required=False, remote=True))
    cache_size_limit: int | None = field(default=None, metadata=_key("size", remote=True))
    http_timeout: float | None = field(default=None, metadata=_key("number", remote=True))
    http_retry_attempts: int | None = field(default=None, metadata=_key("integer", minimum=1, required=False,
                                                                            remote=True))
    http_retry_initial_delay: float | None = field(default=None, metadata=_key("number", remote=True))
    http_retry_max_delay: float | None = field(default=None, metadata=_key("number", remote=True))


@dataclass(frozen=True)
class SegmentationConfig:
    """``[CH_SEGMENTATION]`` or ``[AR_SEGMENTATION]``: one SPoCA classification program and its outputs."""

    executable: Path = field(metadata=_key("existing_file", executable=True))
    config_file: Path = field(metadata=_key("existing_file"))
    centers_file: Path = field(metadata=_key("path"))
    wavelengths: tuple[int, ...] = field(metadata=_key("wavelengths"))
    output_directory: Path = field(metadata=_key("output_folder"))


@dataclass(frozen=True)
class StaffStatsConfig:
    """``[STAFF_STATS]``: the ``get_STAFF_stats.x`` program, the images it measures and where CSVs go."""

    executable: Path = field(metadata=_key("existing_file", executable=True))
    config_file: Path = field(metadata=_key("existing_file"))
    wavelengths: tuple[int, ...] = field(metadata=_key("wavelengths"))
    output_directory: Path = field(metadata=_key("output_folder"))


@dataclass(frozen=True)
class ImageStatsConfig:
    """``[IMAGE_STATS]``: the wavelengths summarised by ``get_image_stats.py``, where and from which HDU.

    ``hdu`` is ``None`` when not given: the first HDU holding a 2-D image is used. ``memory_limit`` (bytes) is
    the most memory an image may need; ``None``: the default of :data:`get_image_stats.DEFAULT_MEMORY_LIMIT`.
    """

    wavelengths: tuple[int, ...] = field(metadata=_key("wavelengths"))
    output_directory: Path = field(metadata=_key("output_folder"))
    hdu: int | None = field(default=None, metadata=_key("integer", minimum=0, required=False))
    memory_limit: int | None = field(default=None, metadata=_key("size"))


@dataclass(frozen=True)
class OperationsConfig:
    """``[OPERATIONS]``: ledger, lock, time window, job timeout and retries of transient failures.

    Times are in hours for the window and the interval, in seconds for the timeout, the retry delays and
    ``ledger_timeout`` (how long to wait for another process's write to the ledger before giving up).
    """

    ledger: Path = field(metadata=_key("path_beside_outputs", name=DEFAULT_LEDGER_NAME))
    lock_file: Path = field(metadata=_key("path_beside_outputs", name=DEFAULT_LOCK_NAME))
    look_back_hours: float = field(default=48.0, metadata=_key("number"))
    interval_hours: float = field(default=6.0, metadata=_key("number"))
    job_timeout: float = field(default=900.0, metadata=_key("number"))
    retry_attempts: int = field(default=3, metadata=_key("integer", minimum=1, required=False))
    retry_initial_delay: float = field(default=10.0, metadata=_key("number", positive=False))
    retry_max_delay: float = field(default=300.0, metadata=_key("number", positive=False))
    ledger_timeout: float = field(default=60.0, metadata=_key("number"))


@dataclass(frozen=True)
class OverlaysConfig:
    """``[OVERLAYS]``: the folder of the overlay images (drawn only when the section is present)."""

    output_directory: Path = field(metadata=_key("output_folder"))


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
        remote = {spec.name: getattr(settings, spec.name) for spec in fields(settings)
                  if spec.metadata["remote"] and getattr(settings, spec.name) is not None}
        return SdoData(settings.aia_file_pattern, hmi_file_pattern=settings.hmi_file_pattern,
                       ignore_quality_bits=list(settings.ignore_quality_bits), hdu=settings.hdu,
                       quality_keyword=settings.quality_keyword, **remote)


_SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024**2, "MB": 1024**2, "MIB": 1024**2,
               "G": 1024**3, "GB": 1024**3, "GIB": 1024**3, "T": 1024**4, "TB": 1024**4, "TIB": 1024**4}
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class _SectionReader:
    """Typed access to the keys of one section, raising :class:`ConfigurationError` with the location."""

    def __init__(self, ini_file: Path, parser: configparser.ConfigParser, section: str, channels: int | None = None):
        self.ini_file = ini_file
        self.folder = ini_file.parent
        self.parser = parser
        self.section = section
        self.channels = channels
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

    def number(self, key: str, positive: bool = True) -> float | None:
        value = self.convert(key, float, "a number", required=False)
        if value is None:
            return None
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

    def wavelengths(self, key: str = "wavelengths") -> tuple[int, ...]:
        """The wavelengths of the section: exactly :attr:`channels` of them when that is set."""
        count = self.channels
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

    def quality_bits(self, key: str) -> tuple[int, ...]:
        """The QUALITY bits to ignore: the key must be there, but may be empty (no bit ignored)."""
        if key not in self.values:
            raise self.error(key, "missing key (leave it empty to ignore no bit)")
        bits = self.integers(key, required=False)
        if any(not 0 <= bit <= 31 for bit in bits):
            raise self.error(key, "quality bits are numbered 0 to 31")
        return bits

    def path_beside_outputs(self, key: str, name: str) -> Path:
        """A path, by default the file ``name`` beside the outputs (see :func:`_default_operations_folder`)."""
        return self.path(key, required=False) or _default_operations_folder(self.ini_file, self.parser) / name

    def read(self, config_class: type[T]) -> T:
        """The section as ``config_class``: each field read as its ``ini`` metadata says, or its default."""
        values = {}
        for spec in fields(config_class):
            key = spec.metadata["ini"]
            value = getattr(self, key.read)(spec.name, **key.options)
            values[spec.name] = spec.default if value is None and spec.default is not MISSING else value
        return config_class(**values)


def _resolve(folder: Path, text: str) -> Path:
    """``text`` as a path, relative to ``folder`` unless absolute; ``..`` are folded, symlinks kept."""
    path = Path(os.path.expanduser(text))
    return Path(os.path.normpath(path if path.is_absolute() else folder / path))


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


class _Section(NamedTuple):
    """One section of the ini: its dataclass, its number of wavelengths (segmentations), when it is read."""

    config_class: type
    channels: int | None = None
    on_request: bool = True  # False: read whichever the script (OPERATIONS always, OVERLAYS when present)


#: The sections of the ini, in the order of the messages; each is read and checked as its dataclass says.
_SECTIONS = {
    "SDO_DATA": _Section(SdoDataConfig),
    "CH_SEGMENTATION": _Section(SegmentationConfig, channels=1),
    "AR_SEGMENTATION": _Section(SegmentationConfig, channels=2),
    "STAFF_STATS": _Section(StaffStatsConfig),
    "IMAGE_STATS": _Section(ImageStatsConfig),
    "OPERATIONS": _Section(OperationsConfig, on_request=False),
    "OVERLAYS": _Section(OverlaysConfig, on_request=False),
}
_KNOWN_SECTIONS = tuple(_SECTIONS)
#: The sections a script may ask for (:func:`load_configuration`).
_REQUESTABLE = tuple(name for name, section in _SECTIONS.items() if section.on_request)

for _section in _SECTIONS.values():  # a misspelt reader in a field's metadata fails at import, not in a run
    for _spec in fields(_section.config_class):
        if not callable(getattr(_SectionReader, _spec.metadata["ini"].read, None)):
            raise TypeError(f"{_section.config_class.__name__}.{_spec.name}: no reader {_spec.metadata['ini'].read}")


def _known_keys(section: str) -> set[str]:
    """The keys a section may hold (the fields of its dataclass); others are reported as likely typos."""
    return {spec.name for spec in fields(_SECTIONS[section].config_class)}


def _read_section(ini_file: Path, parser: configparser.ConfigParser, section: str) -> Any:
    """Read and check ``section`` of the ini into its dataclass."""
    return _SectionReader(ini_file, parser, section, _SECTIONS[section].channels).read(
        _SECTIONS[section].config_class)


def _warn_unknown_keys(ini_file: Path, parser: configparser.ConfigParser, sections: Iterable[str]) -> None:
    """Log a warning for every key of ``sections`` that the pipeline does not use (a typo, most likely)."""
    for section in sections:
        if parser.has_section(section):
            known = _known_keys(section)
            for key in sorted(set(parser.options(section)) - known - set(parser.defaults())):
                LOGGER.warning("%s: [%s] %s: unknown key, ignored (known keys: %s)", ini_file, section, key,
                               ", ".join(sorted(known)))


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
    unknown = [name for name in sections if name not in _REQUESTABLE]
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
        loaded[name.lower()] = _read_section(ini_file, parser, name)
    operations = _read_section(ini_file, parser, "OPERATIONS")
    _warn_unknown_keys(ini_file, parser, (*sections, "OPERATIONS", "OVERLAYS"))
    if parser.has_section("OVERLAYS"):
        loaded["overlays"] = _read_section(ini_file, parser, "OVERLAYS")
    return Configuration(path=ini_file, operations=operations, **loaded)


def _main(argv: list[str] | None = None) -> int:
    """Check an ini file from the command line and print what it resolves to."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Check a spoca4staff ini file and print its resolved values. "
                                                 "Exit status 2 when it is invalid.")
    parser.add_argument("ini_file", type=Path, help="the ini file to check")
    parser.add_argument("--sections", nargs="*", default=[*STAFF_SECTIONS, "IMAGE_STATS"],
                        choices=list(_REQUESTABLE), help="the sections to validate (default: all of them)")
    args = parser.parse_args(argv)
    try:
        configuration = load_configuration(args.ini_file, args.sections)
    except ConfigurationError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    for spec in fields(configuration):
        sys.stdout.write(f"{spec.name}: {getattr(configuration, spec.name)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
