"""Downloading one archive into ``<root>/.downloads/``, through ``biasbench.download``.

The transfer is ``biasbench.download``'s: a ``.part`` file resumed with an HTTP Range
request, retries with exponential backoff, permanent errors (404, an HTML page instead
of the file) reported at once. The ledger is ``<root>/.downloads/datasets.lock.json``:
the SHA-256 of every archive is recorded once the archive has been extracted and its dataset
checked complete (a truncated archive, downloaded or placed there by hand, is never recorded
as the good one), and checked on every later use, against the hash pinned in ``sources.py``
where there is one; a mismatch deletes the file, never extracts it. ``prepare_data.py --forget
NAME`` removes an entry (docs/datasets.md).
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


def forget_hint(root: Path, filename: str) -> str:
    return f"prepare_data.py --root {root} --forget {filename}"


def fetch(archive: Archive, root: Path, *, progress: bool, offline: bool = False) -> download.Fetched:
    """The verified archive file under ``<root>/.downloads/``, downloaded when it is not there. A hash not yet
    in the ledger is left out of it until ``confirm`` (once the archive extracted to a complete dataset)."""
    final = downloads_dir(root) / archive.filename
    try:
        return download.fetch(download.Remote(archive.kind, archive.url, shown=archive.shown_url), final,
                              ledger(root), archive.filename, who=archive.filename, offline=offline,
                              hint=f"download {archive.shown_url} by hand into {final}", sha256=archive.sha256,
                              relock=("If the new file is the right one (you replaced a damaged copy), forget the "
                                      f"recorded hash: {forget_hint(root, archive.filename)}"),
                              pinned_in="biasbench/prepare/sources.py", progress=progress, record=False)
    except DownloadError as e:
        raise DatasetError(str(e)) from None


def confirm(archive: Archive, root: Path, fetched: download.Fetched) -> None:
    """Record the archive's hash: it extracted to a complete dataset."""
    ledger(root).confirm(archive.filename, fetched, archive.shown_url)
