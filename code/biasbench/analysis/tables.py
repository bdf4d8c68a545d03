"""Results tables in the paper's column format: reading, checking, merging.

A table has one row per model (column ``model``) and the paper's column names
(``top1_acc/imagenet``, ``shape-bias``, ``metric/bandpass/LFC/0.1`` ...).
Units follow the paper's table: accuracies in percent (0-100), shape bias and
the band-pass ratios as fractions, critical-band ``bw`` in octaves, ``cf`` in
cycles/image, ``pns`` as a factor. Tables that break these units are refused
rather than mixed into a wrong number.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..errors import ResultsError

MODEL_COLUMN = "model"

# Prefixes of the columns the analysis reads; only these are checked for numbers.
ANALYSIS_PREFIXES = ("top1_acc/", "shape-bias", "metric/bandpass/", "metric/criticalband/")

# The best accuracy anywhere in a percent table is far above 1 (stylized alone is a
# 16-class task, chance 6.25 %); a table whose largest accuracy lies in (0.2, 1] holds fractions.
_FRACTION_TABLE_MAX = (0.2, 1.0)


def _analysis_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c != MODEL_COLUMN and str(c).startswith(ANALYSIS_PREFIXES)]


def read_results(path: str | os.PathLike, *, what: str = "results table") -> pd.DataFrame:
    """Read a results CSV, check it and return it indexed by model name.

    Raises ResultsError naming the file when it is missing, unreadable, has no
    ``model`` column, repeats a model, holds text in a result column or uses
    fractions where the paper's table uses percent (or the reverse).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ResultsError(f"{what} {path} not found: expected a CSV in the paper's column format "
                           "(written by the benchmarks into raw-data/benchmark.csv)")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ResultsError(f"{what} {path} is empty: expected a header row with a 'model' column") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ResultsError(f"{what} {path} is not a readable CSV: {str(e).strip()}") from None
    return check_table(df, source=f"{what} {path}")


def check_table(df: pd.DataFrame, *, source: str = "results table") -> pd.DataFrame:
    """Validate a table (see ``read_results``) and return a copy indexed by model."""
    if MODEL_COLUMN not in df.columns:
        if df.index.name == MODEL_COLUMN:
            df = df.reset_index()
        else:
            found = ", ".join(map(str, list(df.columns)[:5]))
            raise ResultsError(f"{source} has no '{MODEL_COLUMN}' column (found: {found}...): "
                               "expected one row per model, in the paper's column format")
    df = df.copy()
    df[MODEL_COLUMN] = df[MODEL_COLUMN].astype(str).str.strip()
    dups = sorted(df.loc[df[MODEL_COLUMN].duplicated(), MODEL_COLUMN].unique())
    if dups:
        raise ResultsError(f"{source} lists model(s) more than once: {', '.join(dups)}; expected one row per model")
    for col in _analysis_columns(df):
        numeric = pd.to_numeric(df[col], errors="coerce")
        bad = numeric.isna() & df[col].notna()
        if bad.any():
            where = df.loc[bad, MODEL_COLUMN].iloc[0]
            raise ResultsError(f"{source}: column {col} holds {df.loc[bad, col].iloc[0]!r} for {where}; "
                               "expected a number or an empty cell")
        df[col] = numeric.astype(float)
    df = df.set_index(MODEL_COLUMN).copy()  # one block again after replacing every column (pandas fragments it)
    _check_units(df, source)
    return df


def _check_units(df: pd.DataFrame, source: str) -> None:
    acc_cols = [c for c in df.columns if str(c).startswith("top1_acc/")]
    if acc_cols:
        acc = df[acc_cols].to_numpy(dtype=float)
        finite = acc[~pd.isna(acc)]
        if finite.size:
            lo, hi = float(finite.min()), float(finite.max())
            if lo < 0 or hi > 100:
                raise ResultsError(f"{source}: a top1_acc column holds {hi if hi > 100 else lo:g}; "
                                   "expected accuracies in percent, 0 to 100")
            if _FRACTION_TABLE_MAX[0] < hi <= _FRACTION_TABLE_MAX[1]:
                raise ResultsError(f"{source}: every top1_acc value is at most {hi:g}, so they look like "
                                   "fractions; expected percent (0-100) as in the paper's table: multiply by 100")
    if "shape-bias" in df.columns:
        sb = df["shape-bias"].dropna()
        if len(sb) and (sb.min() < 0 or sb.max() > 1):
            raise ResultsError(f"{source}: shape-bias holds {sb.max() if sb.max() > 1 else sb.min():g}; "
                               "expected a fraction in [0, 1] as in the paper's table (divide percent by 100)")


def merge_tables(ours: pd.DataFrame | None, paper: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Merge our table with the paper's: our value wins in every cell where we have one.

    Returns the merged table (indexed by model) and its provenance, indexed by
    model: ``source`` is ``ours``, ``paper`` or ``ours+paper`` (a model in both
    tables whose result cells are partly filled from the paper's table), and
    ``paper_cells`` counts the result cells taken from the paper's table for a
    model we also have.
    """
    tables = {k: v for k, v in (("ours", ours), ("paper", paper)) if v is not None and len(v)}
    if not tables:
        raise ResultsError("no results to analyse: the results table has no rows and no paper table was given "
                           "(pass --results CSV and/or --paper-results)")
    if len(tables) == 1:
        (name, table), = tables.items()
        prov = pd.DataFrame({"source": name, "paper_cells": 0}, index=table.index)
        return table.copy(), prov
    merged = ours.combine_first(paper).copy()  # combine_first leaves one block per column: consolidate first
    order = list(paper.index) + [m for m in ours.index if m not in paper.index]
    merged = merged.loc[order, list(ours.columns) + [c for c in paper.columns if c not in ours.columns]]
    prov = pd.DataFrame({"source": "paper", "paper_cells": 0}, index=merged.index)
    cols = _analysis_columns(paper.reset_index())
    for model in ours.index:
        filled = 0
        if model in paper.index:
            filled = int((ours.loc[model].reindex(cols).isna() & paper.loc[model, cols].notna()).sum())
        prov.loc[model] = ("ours+paper" if filled else "ours", filled)
    return merged, prov
