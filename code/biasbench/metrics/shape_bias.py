"""Shape bias and 16-class accuracy from model-vs-human response tables (Geirhos et al., ICLR 2019;
docs/benchmarks.md "Bias measurements").

A response table has the toolbox's columns
``subj,session,trial,rt,object_response,category,condition,imagename``, one row
per image. For cue-conflict images ``<shape><i>-<texture><j>.png`` the
``category`` is the shape class and the texture class is the last ``-`` token
of the file name's final ``_`` field, digits removed. Trials whose shape equals
their texture (80 of 1,280) are dropped; among the rest S counts responses equal
to the shape, T those equal to the texture, and shape bias = S / (S + T).
16-class accuracy is the share of all trials with response == category.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch

from ..errors import ResultsError
from .sixteen_class import CATEGORIES

RESPONSE_COLUMNS: tuple[str, ...] = ("subj", "session", "trial", "rt", "object_response", "category",
                                     "condition", "imagename")


@dataclass(frozen=True)
class ShapeBiasResult:
    """Shape bias S / (S + T), its counts, the 16-class accuracy over all n trials, and the
    shape bias per shape category (NaN where a category has no shape or texture hit)."""

    shape_bias: float
    shape_hits: int
    texture_hits: int
    acc16: float
    n: int
    n_conflict: int
    per_category: dict[str, float] = field(default_factory=dict)


def texture_category(imagename: str) -> str:
    """'airplane1-bicycle2.png' -> 'bicycle'; a stimulus prefix ``..._`` before the name is ignored."""
    last = str(imagename).split("_")[-1].split(".")[0].split("-")[-1]
    return "".join(ch for ch in last if not ch.isdigit())


def _check_frame(df: pd.DataFrame, needed: Sequence[str] = ("object_response", "category", "imagename")
                 ) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise ResultsError(f"expected a model-vs-human response table (pandas DataFrame); got {type(df).__name__}")
    df = df.rename(columns=str.lower)
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ResultsError(f"response table lacks column(s) {missing}; expected model-vs-human columns "
                           f"{','.join(RESPONSE_COLUMNS)}")
    if len(df) == 0:
        raise ResultsError("response table is empty; expected one row per image")
    return df


def read_responses(path: str | os.PathLike) -> pd.DataFrame:
    """Read one model-vs-human response CSV (as the toolbox does: column names lower-cased)."""
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ResultsError(f"cannot read response table {path}: {e}") from None
    try:
        return _check_frame(df, RESPONSE_COLUMNS)
    except ResultsError as e:
        raise ResultsError(f"{path}: {e}") from None


def accuracy16(df: pd.DataFrame) -> float:
    """Share of all trials whose response equals the category (0..1)."""
    df = _check_frame(df, ("object_response", "category"))
    return float((df["object_response"] == df["category"]).mean())


def _ratio(s: int, t: int) -> float:
    return s / (s + t) if s + t else math.nan


def shape_bias(df: pd.DataFrame) -> ShapeBiasResult:
    """Shape bias of a cue-conflict response table (and its 16-class accuracy over all trials)."""
    df = _check_frame(df)
    texture = df["imagename"].map(texture_category)
    conflict = df["category"] != texture
    response = df["object_response"][conflict]
    shape_hit = response == df["category"][conflict]
    texture_hit = response == texture[conflict]
    per_category = {}
    for cat, rows in shape_hit.groupby(df["category"][conflict], sort=True):
        per_category[str(cat)] = _ratio(int(rows.sum()), int(texture_hit[rows.index].sum()))
    s, t = int(shape_hit.sum()), int(texture_hit.sum())
    return ShapeBiasResult(shape_bias=_ratio(s, t), shape_hits=s, texture_hits=t, acc16=accuracy16(df),
                           n=len(df), n_conflict=int(conflict.sum()), per_category=per_category)


def responses_frame(decisions: torch.Tensor | Sequence[int] | Sequence[str], categories: Sequence[str],
                    imagenames: Sequence[str], subj: str, condition: str | int = "NaN",
                    session: int = 1) -> pd.DataFrame:
    """A response table in the toolbox's format, one row per image in the given order.

    ``decisions``: indices into ``CATEGORIES`` (e.g. ``sixteen_class.decisions(logits)``) or category
    names; ``categories``: the true class (cue-conflict: the shape, i.e. the image's folder);
    ``imagenames``: bare file names. ``condition`` is ``"NaN"`` for cue-conflict and ``0`` for
    stylized, as the toolbox writes them.
    """
    if isinstance(decisions, torch.Tensor):
        decisions = decisions.tolist()
    responses = [d if isinstance(d, str) else CATEGORIES[int(d)] for d in decisions]
    if not len(responses) == len(categories) == len(imagenames):
        raise ResultsError(f"responses_frame got {len(responses)} decisions, {len(categories)} categories and "
                           f"{len(imagenames)} image names; expected one of each per image")
    unknown = sorted(set(responses) - set(CATEGORIES))
    if unknown:
        raise ResultsError(f"decisions {unknown[:3]} are not 16-class categories {CATEGORIES}")
    n = len(responses)
    return pd.DataFrame({
        "subj": [subj] * n, "session": [int(session)] * n, "trial": list(range(1, n + 1)),
        "rt": [math.nan] * n, "object_response": responses, "category": [str(c) for c in categories],
        "condition": [condition] * n, "imagename": [os.path.basename(str(p)) for p in imagenames],
    }, columns=list(RESPONSE_COLUMNS))


def responses_filename(dataset: str, subj: str, session: int = 1) -> str:
    """The toolbox's file name: ``<dataset>_<subj with '-' for '_'>_session-<n>.csv``."""
    return f"{dataset}_{subj.replace('_', '-')}_session-{session}.csv"


def write_responses(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a response table byte-for-byte like the toolbox (csv module, CRLF, NaN as 'NaN')."""
    df = _check_frame(df, RESPONSE_COLUMNS)

    def cell(v) -> str:
        return "NaN" if isinstance(v, float) and math.isnan(v) else str(v)

    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(RESPONSE_COLUMNS)
        for row in df[list(RESPONSE_COLUMNS)].itertuples(index=False):
            writer.writerow([cell(v) for v in row])
