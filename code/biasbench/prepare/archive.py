"""Safe extraction of the dataset archives (tar, tar.gz, zip).

Every member is checked before anything is written: an absolute path, a ``..``
component, a link or a special file refuses the whole archive (none of the releases
holds any of these). Extraction goes into a fresh folder beside the target; the caller
moves the finished folders into place (``os.replace``), so a killed run never leaves a
half-extracted dataset where the benchmark would read it.
"""

from __future__ import annotations

import re
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import DatasetError


def _check_name(name: str, archive: Path) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        raise DatasetError(f"{archive}: member {name!r} would be written outside the target folder; "
                           "refusing to extract this archive (delete it and download again)")


def extract(archive: Path, target: Path) -> None:
    """Extract ``archive`` into ``target`` (created), or raise DatasetError without writing anything."""
    if zipfile.is_zipfile(archive):
        _extract_zip(archive, target)
        return
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                _check_name(m.name, archive)
                if not (m.isfile() or m.isdir()):
                    raise DatasetError(f"{archive}: member {m.name!r} is a link or special file; the dataset "
                                       "archives hold only folders and images, so this archive is refused")
            target.mkdir(parents=True, exist_ok=True)
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
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
                    raise DatasetError(f"{archive}: member {info.filename!r} is a link or special file; "
                                       "this archive is refused")
            target.mkdir(parents=True, exist_ok=True)
            z.extractall(target, members=infos)
    except (zipfile.BadZipFile, OSError) as e:
        raise DatasetError(f"{archive} is not a readable zip archive ({e}); delete it and download again") from None
