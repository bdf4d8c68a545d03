"""Spearman rank correlations of biases with aggregates, as in the paper.

Two-sided tests (scipy.stats.spearmanr, average ranks for ties); a coefficient
with p >= 0.05 is *shown* as 0, while the raw rho and p are kept beside it.
Groups are always drawn from the paper's 48 models: all of them, the 15
adversarially trained ones, the other 33. Models outside the 48 (a user's new
checkpoint) never enter these numbers. A model lacking a value is left out of
that one pair; ``n`` says how many models each coefficient rests on.
``rho_lo``/``rho_hi`` bound a 95 % percentile bootstrap interval over the
models (``model_bootstrap.spearman_interval``, seeded).
"""

from __future__ import annotations

import warnings
from itertools import product

import numpy as np
import pandas as pd
from scipy import stats

from ..zoo.paper_models import MODEL_CATEGORY, PAPER_MODELS
from .aggregates import AGGREGATES, BIASES
from .model_bootstrap import spearman_interval

ALPHA = 0.05
MIN_MODELS = 3  # below this a rank correlation and its p-value mean nothing

GROUPS: dict[str, list[str]] = {
    "all": list(PAPER_MODELS),
    "adversarial": [m for m in PAPER_MODELS if MODEL_CATEGORY[m] == "adversarial_training"],
    "non_adversarial": [m for m in PAPER_MODELS if MODEL_CATEGORY[m] != "adversarial_training"],
}

CORRELATION_COLUMNS = ["group", "bias", "aggregate", "rho", "p", "shown", "n", "rho_lo", "rho_hi"]
BIAS_CORRELATION_COLUMNS = ["bias_a", "bias_b", "rho", "p", "shown", "n", "rho_lo", "rho_hi"]


def spearman(x, y, alpha: float = ALPHA) -> tuple[float, float, float, int]:
    """(rho, p, shown, n) over the pairs where both values exist; shown = rho if p < alpha else 0.

    Fewer than MIN_MODELS pairs or a constant input give NaN for rho, p and shown.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = ~(np.isnan(x) | np.isnan(y))
    n = int(ok.sum())
    if n < MIN_MODELS or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan"), float("nan"), float("nan"), n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        res = stats.spearmanr(x[ok], y[ok])
    rho, p = float(res.statistic), float(res.pvalue)
    return rho, p, (rho if p < alpha else 0.0), n


def _members(values: pd.DataFrame, group: str) -> pd.DataFrame:
    return values.reindex([m for m in GROUPS[group] if m in values.index])


def bias_aggregate_correlations(values: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """One row per (group, bias, aggregate) with rho, p, shown and n; ``values`` as from compute_metrics."""
    rows = []
    for group in GROUPS:
        sub = _members(values, group)
        for bias, agg in product(BIASES, AGGREGATES):
            rows.append((group, bias, agg, *spearman(sub[bias], sub[agg], alpha),
                         *spearman_interval(sub[bias], sub[agg])))
    return pd.DataFrame(rows, columns=CORRELATION_COLUMNS)


def family_correlations(values: pd.DataFrame, members: dict[str, list[str]], alpha: float = ALPHA) -> pd.DataFrame:
    """As ``bias_aggregate_correlations`` over groups given by name (``members``: group -> models in ``values``),
    e.g. the zero-shot image-text models alone and together with the paper's 48 (docs/analysis.md)."""
    rows = []
    for group, models in members.items():
        sub = values.reindex(models)
        for bias, agg in product(BIASES, AGGREGATES):
            rows.append((group, bias, agg, *spearman(sub[bias], sub[agg], alpha),
                         *spearman_interval(sub[bias], sub[agg])))
    return pd.DataFrame(rows, columns=CORRELATION_COLUMNS)


def bias_bias_correlations(values: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """The bias-vs-bias matrix over the 48, one row per ordered pair (diagonal included)."""
    sub = _members(values, "all")
    rows = [(a, b, *spearman(sub[a], sub[b], alpha), *spearman_interval(sub[a], sub[b]))
            for a, b in product(BIASES, BIASES)]
    return pd.DataFrame(rows, columns=BIAS_CORRELATION_COLUMNS)


def as_matrix(corr: pd.DataFrame, value: str = "shown", group: str | None = None) -> pd.DataFrame:
    """A long correlation table pivoted to a bias x aggregate (or bias x bias) matrix."""
    if "group" in corr.columns:
        sub = corr[corr["group"] == (group or "all")]
        return sub.pivot(index="bias", columns="aggregate", values=value).reindex(
            index=list(BIASES), columns=list(AGGREGATES))
    return corr.pivot(index="bias_a", columns="bias_b", values=value).reindex(index=list(BIASES),
                                                                              columns=list(BIASES))
