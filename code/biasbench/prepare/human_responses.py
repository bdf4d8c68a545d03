"""The model-vs-human toolbox's human response tables, downloaded on first use.

The toolbox (bethgelab/model-vs-human) keeps its human trials in the git repository, not in
its dataset release: ``raw-data/<dataset>/<dataset>_subject-NN_session_N.csv``. They are
fetched once from the repository's archive (``ARCHIVE_URL``); only those files are kept, in
``<cache>/model-vs-human/human-raw-data/<dataset>/``. The archive is downloaded as the datasets
are (``prepare.model_vs_human.fetch_archive``: resumed, retried, its SHA-256 in the ledger); the
folder is filled in a temporary folder beside it and moved into place when complete, under a
file lock.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path

from ..data.model_vs_human import is_present
from ..errors import DatasetError
from .model_vs_human import fetch_archive

log = logging.getLogger("biasbench")

ARCHIVE_URL = "https://github.com/bethgelab/model-vs-human/archive/refs/heads/master.tar.gz"
FOLDER = "human-raw-data"
# <top folder>/raw-data/<dataset>/<dataset>_subject-NN_session_N.csv
_MEMBER = re.compile(r"^[^/]+/raw-data/([A-Za-z0-9-]+)/(\1_subject-\d+_session_\d+\.csv)$")


def ensure_human_responses(cache_root: str | os.PathLike, *, offline: bool, progress: bool = True) -> Path:
    """The folder of human tables (``<dataset>/<file>.csv``), downloading them first when absent."""
    from filelock import FileLock

    root = Path(cache_root).expanduser()
    target = root / FOLDER
    if is_present(target):
        return target
    hint = (f"put the toolbox's raw-data/<dataset>/<dataset>_subject-NN_session_1.csv files in {target}/<dataset>/, "
            "or pass --humans DIR (the toolbox's raw-data folder)")
    if offline:
        raise DatasetError(f"the model-vs-human human response tables are not in {target} and offline mode is on; "
                           f"download {ARCHIVE_URL} and {hint}")
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".{FOLDER}.lock")):
        if is_present(target):
            return target
        archive = fetch_archive(ARCHIVE_URL, "model-vs-human-master.tar.gz", root, progress=progress, hint=hint)
        tmp = Path(tempfile.mkdtemp(prefix=f".{FOLDER}-", dir=root))
        try:
            out = tmp / FOLDER
            kept = 0
            try:
                with tarfile.open(archive, "r:*") as tar:
                    for member in tar:
                        m = _MEMBER.match(member.name)
                        if m is None or not member.isfile():  # only plain files, at names we build
                            continue
                        dest = out / m.group(1) / m.group(2)
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        with tar.extractfile(member) as src, open(dest, "wb") as f:
                            shutil.copyfileobj(src, f)
                        kept += 1
            except (tarfile.TarError, OSError, EOFError) as err:
                raise DatasetError(f"cannot read {ARCHIVE_URL} as a tar.gz archive ({err}); {hint}") from None
            if not kept:
                raise DatasetError(f"{ARCHIVE_URL} holds no raw-data/<dataset>/<dataset>_subject-NN_session_N.csv; "
                                   f"{hint}")
            if target.exists():
                shutil.rmtree(target)
            os.replace(out, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        archive.unlink()  # only the tables are kept
    log.info("model-vs-human human response tables: %s", target)
    return target
