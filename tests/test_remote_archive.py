"""Tests of remote archives (remote_archive.py, and sdo_data.py with http:// patterns) against a real HTTP server.

Each test starts a threaded ``http.server`` on 127.0.0.1 serving a generated archive, with index pages and
Range support, and injects faults per URL path: ``"503"`` and ``"429"`` answers, ``"429 retry after 0"``,
``"drop"`` (the connection is closed in the middle of the body), ``"stall"`` (no answer before the client's
timeout). The server records every request; the tests check what was downloaded, what is in the cache and what
SdoData (or the pipeline) returned. Timeouts and retry delays are tiny; the server is shut down after each test.
"""

from __future__ import annotations

import collections
import html
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest

from spoca4staff.remote_archive import USER_AGENT, RemoteArchive, RemoteArchiveError
from scripts.make_synthetic_aia import ARCHIVE_PATTERN, QUICKLOOK_QUALITY, archive_path, write_aia_file
from sdo_data import SdoData

STEP = datetime(2026, 3, 20, 12, 0)
STALL_SECONDS = 1.0
TIMEOUT = 0.3


class _Handler(BaseHTTPRequestHandler):
    server: _ArchiveServer

    def log_message(self, format, *args):  # noqa: A002 (signature of the base class)
        """Quiet: the server keeps its own request log."""

    def do_GET(self):  # noqa: N802 (http.server interface)
        path = unquote(urlsplit(self.path).path)
        requested_range = self.headers.get("Range")
        self.server.requests.append((path, requested_range, self.headers.get("User-Agent")))
        fault = self.server.next_fault(path)
        if fault == "stall":
            time.sleep(STALL_SECONDS)
            return
        if fault in ("503", "429"):
            self.send_error(int(fault))
            return
        if fault == "429 retry after 0":
            self.send_response(429)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        local = self.server.root / path.lstrip("/")
        if local.is_dir():
            self._send(200, self._index(path, local), "text/html", fault)
        elif local.is_file():
            self._send_file(local.read_bytes(), requested_range, fault)
        else:
            self.send_error(404)

    def _index(self, path: str, folder: Path) -> bytes:
        links = ['<a href="?C=N;O=D">Name</a>', '<a href="../">Parent Directory</a>',
                 '<a href="http://elsewhere.example/AIA.fits">elsewhere</a>']
        for entry in sorted(folder.iterdir()):
            name = entry.name + ("/" if entry.is_dir() else "")
            links.append(f'<a href="{quote(name)}">{html.escape(name)}</a>')
        links += [f'<a href="{html.escape(link)}">x</a>' for link in self.server.extra_links]
        return f"<html><body><h1>Index of {html.escape(path)}</h1>{'<br>'.join(links)}</body></html>".encode()

    def _send_file(self, content: bytes, requested_range: str | None, fault: str | None) -> None:
        if requested_range and self.server.honour_range:
            first, _, last = requested_range.removeprefix("bytes=").partition("-")
            start, stop = int(first), min(int(last) + 1 if last else len(content), len(content))
            if start >= len(content):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(content)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._send(206, content[start:stop], "application/fits", fault,
                       {"Content-Range": f"bytes {start}-{stop - 1}/{len(content)}"})
            return
        self._send(200, content, "application/fits", fault)

    def _send(self, status: int, body: bytes, kind: str, fault: str | None, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if fault == "drop":  # half the body, then the connection is closed
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)


class _ArchiveServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.honour_range = True
        self.extra_links: list[str] = []  # added to every index page (hostile links)
        self.requests: list[tuple[str, str | None, str | None]] = []
        self.faults: dict[str, collections.deque[str]] = {}
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def inject(self, path: str, *faults: str) -> None:
        """The next requests of ``path`` (an URL path) fail with ``faults``, in order."""
        self.faults.setdefault(path, collections.deque()).extend(faults)

    def next_fault(self, path: str) -> str | None:
        with self._lock:
            queue = self.faults.get(path)
            return queue.popleft() if queue else None

    def requests_of(self, path: str) -> list[str | None]:
        """The Range headers of the requests of ``path`` (None: a full GET)."""
        return [requested for requested_path, requested, _ in self.requests if requested_path == path]


@pytest.fixture
def server(tmp_path) -> Iterator[_ArchiveServer]:
    root = tmp_path / "archive"
    root.mkdir()
    archive_server = _ArchiveServer(root)
    thread = threading.Thread(target=archive_server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield archive_server
    archive_server.shutdown()
    archive_server.server_close()
    thread.join(timeout=5)


def _publish(server: _ArchiveServer, second: int, quality: int, wavelength: int = 193, step: datetime = STEP) -> Path:
    """Write a 512x512 file (a few hundred kB: more than the first Range request) into the served archive."""
    observation = step.replace(second=second)
    return write_aia_file(archive_path(server.root, observation, wavelength), observation, wavelength, size=512,
                          quality=quality, seed=second)


def _url_path(server: _ArchiveServer, path: Path) -> str:
    return "/" + path.relative_to(server.root).as_posix()


def _sdo(server: _ArchiveServer, cache: Path, **options) -> SdoData:
    options = {"http_timeout": TIMEOUT, "http_retry_attempts": 3, "http_retry_initial_delay": 0.01,
               "http_retry_max_delay": 0.05, "ignore_quality_bits": [30], "hdu": 0, **options}
    return SdoData(f"{server.url}/{ARCHIVE_PATTERN}", cache_directory=cache, **options)


def _cached_files(cache: Path) -> list[Path]:
    return sorted(path for path in cache.rglob("*") if path.is_file()) if cache.exists() else []


def test_quality_from_the_file_start_and_only_the_chosen_file_downloaded(server, tmp_path, umask):
    bad = _publish(server, 3, QUICKLOOK_QUALITY | 1)
    good = _publish(server, 15, QUICKLOOK_QUALITY)
    later = _publish(server, 40, QUICKLOOK_QUALITY)
    cache = tmp_path / "cache"
    chosen = _sdo(server, cache).get_AIA_file(STEP, 193)
    assert chosen is not None and chosen.read_bytes() == good.read_bytes()
    assert chosen.name == good.name and chosen.is_relative_to(cache)
    assert _cached_files(cache) == [chosen]
    assert stat.S_IMODE(chosen.stat().st_mode) == 0o666 & ~umask
    # the bad file: its start only; the good one: its start, then the whole file; the later one: nothing
    assert server.requests_of(_url_path(server, bad)) == ["bytes=0-46079"]
    assert server.requests_of(_url_path(server, good)) == ["bytes=0-46079", None]
    assert server.requests_of(_url_path(server, later)) == []
    assert bad.stat().st_size > 4 * 46080
    assert all(agent == USER_AGENT for _, _, agent in server.requests)


def test_cache_reused_by_the_next_run(server, tmp_path):
    _publish(server, 3, QUICKLOOK_QUALITY | 1)
    good = _publish(server, 15, QUICKLOOK_QUALITY)
    cache = tmp_path / "cache"
    first = _sdo(server, cache).get_AIA_file(STEP, 193)
    before = len(server.requests_of(_url_path(server, good)))
    second = _sdo(server, cache).get_AIA_file(STEP, 193)
    assert second == first
    assert len(server.requests_of(_url_path(server, good))) == before  # not asked again
    assert _cached_files(cache) == [first]


def test_cache_size_limit_removes_the_oldest_files(server, tmp_path):
    steps = [STEP.replace(hour=hour) for hour in (0, 6, 12)]
    sizes = [_publish(server, 9, 0, step=step).stat().st_size for step in steps]
    cache = tmp_path / "cache"
    first = _sdo(server, cache, cache_size_limit=max(sizes) * 2 + 10).get_AIA_file(steps[0], 193)
    second = _sdo(server, cache, cache_size_limit=max(sizes) * 2 + 10).get_AIA_file(steps[1], 193)
    old = time.time() - 3600
    os.utime(first, (old, old))
    third = _sdo(server, cache, cache_size_limit=max(sizes) * 2 + 10).get_AIA_file(steps[2], 193)
    assert _cached_files(cache) == sorted([second, third])
    assert not first.exists()


def test_two_503_answers_then_success(server, tmp_path, caplog):
    good = _publish(server, 15, 0)
    folder = _url_path(server, good.parent) + "/"
    server.inject(folder, "503", "503")
    server.inject(_url_path(server, good), "429")
    cache = tmp_path / "cache"
    with caplog.at_level(logging.WARNING, logger="remote_archive"):
        chosen = _sdo(server, cache).get_AIA_file(STEP, 193)
    assert chosen is not None and chosen.read_bytes() == good.read_bytes()
    assert len(server.requests_of(folder)) == 3
    assert server.requests_of(_url_path(server, good)) == ["bytes=0-46079", "bytes=0-46079", None]
    retries = [record.getMessage() for record in caplog.records if "retrying" in record.getMessage()]
    assert len(retries) == 3 and "503" in retries[0] and "429" in retries[2]


def test_connection_dropped_in_the_middle_of_the_download(server, tmp_path):
    good = _publish(server, 15, 0)
    server.inject(_url_path(server, good), None, "drop")  # the Range request works, the download is cut
    cache = tmp_path / "cache"
    chosen = _sdo(server, cache).get_AIA_file(STEP, 193)
    assert chosen is not None and chosen.read_bytes() == good.read_bytes()
    assert server.requests_of(_url_path(server, good)) == ["bytes=0-46079", None, None]
    assert _cached_files(cache) == [chosen]  # no partial file left


def test_connection_dropped_every_time_gives_up(server, tmp_path, caplog):
    good = _publish(server, 15, 0)
    server.inject(_url_path(server, good), None, "drop", "drop", "drop")
    cache = tmp_path / "cache"
    sdo = _sdo(server, cache)
    with caplog.at_level(logging.WARNING):
        assert sdo.get_AIA_file(STEP, 193) is None
    assert "download failed" in sdo.get_AIA_selection(STEP, 193).reason
    assert "gave up after 3 attempts" in caplog.text
    assert _cached_files(cache) == []


def test_server_stalling_past_the_timeout(server, tmp_path):
    good = _publish(server, 15, 0)
    server.inject(_url_path(server, good), "stall")
    cache = tmp_path / "cache"
    chosen = _sdo(server, cache).get_AIA_file(STEP, 193)
    assert chosen is not None and chosen.read_bytes() == good.read_bytes()
    assert server.requests_of(_url_path(server, good)) == ["bytes=0-46079", "bytes=0-46079", None]


def test_server_stalling_every_time_is_reported(server, tmp_path):
    good = _publish(server, 15, 0)
    folder = _url_path(server, good.parent) + "/"
    server.inject(folder, "stall", "stall")
    cache = tmp_path / "cache"
    sdo = _sdo(server, cache, http_retry_attempts=2)
    assert sdo.get_AIA_file(STEP, 193) is None
    assert len(server.requests_of(folder)) == 2
    reason = sdo.get_AIA_selection(STEP, 193).reason
    assert "cannot list the folder" in reason and "timed out" in reason
    assert _cached_files(cache) == []


def test_truncated_file_is_not_used(server, tmp_path, caplog):
    truncated = _publish(server, 15, 0)
    truncated.write_bytes(truncated.read_bytes()[:100_000])
    good = _publish(server, 40, 0)
    cache = tmp_path / "cache"
    sdo = _sdo(server, cache)
    with caplog.at_level(logging.WARNING, logger="sdo_data"):
        chosen = sdo.get_AIA_file(STEP, 193)
    assert chosen is not None and chosen.read_bytes() == good.read_bytes()
    assert _cached_files(cache) == [chosen]
    reason = dict(sdo.get_AIA_selection(STEP, 193).rejected)[f"{server.url}{_url_path(server, truncated)}"]
    assert "not valid" in reason and "truncated" in reason
    assert server.requests_of(_url_path(server, truncated)) == ["bytes=0-46079", None]  # not retried


def test_folder_not_found_means_no_data(server, tmp_path):
    _publish(server, 15, 0)
    cache = tmp_path / "cache"
    sdo = _sdo(server, cache)
    assert sdo.get_AIA_file(STEP.replace(day=21), 193) is None
    assert sdo.get_AIA_selection(STEP.replace(day=21), 193).reason.startswith("no file matches http://")
    assert server.requests[-1][0] == "/0193/2026/03/21/H1200/"
    assert _cached_files(cache) == []


def test_server_ignoring_range_downloads_once(server, tmp_path):
    server.honour_range = False
    bad = _publish(server, 3, 1 << 31)
    good = _publish(server, 15, 0)
    cache = tmp_path / "cache"
    chosen = _sdo(server, cache).get_AIA_file(STEP, 193)
    assert chosen is not None and chosen.read_bytes() == good.read_bytes()
    assert server.requests_of(_url_path(server, bad)) == ["bytes=0-46079"]  # answered in full
    assert server.requests_of(_url_path(server, good)) == ["bytes=0-46079"]  # that answer was kept
    assert _cached_files(cache) == [chosen]


def test_listing_keeps_only_the_matching_files_of_the_folder(server, tmp_path):
    good = _publish(server, 15, 0)
    _publish(server, 15, 0, wavelength=171)
    (good.parent / "sub folder").mkdir()
    (good.parent / "AIA notes.txt").write_text("x")
    archive = RemoteArchive(tmp_path / "cache", timeout=TIMEOUT)
    folder = f"{server.url}{_url_path(server, good.parent)}"
    assert archive.list_files(f"{folder}/AIA*_0193.fits") == [f"{folder}/{good.name}"]
    assert archive.list_files(f"{folder}/AIA notes.*") == [f"{folder}/AIA%20notes.txt"]
    assert len(archive.list_files(f"{folder}/*")) == 2  # the files only: not the folder, its parent, subfolders
    with pytest.raises(RemoteArchiveError, match="last path component"):
        archive.list_files(f"{server.url}/0193/*/AIA*.fits")


def test_other_http_errors_name_the_url_and_status(server, tmp_path):
    archive = RemoteArchive(tmp_path / "cache", timeout=TIMEOUT, retry_attempts=1)
    with pytest.raises(RemoteArchiveError, match=r"HTTP 404 Not Found for http://127\.0\.0\.1:\d+/nothing.fits"):
        archive.reader(f"{server.url}/nothing.fits")(0, 10)


def test_command_line_with_an_url_pattern(server, tmp_path, repo_root):
    _publish(server, 3, QUICKLOOK_QUALITY | (1 << 8))
    good = _publish(server, 15, QUICKLOOK_QUALITY)
    cache = tmp_path / "cache"
    result = subprocess.run(
        [sys.executable, str(repo_root / "sdo_data.py"), "2026-03-20T12:00", "193",
         "--aia-file-pattern", f"{server.url}/{ARCHIVE_PATTERN}", "--ignore-quality-bits", "30",
         "--cache-directory", str(cache), "--http-timeout", "5"],
        capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    chosen = Path(result.stdout.strip())
    assert chosen.is_relative_to(cache) and chosen.read_bytes() == good.read_bytes()


def test_range_reader_reads_further_on_demand(server, tmp_path):
    path = _publish(server, 15, 0)
    content = path.read_bytes()
    url_path = _url_path(server, path)
    read = RemoteArchive(tmp_path / "cache", timeout=TIMEOUT).reader(f"{server.url}{url_path}")
    assert read(0, 80) == content[:80]
    assert read(46000, 200) == content[46000:46200]  # one more request, twice as long as what was read
    assert read(len(content) - 100, 500) == content[-100:]  # the end of the file: fewer bytes
    assert read(len(content) + 10, 10) == b""
    assert server.requests_of(url_path) == ["bytes=0-46079", "bytes=46080-92159", f"bytes=92160-{len(content) + 399}"]


def _image_stats_ini(write_ini, folder: Path, server, wavelengths: str, **operations: object) -> Path:
    """``folder/remote.ini``: get_image_stats.py on the test server's archive, cache and outputs in ``folder``."""
    return write_ini(folder / "remote.ini", {
        "SDO_DATA": {"aia_file_pattern": f"{server.url}/{ARCHIVE_PATTERN}", "cache_directory": "cache",
                     "http_timeout": 5, "http_retry_attempts": 2, "http_retry_initial_delay": 0.01},
        "IMAGE_STATS": {"wavelengths": wavelengths, "output_directory": "image_stats"},
        **({"OPERATIONS": operations} if operations else {}),
    }, script="get_image_stats")


def test_get_image_stats_on_a_remote_archive(server, tmp_path, repo_root, write_ini):
    """The pipeline reads the remote archive through the cache: CSVs of the good files, bad ones never downloaded."""
    import csv

    import numpy as np
    from astropy.io import fits

    bad = _publish(server, 3, 1 << 16)
    good = _publish(server, 15, 0)
    other = _publish(server, 9, 0, wavelength=171)
    cache, output = tmp_path / "cache", tmp_path / "image_stats"
    ini = _image_stats_ini(write_ini, tmp_path, server, "171, 193")
    command = [sys.executable, str(repo_root / "get_image_stats.py"), str(ini), "--start-date", "2026-03-20T12:00",
               "--end-date", "2026-03-20T13:00"]
    for _ in range(2):  # the second run finds everything done or cached: no more downloads
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in output.glob("*.csv")) == sorted([f"{good.stem}.csv", f"{other.stem}.csv"])
    assert sorted(path.name for path in _cached_files(cache)) == sorted([good.name, other.name])
    assert server.requests_of(_url_path(server, bad)).count(None) == 0
    assert server.requests_of(_url_path(server, good)).count(None) == 1
    with fits.open(good) as hdus:
        data = hdus[1].data.astype(np.float64) / hdus[1].header["EXPTIME"]
    with open(output / f"{good.stem}.csv", newline="", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    assert float(row["DATAMEAN"]) == pytest.approx(np.nanmean(data), abs=1e-3)
    assert float(row["WAVELENGTH"]) == 193


def test_retry_after_of_the_server_is_honoured(server, tmp_path, caplog):
    good = _publish(server, 15, 0)
    folder = _url_path(server, good.parent) + "/"
    server.inject(folder, "429 retry after 0", "503")
    archive = RemoteArchive(tmp_path / "cache", timeout=TIMEOUT, retry_attempts=3, retry_initial_delay=0.2)
    with caplog.at_level(logging.WARNING, logger="remote_archive"):
        assert archive.list_files(f"{server.url}{folder}AIA*.fits") == [f"{server.url}{folder}{good.name}"]
    waits = [record.getMessage().split("retrying in ")[1] for record in caplog.records]
    assert waits == ["0.0 s (attempt 2 of 3)", "0.4 s (attempt 3 of 3)"]  # Retry-After, then 0.2 * 2


# -- outages and hostile index pages (issue 12) ------------------------------------------------------------


def _free_port() -> int:
    """A local TCP port that nothing listens on (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_hostile_links_of_an_index_page_are_ignored(server, tmp_path, caplog):
    good = _publish(server, 15, 0)
    folder = _url_path(server, good.parent) + "/"
    port = server.server_address[1]
    server.extra_links = [
        f"http://127.0.0.1:{_free_port()}{folder}AIA20260320_120001_0193.fits",  # same host, another port
        f"https://127.0.0.1:{port}{folder}AIA20260320_120002_0193.fits",  # another scheme
        f"http://localhost:{port}{folder}AIA20260320_120003_0193.fits",  # another host name
        "AIA20260320_1200%001_0193.fits",  # NUL
        "AIA20260320_1200%2F4_0193.fits",  # an encoded /
        "AIA20260320_1200.._0193.fits",  # ..
    ]
    cache = tmp_path / "cache"
    sdo = _sdo(server, cache)
    with caplog.at_level(logging.WARNING, logger="remote_archive"):
        chosen = sdo.get_AIA_file(STEP, 193)
    assert chosen is not None and chosen.read_bytes() == good.read_bytes()
    assert sdo.get_AIA_selection(STEP, 193).rejected == []  # the foreign links were not even tried
    assert {path for path, _, _ in server.requests} == {folder, _url_path(server, good)}
    ignored = [record.getMessage() for record in caplog.records if "ignoring the link" in record.getMessage()]
    assert len(ignored) == 3 and all(record.count("\n") == 0 for record in ignored)
    assert _cached_files(cache) == [chosen]


@pytest.mark.parametrize("fault", ["refused", "503"])
def test_a_folder_that_cannot_be_listed_is_an_outage(server, tmp_path, fault):
    good = _publish(server, 15, 0)
    folder = _url_path(server, good.parent) + "/"
    server.inject(folder, "503", "503", "503")
    sdo = _sdo(server, tmp_path / "cache")
    if fault == "refused":
        sdo.aia_file_pattern = f"http://127.0.0.1:{_free_port()}/{ARCHIVE_PATTERN}"
    selection = sdo.get_AIA_selection(STEP, 193)
    assert selection.chosen is None
    assert selection.outage is not None and selection.outage.startswith("archive unavailable: cannot list")
    assert ("503" if fault == "503" else "gave up after 3 attempts") in selection.outage
    assert selection.reason == selection.outage
    # A folder that does not exist (404) is "no data", not an outage.
    assert _sdo(server, tmp_path / "cache").get_AIA_selection(STEP.replace(day=21), 193).outage is None


def test_remote_outage_fails_the_job_and_rerun_failed_completes_it(server, tmp_path, capsys, write_ini):
    import get_image_stats

    good = _publish(server, 15, 0)
    folder = _url_path(server, good.parent) + "/"
    server.inject(folder, "503", "503")
    ini = _image_stats_ini(write_ini, tmp_path, server, "193", retry_attempts=1)
    window = ["-s", "2026-03-20T12:00", "-e", "2026-03-20T13:00"]
    assert get_image_stats.main([str(ini), *window]) == 1
    err = capsys.readouterr().err
    assert "image_stats: failed: archive unavailable: cannot list the folder" in err and "Traceback" not in err
    assert get_image_stats.main([str(ini), "--status"]) == 0
    report = capsys.readouterr().out
    assert "ARCHIVE OUTAGE: 1 job(s) failed" in report and "503" in report
    assert not (tmp_path / "image_stats" / f"{good.stem}.csv").exists()
    # The archive is back: --rerun-failed completes the step.
    assert get_image_stats.main([str(ini), "--rerun-failed"]) == 0
    assert (tmp_path / "image_stats" / f"{good.stem}.csv").exists()
    assert get_image_stats.main([str(ini), "--status"]) == 0
    assert "no failure waiting for a rerun" in capsys.readouterr().out


def test_remote_candidate_whose_data_are_damaged_is_rejected(server, tmp_path, corrupt_tiles):
    damaged = corrupt_tiles(_publish(server, 3, 0))
    good = _publish(server, 15, 0)
    sdo = _sdo(server, tmp_path / "cache")
    chosen = sdo.get_AIA_file(STEP, 193)
    assert chosen is not None and chosen.read_bytes() == good.read_bytes()
    (candidate, reason), = sdo.get_AIA_selection(STEP, 193).rejected
    assert candidate == f"{server.url}{_url_path(server, damaged)}"
    assert "not valid" in reason and "damaged image data (HDU 1 does not match its DATASUM)" in reason
    assert _cached_files(tmp_path / "cache") == [chosen]  # the damaged download was not kept
