"""Fetching the model-vs-human datasets into the cache on first use (``<cache>/model-vs-human/<name>/``).

The benchmark calls ``ensure_dataset`` when a dataset it needs is neither under ``--mvh-root`` nor
in the cache. The release archive (``data.model_vs_human.dataset_url``) is downloaded through
``biasbench.download`` (resumed, retried, its SHA-256 in the cache's ledger
``<cache>/downloads/downloads.lock.json``), extracted and moved into place. ``prepare_data.py
--datasets mvh`` fetches the same archives (``prepare/sources.py``) into a data root instead.
See docs/datasets.md, "Where each dataset lives".
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from .. import download
from ..data.model_vs_human import CACHE_SUBDIR, dataset_url, is_present
from ..errors import DatasetError, DownloadError
from ..files import safe_extract

log = logging.getLogger("biasbench")


def offline_message(names: str | list[str], root: Path) -> str:
    """What to fetch, and where to put it, for datasets missing in offline mode."""
    names = [names] if isinstance(names, str) else list(names)
    which = f"dataset {names[0]} is" if len(names) == 1 else f"datasets {', '.join(names)} are"
    return (f"model-vs-human {which} not in {root} and offline mode is on; download "
            f"{', '.join(dataset_url(n) for n in names)} and extract into {root} (tar -xzf <name>.tar.gz -C "
            f"{root}) so that {root / names[0]}/ ... exist, or pass --mvh-root DIR holding "
            f"{', '.join(n + '/' for n in names)}")


def ensure_dataset(name: str, root: str | os.PathLike, *, offline: bool, progress: bool = True) -> Path:
    """``root/name``, downloading and extracting the release archive first when it is not there.

    The archive comes through ``fetch_archive``; it is extracted (``files.safe_extract``) in a
    temporary folder beside the target, which is moved into place only when complete (a killed
    run leaves nothing half-written), and deleted once in place. A file lock keeps two processes
    from fetching the same dataset at once.
    """
    from filelock import FileLock

    root = Path(root).expanduser()
    target = root / name
    if is_present(target):
        return target
    if offline:
        raise DatasetError(offline_message(name, root))
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".{name}.lock")):
        if is_present(target):  # another process fetched it while we waited
            return target
        archive = fetch_archive(dataset_url(name), f"{name}.tar.gz", root, progress=progress,
                                hint=f"extract it into {root} so that {target}/ exists, or pass --mvh-root DIR "
                                f"holding {name}/")
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
        try:
            extracted = tmp / "extracted"
            safe_extract(archive, extracted)
            found = _dataset_folder(extracted, name)
            if not is_present(found):
                raise DatasetError(f"{dataset_url(name)} holds no files; expected {name}/...")
            if target.exists():  # an empty leftover folder
                target.rmdir()
            os.replace(found, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        archive.unlink()  # its SHA-256 stays in the ledger, for the next download
    log.info("model-vs-human %s: downloaded to %s", name, target)
    return target


def fetch_archive(url: str, filename: str, root: Path, *, progress: bool, hint: str) -> Path:
    """``url`` as a verified file ``<cache>/downloads/model-vs-human/<filename>`` (``root`` is
    ``<cache>/model-vs-human``), through ``biasbench.download``: resumed from its ``.part`` file,
    retried, its SHA-256 recorded in ``<cache>/downloads/downloads.lock.json`` on first download
    and checked on every later one; free space for it and its extracted files is checked first."""
    cache = root.parent
    final = download.downloads_dir(cache) / CACHE_SUBDIR / filename
    try:
        if not final.exists():
            size = download.content_length(url)
            download.check_space(root, 2 * size if size else 0, f"model-vs-human {filename}",
                                 "Free some space, or pass --cache-dir DIR")
        return download.fetch(download.Remote("url", url), final, download.downloads_ledger(cache),
                              f"{CACHE_SUBDIR}/{filename}", who=f"model-vs-human {filename}", offline=False,
                              hint=f"download it by hand and {hint}", progress=progress).path
    except DownloadError as e:
        raise DatasetError(f"cannot download {url}: {e.reason}; download it by hand and {hint}") from None


def _dataset_folder(extracted: Path, name: str) -> Path:
    """The dataset inside an extracted archive: ``<name>/``, else its single top folder, else all of it."""
    if (extracted / name).is_dir():
        return extracted / name
    tops = [p for p in extracted.iterdir() if not p.name.startswith(".")]
    if len(tops) == 1 and tops[0].is_dir():
        return tops[0]
    return extracted
