"""Writing files so that a killed process never leaves a torn one, and extracting archives safely.

- ``atomic_write`` / ``atomic_write_json``: the new content goes to a temporary file beside the
  target, is fsynced and renamed over it (keeping its permissions), then the directory entry is
  synced; readers see the old file or the new one, never half of one (docs/troubleshooting.md). Used by the results table, the per-image decisions, the sweep state, the decoded-image
  cache's metadata and the download ledgers.
- ``safe_extract``: a tar or zip archive is refused whole, before anything is written, when any
  member is absolute, contains ``..``, or is a link or special file (docs/datasets.md); none of the dataset releases holds any of these.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from .errors import DatasetError, UserError


def size_text(n: int) -> str:
    """``n`` bytes for a message, with three significant digits in the largest unit that keeps it at least 1
    (``1.50 MB``, ``12.3 GB``), so that small sizes never read as "0.0 GB"."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def fsync_dir(path: Path) -> None:
    """Make a new or renamed directory entry durable (not every file system allows this)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, data: bytes, *, what: str = "", hint: str = "",
                 error: type[UserError] = UserError) -> None:
    """Replace ``path`` with ``data`` durably (see the module docstring), creating its folder.
    A failure raises ``error`` naming ``what`` and the file, followed by ``hint`` when given."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        mode = 0o644
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):  # (not there, or its folder is not one)
            tmp.unlink()
        raise error(f"could not write {what}{path}: {err.strerror or err}" + (f"; {hint}" if hint else "")) from None
    fsync_dir(path.parent)


def atomic_write_json(path: str | os.PathLike, obj, *, what: str = "", hint: str = "",
                      error: type[UserError] = UserError) -> None:
    """``atomic_write`` of ``obj`` as indented JSON."""
    atomic_write(path, json.dumps(obj, indent=1).encode(), what=what, hint=hint, error=error)


# --- archives ----------------------------------------------------------------------------------------


def _check_name(name: str, archive: Path) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        raise DatasetError(f"{archive}: member {name!r} would be written outside the target folder; "
                           "refusing to extract this archive (delete it and download again)")


def _refuse_special(name: str, archive: Path) -> None:
    raise DatasetError(f"{archive}: member {name!r} is a link or special file; the dataset archives hold only "
                       "folders and files, so this archive is refused")


def safe_extract(archive: str | os.PathLike, target: str | os.PathLike) -> None:
    """Extract a tar (any compression) or zip ``archive`` into ``target`` (created), or raise
    DatasetError without writing anything (see the module docstring)."""
    archive, target = Path(archive), Path(target)
    if zipfile.is_zipfile(archive):
        _extract_zip(archive, target)
        return
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                _check_name(m.name, archive)
                if not (m.isfile() or m.isdir()):
                    _refuse_special(m.name, archive)
            target.mkdir(parents=True, exist_ok=True)
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python's own check as well
            tar.extractall(target, members=members, **kwargs)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DatasetError(f"{archive} is not a readable tar archive ({e}); delete it and download again") from None


def _extract_zip(archive: Path, target: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as z:
            infos = z.infolist()
            for info in infos:
                _check_name(info.filename, archive)
                kind = stat.S_IFMT(info.external_attr >> 16)  # 0: no Unix file type recorded (a plain file)
                if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                    _refuse_special(info.filename, archive)
            target.mkdir(parents=True, exist_ok=True)
            z.extractall(target, members=infos)
    except (zipfile.BadZipFile, OSError) as e:
        raise DatasetError(f"{archive} is not a readable zip archive ({e}); delete it and download again") from None
