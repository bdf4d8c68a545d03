"""Downloading one archive into ``<root>/.downloads/``, through ``biasbench.download``.

The transfer is ``biasbench.download``'s: a ``.part`` file resumed with an HTTP Range
request, retries with exponential backoff, permanent errors (404, an HTML page instead
of the file) reported at once. The ledger is ``<root>/.downloads/datasets.lock.json``:
the SHA-256 of every archive is recorded on first download (or first use of an archive
placed there by hand) and checked on every later use, against the hash pinned in
``sources.py`` where there is one; a mismatch deletes the file, never extracts it.
"""

from __future__ import annotations

from pathlib import Path

from .. import download
from ..errors import DatasetError, DownloadError
from .sources import Archive

DOWNLOADS = ".downloads"
LEDGER = "datasets.lock.json"


def downloads_dir(root: Path) -> Path:
    return root / DOWNLOADS


def ledger(root: Path) -> download.Ledger:
    return download.Ledger(downloads_dir(root), LEDGER)


def remote_size(archive: Archive) -> int | None:
    """The archive's size: as published, else the server's Content-Length (None when unknown)."""
    if archive.size is not None or archive.kind != "url":
        return archive.size
    return download.content_length(archive.url)


def check_space(root: Path, need: int, what: str) -> None:
    try:
        download.check_space(root, need, what, "Free some space or pass another --root")
    except DownloadError as e:
        raise DatasetError(str(e)) from None


def fetch(archive: Archive, root: Path, *, progress: bool, offline: bool = False) -> Path:
    """The verified archive file under ``<root>/.downloads/``, downloaded when it is not there."""
    final = downloads_dir(root) / archive.filename
    try:
        return download.fetch(download.Remote(archive.kind, archive.url, shown=archive.shown_url), final,
                              ledger(root), archive.filename, who=archive.filename, offline=offline,
                              hint=f"download {archive.shown_url} by hand into {final}", sha256=archive.sha256,
                              pinned_in="biasbench/prepare/sources.py", progress=progress).path
    except DownloadError as e:
        raise DatasetError(str(e)) from None
