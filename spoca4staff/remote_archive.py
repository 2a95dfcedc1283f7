"""Files of a remote HTTP(S) archive: list a folder, read the start of a file, download it into a cache.

Used by :mod:`sdo_data` for ``http(s)://`` file patterns, such as the JSOC AIA synoptic archive. A folder is
listed from its HTML index page; the start of a candidate is read with HTTP Range requests (so that its
QUALITY can be checked without downloading the whole file; servers that ignore Range send the whole file,
which is then kept for the download); only the chosen file is downloaded, into a cache folder that keeps the
archive's layout under ``<cache>/<host>/<path>``. Downloads are written to a temporary file in the cache
folder, checked (length, and the caller's check that it is a readable FITS file), then renamed; a cached file
is reused by later runs, and a size limit removes the least recently used files first.

Transient failures (connection errors, timeouts, HTTP 429 and 5xx, a body cut short) are retried with
exponential back-off (tenacity); 404 means "no such folder or file"; any other failure raises
:class:`RemoteArchiveError` naming the URL and the HTTP status. One :class:`requests.Session`, with a
descriptive User-Agent, is reused for all the requests of a :class:`RemoteArchive`.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

import requests
import tenacity

from spoca4staff.atomic_file import atomic_write

__all__ = ["RemoteArchive", "RemoteArchiveError", "USER_AGENT"]

LOGGER = logging.getLogger(__name__)

#: Identifies the pipeline to archive operators.
USER_AGENT = (f"spoca4staff/1.0 (SPoCA STAFF statistics pipeline of SDO/AIA images; "
              f"python-requests/{requests.__version__})")

_FIRST_READ = 16 * 2880  # bytes of the first Range request: the primary header and an AIA extension header
_CHUNK = 1 << 20


class RemoteArchiveError(Exception):
    """A remote folder or file cannot be listed, read or downloaded (after the retries, if transient)."""


class _TransientError(Exception):
    """A failure worth retrying: HTTP 429 or 5xx (with the server's Retry-After seconds), or a body cut short."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


_RETRIED = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, _TransientError)


class _LinkParser(HTMLParser):
    """Collects the ``href`` of the ``<a>`` elements of an index page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.lower() == "a":
            self.links.extend(value for name, value in attrs if name.lower() == "href" and value)


def _check_status(response: requests.Response) -> None:
    """Raise for an HTTP error: transient for 429 and 5xx, RemoteArchiveError for the others."""
    if response.status_code == 429 or response.status_code >= 500:
        retry_after = response.headers.get("Retry-After", "")
        raise _TransientError(f"HTTP {response.status_code} {response.reason} for {response.url}",
                              float(retry_after) if retry_after.isdigit() else None)
    if response.status_code >= 400:
        raise RemoteArchiveError(f"HTTP {response.status_code} {response.reason} for {response.url}")


class RemoteArchive:
    """An HTTP(S) archive seen through one session and a local cache folder.

    Parameters
    ----------
    cache_directory
        Folder of the downloaded files (created when needed).
    cache_size_limit
        Bytes the cache may hold; after a download the least recently used files are removed until it
        fits (the file just downloaded is always kept). None: no limit.
    timeout
        Seconds to wait for a connection or for data from the server.
    retry_attempts, retry_initial_delay, retry_max_delay
        Attempts of a request failing transiently, first delay (seconds, doubled at each retry), largest delay.
    session
        The session to use (default: a new one with :data:`USER_AGENT`).
    """

    def __init__(self, cache_directory: Path | str, *, cache_size_limit: int | None = None, timeout: float = 60.0,
                 retry_attempts: int = 5, retry_initial_delay: float = 2.0, retry_max_delay: float = 60.0,
                 session: requests.Session | None = None) -> None:
        self.cache_directory = Path(cache_directory)
        self.cache_size_limit = cache_size_limit
        self.timeout = timeout
        self.retry_attempts = max(1, int(retry_attempts))
        self.retry_initial_delay = retry_initial_delay
        self.retry_max_delay = retry_max_delay
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept-Encoding"] = "identity"  # byte ranges and lengths of the file itself
        self._whole_files: dict[str, bytes] = {}  # bodies sent in full by servers that ignore Range

    # -- requests with retries

    def _with_retries(self, url: str, action: Callable[[], object]) -> object:
        """Run ``action`` (one HTTP exchange), retrying transient failures; RemoteArchiveError at the end."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retry_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_RETRIED),
            before_sleep=lambda state: LOGGER.warning(
                "%s: %s; retrying in %.1f s (attempt %d of %d)", url, state.outcome.exception(),
                state.next_action.sleep, state.attempt_number + 1, self.retry_attempts),
            reraise=True)
        try:
            return retrying(action)
        except _RETRIED as error:
            raise RemoteArchiveError(f"{url}: {error} (gave up after {self.retry_attempts} attempts)") from error
        except requests.RequestException as error:
            raise RemoteArchiveError(f"{url}: {error}") from error

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Seconds before the next attempt: exponential back-off, or the server's Retry-After (both capped)."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _TransientError) and error.retry_after is not None:
            return min(error.retry_after, self.retry_max_delay)
        return min(self.retry_initial_delay * 2 ** (state.attempt_number - 1), self.retry_max_delay)

    # -- listing

    def list_files(self, url_pattern: str) -> list[str]:
        """The URLs of the files of a folder whose names match the last component of ``url_pattern``, sorted.

        Shell-style wildcards are allowed in the last component only. A folder that does not exist (404)
        has no files. Only the links of the index page to files of that folder, on the same scheme, host and
        port, are followed; a name that decodes to something holding ``/``, NUL or ``..`` (a hostile or
        broken index page) is ignored with a warning.
        """
        folder, _, name_pattern = url_pattern.rpartition("/")
        if any(character in folder for character in "*?["):
            raise RemoteArchiveError(f"{url_pattern}: wildcards are allowed in the last path component only")
        folder_url = folder + "/"

        def get_index() -> str | None:
            response = self.session.get(folder_url, timeout=self.timeout)
            if response.status_code == 404:
                return None
            _check_status(response)
            return response.text

        index = self._with_retries(folder_url, get_index)
        if index is None:
            LOGGER.info("no folder %s (HTTP 404)", folder_url)
            return []
        parser = _LinkParser()
        parser.feed(index)
        folder_parts = urlsplit(folder_url)
        folder_path, origin = folder_parts.path, _origin(folder_parts)
        found = set()
        for link in parser.links:
            url = urljoin(folder_url, link).split("#")[0].split("?")[0]
            parts = urlsplit(url)
            path = parts.path
            name = path[len(folder_path):]
            if _origin(parts) != origin or not path.startswith(folder_path) or not name or "/" in name:
                continue  # parent folder, the folder itself (sorting links), subfolders, other sites
            decoded = unquote(name)
            if any(text in decoded for text in ("/", "\0", "..")):
                LOGGER.warning("%s: ignoring the link %r: its name %r holds '/', NUL or '..'", folder_url, link,
                               decoded)
                continue
            if fnmatch.fnmatchcase(decoded, name_pattern):
                found.add(url)
        return sorted(found)

    # -- reading the start of a file

    def reader(self, url: str) -> Callable[[int, int], bytes]:
        """A ``read(offset, size)`` function over the remote file, served by HTTP Range requests.

        The bytes read are kept, and each new request asks at least twice as much as already read. Reading
        beyond the end of the file gives fewer (or no) bytes, as for a local file.
        """
        return _RangeReader(self, url).read

    # -- downloading into the cache

    def cache_path(self, url: str) -> Path:
        """Where ``url`` is cached: ``<cache>/<host>/<path of the URL>``."""
        parts = urlsplit(url)
        relative = [part for part in PurePosixPath(unquote(parts.path)).parts if part not in ("/", "..", ".")]
        return self.cache_directory.joinpath(parts.netloc.replace(":", "_"), *relative)

    def fetch(self, url: str, verify: Callable[[Path], None]) -> Path:
        """The local copy of ``url``: the cached one when ``verify`` accepts it, else a new download.

        ``verify(path)`` raises ValueError or OSError when the file is not usable (e.g. not a complete FITS
        file). A download is retried when transient failures occur; an invalid download is an error.
        """
        target = self.cache_path(url)
        if target.is_file():
            try:
                verify(target)
            except (ValueError, OSError) as error:
                LOGGER.warning("cached %s is not valid (%s): downloading it again", target, error)
                target.unlink(missing_ok=True)
            else:
                os.utime(target)  # most recently used
                LOGGER.debug("%s: using the cached %s", url, target)
                return target
        target.parent.mkdir(parents=True, exist_ok=True)
        self._with_retries(url, lambda: self._download(url, target, verify))
        LOGGER.info("downloaded %s to %s", url, target)
        self._enforce_size_limit(keep=target)
        return target

    def _download(self, url: str, target: Path, verify: Callable[[Path], None]) -> None:
        """One download attempt: a temporary file beside ``target``, checked, then renamed to it."""
        with atomic_write(target, suffix=".part") as output:
            body = self._whole_files.pop(url, None)
            if body is not None:
                output.write(body)
            else:
                self._stream(url, output)
            output.flush()
            try:
                verify(Path(output.name))
            except (ValueError, OSError) as error:
                raise RemoteArchiveError(f"{url}: the downloaded file is not valid: {error}") from error

    def _stream(self, url: str, output: BinaryIO) -> None:
        """Write the body of a full GET of ``url`` to ``output``; a body shorter than announced is transient."""
        with self.session.get(url, stream=True, timeout=self.timeout) as response:
            if response.status_code == 404:
                raise RemoteArchiveError(f"HTTP 404 Not Found for {url}")
            _check_status(response)
            received = 0
            for chunk in response.iter_content(_CHUNK):
                output.write(chunk)
                received += len(chunk)
            announced = response.headers.get("Content-Length")
            if announced is not None and received != int(announced):
                raise _TransientError(f"body cut short: {received} of {announced} bytes")

    def _enforce_size_limit(self, keep: Path) -> None:
        """Remove the least recently used cached files until the cache fits its size limit."""
        if self.cache_size_limit is None:
            return
        files = [path for path in self.cache_directory.rglob("*") if path.is_file() and not path.name.startswith(".")]
        entries = sorted(((path.stat().st_mtime, path.stat().st_size, path) for path in files), key=lambda e: e[0])
        total = sum(size for _, size, _ in entries)
        for _, size, path in entries:
            if total <= self.cache_size_limit:
                break
            if path == keep:
                continue
            path.unlink(missing_ok=True)
            total -= size
            LOGGER.info("cache over %d bytes: removed %s", self.cache_size_limit, path)


class _RangeReader:
    """The start of a remote file, fetched by Range requests as far as it is read."""

    def __init__(self, archive: RemoteArchive, url: str) -> None:
        self.archive, self.url = archive, url
        self.data = bytearray()
        self.complete = False

    def read(self, offset: int, size: int) -> bytes:
        end = offset + size
        if end > len(self.data) and not self.complete:
            start = len(self.data)
            stop = max(end, 2 * start, _FIRST_READ)
            self.archive._with_retries(self.url, lambda: self._exchange(start, stop))
        return bytes(self.data[offset:end])

    def _exchange(self, start: int, stop: int) -> None:
        """One Range request for bytes ``[start, stop)``, appended to the data."""
        url = self.url
        response = self.archive.session.get(url, headers={"Range": f"bytes={start}-{stop - 1}"},
                                            timeout=self.archive.timeout)
        if response.status_code == 416:  # the file ends before `start`
            self.complete = True
            return
        if response.status_code == 404:
            raise RemoteArchiveError(f"HTTP 404 Not Found for {url}")
        _check_status(response)
        body = response.content
        announced = response.headers.get("Content-Length")
        if announced is not None and len(body) != int(announced):
            raise _TransientError(f"body cut short: {len(body)} of {announced} bytes")
        if response.status_code == 200:  # Range ignored: the whole file, kept for its download
            LOGGER.debug("%s: the server ignores Range requests, got the whole file", url)
            self.data[:] = body
            self.complete = True
            self.archive._whole_files = {url: body}
            return
        first, total = _content_range(response, url)
        if first != start:
            raise RemoteArchiveError(f"{url}: asked for bytes from {start}, got them from {first}")
        self.data.extend(body)
        self.complete = (total is not None and len(self.data) >= total) or len(body) < stop - start


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(parts: SplitResult) -> tuple[str, str, int | None] | None:
    """Scheme, host and port of a split URL (the scheme's default port when none is given); None if invalid."""
    try:
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port if port is not None else _DEFAULT_PORTS.get(scheme)


def _content_range(response: requests.Response, url: str) -> tuple[int, int | None]:
    """First byte and total size from the Content-Range of a 206 answer (``bytes first-last/total``)."""
    text = response.headers.get("Content-Range", "")
    try:
        unit, _, rest = text.partition(" ")
        span, _, total = rest.partition("/")
        first = int(span.split("-")[0])
        if unit != "bytes":
            raise ValueError(unit)
    except ValueError:
        raise RemoteArchiveError(f"{url}: bad Content-Range {text!r} in a 206 answer") from None
    return first, (int(total) if total.isdigit() else None)
