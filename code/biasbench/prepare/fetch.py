"""Downloading one archive into ``<root>/.downloads/``, with zoo.download's machinery.

The transfer itself is zoo.download's: a ``.part`` file resumed with an HTTP Range
request, retries with exponential backoff, permanent errors (404, an HTML page instead
of the file) reported at once. On top of it: the SHA-256 of every archive is recorded in
``<root>/.downloads/datasets.lock.json`` on first download (or first use of an archive
placed there by hand) and checked on every later use; a mismatch deletes the file and
stops with the reason, never extracts it.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import DatasetError, ModelError
from ..zoo import download as zdl
from ..zoo.registry import Source
from .sources import Archive

DOWNLOADS = ".downloads"
LEDGER = "datasets.lock.json"


def downloads_dir(root: Path) -> Path:
    return root / DOWNLOADS


def ledger(root: Path) -> zdl.Ledger:
    return zdl.Ledger(downloads_dir(root), LEDGER)


def remote_size(archive: Archive) -> int | None:
    """The archive's size: as published, else the server's Content-Length (None when unknown)."""
    if archive.size is not None or archive.kind != "url":
        return archive.size
    try:
        req = urllib.request.Request(archive.url, method="HEAD", headers={"User-Agent": "biasbench"})
        with urllib.request.urlopen(req, timeout=zdl.TIMEOUT_S) as resp:
            length = resp.headers.get("Content-Length")
            return int(length) if length else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def check_space(root: Path, need: int, what: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free
    if free < need:
        raise DatasetError(f"{what} needs about {need / 1e9:.1f} GB free under {root} (the archive and its "
                           f"extracted files); {free / 1e9:.1f} GB are free. Free some space or pass another --root")


def verify(archive: Archive, path: Path, root: Path) -> str:
    """Check ``path`` against the pinned or recorded SHA-256 (recording it when there is none)."""
    sha = zdl.sha256_of(path)
    book = ledger(root)
    rec = book.get(archive.filename)
    expected = archive.sha256 or (rec["sha256"] if rec else None)
    if expected is None:
        book.record(archive.filename, sha, path.stat().st_size, archive.shown_url)
        return "hash recorded"
    if sha != expected:
        path.unlink()
        where = "pinned in biasbench/prepare/sources.py" if archive.sha256 else f"recorded in {book.path}"
        raise DatasetError(f"{archive.filename} from {archive.shown_url} has SHA-256 {sha[:12]}..., not the "
                           f"{expected[:12]}... {where}: the file is truncated or tampered with, or the upstream "
                           "release changed. It was deleted; run again to fetch it anew (or, if the change is "
                           f"expected, delete its entry from {book.path})")
    if rec is None:
        book.record(archive.filename, sha, path.stat().st_size, archive.shown_url)
    return "hash verified"


def fetch(archive: Archive, root: Path, *, progress: bool) -> Path:
    """The verified archive file under ``<root>/.downloads/``, downloaded when it is not there."""
    final = downloads_dir(root) / archive.filename
    final.parent.mkdir(parents=True, exist_ok=True)
    if not final.exists():
        try:
            part = zdl._download(Source(archive.kind, archive.url), final, progress=progress, who=archive.filename)
        except ModelError as e:
            raise DatasetError(f"{e}; or download it by hand into {final}") from None
        os.replace(part, final)
    verify(archive, final, root)
    return final
