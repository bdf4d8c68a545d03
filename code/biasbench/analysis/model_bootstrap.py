"""Bootstrap over models: intervals for Spearman coefficients and for a highlighted model's rank.

The paper reports each Spearman rho over its 48 models without uncertainty. Here
the models (pairs of bias and aggregate values) are resampled with replacement
(Efron & Tibshirani 1993) by ``scipy.stats.bootstrap`` (paired, percentile
interval); every call is seeded, so a table is reproducible number for number.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

N_RESAMPLES = 2000
LEVEL = 0.95
SEED = 0


def _spearman_statistic(x, y, axis=-1):
    """Spearman rho along ``axis`` (average ranks for ties): Pearson r of the ranks, vectorized."""
    rx = stats.rankdata(x, axis=axis)
    ry = stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(axis=axis) / np.sqrt((rx ** 2).sum(axis=axis) * (ry ** 2).sum(axis=axis))


def spearman_interval(x, y, *, n_resamples: int = N_RESAMPLES, level: float = LEVEL, seed: int = SEED,
                      min_models: int = 3) -> tuple[float, float]:
    """Percentile bootstrap interval of Spearman rho over the pairs where both values exist.

    NaN, NaN below ``min_models`` pairs or for a constant input. Resamples that
    happen to be constant (rho undefined) are left out of the percentiles.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if len(x) < min_models or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    with warnings.catch_warnings():  # constant resamples (rho undefined) are handled below, not a user's concern
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        res = stats.bootstrap((x, y), _spearman_statistic, paired=True, vectorized=True, n_resamples=n_resamples,
                              confidence_level=level, method="percentile", random_state=np.random.default_rng(seed))
    lo, hi = res.confidence_interval
    if np.isnan(lo) or np.isnan(hi):  # some degenerate resample: percentiles of the defined ones
        boot = res.bootstrap_distribution
        lo, hi = np.nanpercentile(boot, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)


def rank_interval(value: float, reference, *, n_resamples: int = N_RESAMPLES, level: float = LEVEL,
                  seed: int = SEED) -> tuple[float, float]:
    """Percentile interval of ``value``'s rank (1 = highest) among ``reference`` resampled with replacement.

    The rank is ``1 + #(reference > value)`` as in ``report.highlight_ranks``;
    each resample draws ``len(reference)`` models from the reference set.
    """
    ref = np.asarray(reference, dtype=float)
    ref = ref[~np.isnan(ref)]
    if np.isnan(value) or not len(ref):
        return float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, len(ref), (n_resamples, len(ref)))
    ranks = 1 + (ref[idx] > value).sum(axis=1)
    lo, hi = np.percentile(ranks, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)
