"""The authors' published results table: the copy shipped in ``raw-data/paper/``, or a newer download.

``raw-data/paper/benchmark.csv`` is the authors' ``raw-data/benchmark.csv`` of
paulgavrikov/biases_vs_generalization (70 models, CC BY-SA 4.0; see
``raw-data/paper/README.md``), so the analysis works offline on a fresh clone.
``fetch_paper_table()`` downloads the current upstream version once into
``<cache>/paper/benchmark.csv`` (temporary file + rename, so an interrupted
download never leaves a half file behind).
"""

from __future__ import annotations

import io
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd

from .. import paths
from ..errors import ResultsError
from ..zoo.paper_models import PAPER_MODELS
from .tables import MODEL_COLUMN, check_table, read_results

PAPER_TABLE_URL = ("https://raw.githubusercontent.com/paulgavrikov/biases_vs_generalization/"
                   "main/raw-data/benchmark.csv")


SHIPPED_PAPER_TABLE = Path(__file__).resolve().parents[3] / "raw-data" / "paper" / "benchmark.csv"


def paper_table_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the downloaded paper table lives: ``<cache>/paper/benchmark.csv``."""
    return paths.cache_dir(cache_dir) / "paper" / "benchmark.csv"


def fetch_paper_table(*, cache_dir: str | os.PathLike | None = None, offline: bool | None = None,
                      timeout: float = 60.0) -> Path:
    """Return the cached paper table, downloading it first when it is not cached.

    ``offline`` (default: ``biasbench.paths.offline()``) forbids the download; a
    missing file then raises ResultsError saying where to put it.
    """
    dest = paper_table_path(cache_dir)
    if dest.is_file():
        return dest
    url = PAPER_TABLE_URL  # read at call time: tests point it at a local server
    hint = f"download {url} to {dest}, or pass --paper-results PATH"
    if paths.offline() if offline is None else offline:
        raise ResultsError(f"the paper's results table is not in the cache ({dest}) and downloads are off "
                           f"(offline mode): {hint}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data = resp.read()
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise ResultsError(f"could not download the paper's results table ({reason}): {hint}") from None
    _check_download(data, url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".benchmark.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def _check_download(data: bytes, url: str) -> None:
    """Refuse to cache anything that is not a table holding the paper's models."""
    try:
        df = pd.read_csv(io.BytesIO(data))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        df = None
    if df is None or MODEL_COLUMN not in df.columns or not set(PAPER_MODELS) & set(df[MODEL_COLUMN].astype(str)):
        raise ResultsError(f"{url} did not return the paper's results table (no '{MODEL_COLUMN}' column listing "
                           f"the paper's models; got {len(data)} bytes starting {data[:60]!r})")
    check_table(df, source=f"downloaded paper table {url}")


def load_paper_table(path: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None,
                     offline: bool | None = None) -> pd.DataFrame:
    """The paper's table indexed by model: read from ``path``, else from the cache (downloading it)."""
    if path is None:
        path = fetch_paper_table(cache_dir=cache_dir, offline=offline)
    return read_results(path, what="paper results table")
