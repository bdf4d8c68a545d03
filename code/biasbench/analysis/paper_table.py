"""The authors' published results table: the copy shipped in ``raw-data/paper/``, or a newer download.

``raw-data/paper/benchmark.csv`` is the authors' ``raw-data/benchmark.csv`` of
paulgavrikov/biases_vs_generalization (70 models, CC BY-SA 4.0; see
``raw-data/paper/README.md``), so the analysis works offline on a fresh clone.
``fetch_paper_table()`` downloads the current upstream version once into
``<cache>/paper/benchmark.csv`` through ``biasbench.download`` (a ``.part`` file
renamed into place, so an interrupted download never leaves a half file behind;
its SHA-256 in the downloads ledger).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .. import download, paths
from ..errors import DownloadError, ResultsError
from ..zoo.paper_models import PAPER_MODELS
from .tables import MODEL_COLUMN, check_table, read_results

PAPER_TABLE_URL = ("https://raw.githubusercontent.com/paulgavrikov/biases_vs_generalization/"
                   "main/raw-data/benchmark.csv")


SHIPPED_PAPER_TABLE = Path(__file__).resolve().parents[3] / "raw-data" / "paper" / "benchmark.csv"


def paper_table_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the downloaded paper table lives: ``<cache>/paper/benchmark.csv``."""
    return paths.cache_dir(cache_dir) / "paper" / "benchmark.csv"


def fetch_paper_table(*, cache_dir: str | os.PathLike | None = None, offline: bool | None = None) -> Path:
    """Return the cached paper table, downloading it first when it is not cached.

    The download goes through ``biasbench.download`` (a ``.part`` file renamed into place, retries,
    its SHA-256 recorded in ``<cache>/downloads/downloads.lock.json`` and checked on every use);
    a download that is not the paper's table is refused and not cached. ``offline`` (default:
    ``biasbench.paths.offline()``) forbids the download; a missing file then raises ResultsError
    saying where to put it.
    """
    dest = paper_table_path(cache_dir)
    url = PAPER_TABLE_URL  # read at call time: tests point it at a local server
    hint = f"download {url} to {dest}, or pass --paper-results PATH"
    offline = paths.offline() if offline is None else offline
    if offline and not dest.is_file():
        raise ResultsError(f"the paper's results table is not in the cache ({dest}) and downloads are off "
                           f"(offline mode): {hint}")
    try:
        return download.fetch(download.Remote("url", url), dest, download.downloads_ledger(cache_dir),
                              "paper/benchmark.csv", who="the paper's results table", offline=offline,
                              hint=hint, validate=_check_download, progress=False).path
    except DownloadError as e:
        raise ResultsError(f"could not download the paper's results table ({e.reason}): {hint}") from None


def _check_download(part: Path) -> None:
    """Refuse to cache anything that is not a table holding the paper's models."""
    url = PAPER_TABLE_URL
    try:
        df = pd.read_csv(part)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        df = None
    if df is None or MODEL_COLUMN not in df.columns or not set(PAPER_MODELS) & set(df[MODEL_COLUMN].astype(str)):
        data = part.read_bytes()
        raise ResultsError(f"{url} did not return the paper's results table (no '{MODEL_COLUMN}' column listing "
                           f"the paper's models; got {len(data)} bytes starting {data[:60]!r})")
    check_table(df, source=f"downloaded paper table {url}")


def load_paper_table(path: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None,
                     offline: bool | None = None) -> pd.DataFrame:
    """The paper's table indexed by model: read from ``path``, else from the cache (downloading it)."""
    if path is None:
        path = fetch_paper_table(cache_dir=cache_dir, offline=offline)
    return read_results(path, what="paper results table")
