"""A predictive test of "explain": leave-one-model-out prediction of each aggregate.

For each aggregate (ID, Robustness, Concepts, Adversarial) and each of the
paper's models, a predictor is fitted on the other models and predicts the
held-out one. Predictors: the six biases together, or the baseline of ImageNet
top-1 alone. Variants: ``linear`` (least squares with an intercept) and ``rank``
(the same fit on ranks among the training models; the predicted rank is mapped
back to a value through the training models' sorted targets). Out-of-sample
R^2 = 1 - SSE/SST (SST around the mean of the held-out values) and Spearman
rho between held-out predictions and values, each with a 95 % percentile
bootstrap interval over the models (predictions resampled with replacement,
seeded). Only models with every input and the target enter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .aggregates import AGGREGATES, PAPER_BIASES
from .model_bootstrap import LEVEL, N_RESAMPLES, SEED, _spearman_statistic

TOP1 = "top1_acc/imagenet"
PREDICTORS: dict[str, tuple[str, ...]] = {"biases": tuple(PAPER_BIASES), "top1": (TOP1,)}
VARIANTS = ("linear", "rank")
PREDICTION_COLUMNS = ["aggregate", "predictor", "variant", "n", "r2", "r2_lo", "r2_hi", "spearman", "spearman_lo",
                      "spearman_hi"]


def _ranks_against(train: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mid-rank (1-based, average for ties) of each row of x among the training column values."""
    out = np.empty_like(x, dtype=float)
    for j in range(train.shape[1]):
        col = np.sort(train[:, j])
        out[:, j] = (np.searchsorted(col, x[:, j], "left") + np.searchsorted(col, x[:, j], "right")) / 2 + 0.5
    return out


def _fit_predict(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, variant: str) -> np.ndarray:
    if variant == "rank":
        R_train = _ranks_against(X_train, X_train)
        r_test = _ranks_against(X_train, X_test)
        rank_y = stats.rankdata(y_train)
        coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(len(R_train)), R_train]), rank_y, rcond=None)
        pred_rank = np.column_stack([np.ones(len(r_test)), r_test]) @ coef
        return np.interp(pred_rank, np.arange(1, len(y_train) + 1), np.sort(y_train))
    coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(len(X_train)), X_train]), y_train, rcond=None)
    return np.column_stack([np.ones(len(X_test)), X_test]) @ coef


def leave_one_out_predictions(X: np.ndarray, y: np.ndarray, variant: str = "linear") -> np.ndarray:
    """Prediction of each y[i] from a fit on every other row."""
    n = len(y)
    pred = np.empty(n)
    for i in range(n):
        keep = np.arange(n) != i
        pred[i] = _fit_predict(X[keep], y[keep], X[i:i + 1], variant)[0]
    return pred


def r2_score(y: np.ndarray, pred: np.ndarray, axis: int = -1) -> np.ndarray:
    sse = ((y - pred) ** 2).sum(axis=axis)
    sst = ((y - y.mean(axis=axis, keepdims=True)) ** 2).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - sse / sst


def bootstrap_scores(y: np.ndarray, pred: np.ndarray, *, n_resamples: int = N_RESAMPLES, level: float = LEVEL,
                     seed: int = SEED) -> tuple[float, float, float, float]:
    """Percentile intervals (r2_lo, r2_hi, spearman_lo, spearman_hi) over resampled (value, prediction) pairs."""
    idx = np.random.default_rng(seed).integers(0, len(y), (n_resamples, len(y)))
    q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    r2 = np.nanpercentile(r2_score(y[idx], pred[idx]), q)
    rho = np.nanpercentile(_spearman_statistic(y[idx], pred[idx]), q)
    return float(r2[0]), float(r2[1]), float(rho[0]), float(rho[1])


def prediction_table(values: pd.DataFrame, top1: pd.Series, models) -> pd.DataFrame:
    """One row per (aggregate, predictor, variant) over ``models`` (the paper's 48 present)."""
    data = values.reindex(list(models)).assign(**{TOP1: top1.reindex(list(models)).astype(float)})
    rows = []
    for agg in AGGREGATES:
        for name, cols in PREDICTORS.items():
            sub = data[[*cols, agg]].astype(float).dropna()
            for variant in VARIANTS:
                n = len(sub)
                if n < len(cols) + 3:
                    rows.append((agg, name, variant, n, *[np.nan] * 6))
                    continue
                y = sub[agg].to_numpy()
                pred = leave_one_out_predictions(sub[list(cols)].to_numpy(), y, variant)
                r2_lo, r2_hi, rho_lo, rho_hi = bootstrap_scores(y, pred)
                rows.append((agg, name, variant, n, float(r2_score(y, pred)), r2_lo, r2_hi,
                             float(stats.spearmanr(y, pred).statistic), rho_lo, rho_hi))
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)
