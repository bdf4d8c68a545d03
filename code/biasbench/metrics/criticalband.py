"""Critical-band fit: bandwidth, centre frequency and peak noise sensitivity (Subramanian et al.,
NeurIPS 2023; docs/benchmarks.md "Bias measurements").

The grid holds top-1 accuracies in percent, 5 rows (noise SD 0, .02, .04, .08,
.16) x 7 bands (0 = coarsest). For each band, count the rows, from the noisiest
upwards, whose accuracy is <= the criterion, stopping at the first row above it
and capping at 4: the threshold t_f in 0..4. A Gaussian
``A * exp(-(x - mu)^2 / (2 sigma^2))`` is fitted to (f, t_f) exactly as
``scipy.optimize.curve_fit`` does (p0 = [1, 0, 1]; A in [0, 4], mu and sigma
free; the same ``least_squares`` call), and

    bw  = 2 * sqrt(ln 4) * sigma   (octaves; sigma as fitted, sign included)
    cf  = 1.75 * 2**mu             (cycles/image)
    pns = 2**(A - 4)

``fit`` uses an absolute criterion (50 %: the plain columns); ``fit_normalized``
uses 50 % of the noise-free accuracy (the ``_norm`` columns). The noise-free
condition is one run whose accuracy fills row 0 (SD 0 does not depend on the
band), so that reference is the mean of row 0: the noise-free accuracy itself.

Degenerate threshold vectors never raise: all-4 gives the paper's bw ~ 11295;
where curve_fit would stop with "maximum number of function evaluations" (a
single-band spike), the last iterate is returned with ``converged=False``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from ..errors import ResultsError
from ..transforms.criticalband import BANDS, LOWEST_CENTRE, SDS

# The grid's rows: the noise-free run, then the noise SDs of the stimuli; its columns: the bands.
GRID_SDS: tuple[float, ...] = (0.0, *SDS)
N_BANDS = len(BANDS)
SUMMARY_KEYS = ("bw", "cf", "pns", "bw_norm", "cf_norm", "pns_norm")
MAX_THRESHOLD = len(GRID_SDS) - 1
P0 = (1.0, 0.0, 1.0)
BOUNDS = ((0.0, -np.inf, -np.inf), (float(MAX_THRESHOLD), np.inf, np.inf))


@dataclass(frozen=True)
class CriticalBandFit:
    """One fit of a grid: the channel's properties, thresholds and Gaussian parameters."""

    bw: float
    cf: float
    pns: float
    thresholds: tuple[int, ...]
    A: float
    mu: float
    sigma: float
    criterion: float
    converged: bool = True

    @property
    def degenerate(self) -> bool:
        """The Gaussian does not describe a band: the fit did not converge (a single-band spike drives sigma
        towards 0), the thresholds are flat (all equal, e.g. all 4, whose fit runs sigma up to bw ~ 11295), or
        the fitted width exceeds the whole measured range of bands. Its bw/cf/pns are then not measurements,
        and a bootstrap interval that includes such fits is not one either (docs/analysis.md)."""
        return (not self.converged or len(set(self.thresholds)) == 1
                or not abs(self.sigma) <= N_BANDS - 1)


def _check_grid(grid) -> np.ndarray:
    g = np.asarray(grid, dtype=float)
    if g.shape != (len(GRID_SDS), N_BANDS):
        raise ResultsError(f"critical-band grid has shape {g.shape}; expected {len(GRID_SDS)} rows "
                           f"(noise SD {GRID_SDS}) x {N_BANDS} bands")
    if not np.isfinite(g).all():
        raise ResultsError(f"critical-band grid has {int((~np.isfinite(g)).sum())} missing (NaN/inf) cells; "
                           "all 5 x 7 accuracies are needed for the fit")
    if g.min() < 0.0 or g.max() > 100.0:
        raise ResultsError(f"critical-band grid must hold accuracies in percent (0..100); "
                           f"got values in [{g.min():.4g}, {g.max():.4g}]")
    return g


def make_grid(noise_free: float, noisy) -> np.ndarray:
    """The 5 x 7 grid from the noise-free accuracy and the 4 x 7 noisy accuracies (rows SD .02..16)."""
    noisy = np.asarray(noisy, dtype=float)
    if noisy.shape != (len(GRID_SDS) - 1, N_BANDS):
        raise ResultsError(f"noisy critical-band accuracies have shape {noisy.shape}; expected "
                           f"{len(GRID_SDS) - 1} SDs {GRID_SDS[1:]} x {N_BANDS} bands")
    return _check_grid(np.vstack([np.full(N_BANDS, float(noise_free)), noisy]))


def thresholds(grid, criterion: float = 50.0) -> np.ndarray:
    """t_f per band: rows at or below ``criterion`` counted from the noisiest row, up to the first above it, max 4."""
    g = _check_grid(grid)
    out = []
    for band in range(N_BANDS):
        count = 0
        for row in range(len(GRID_SDS) - 1, -1, -1):
            if g[row, band] > criterion:
                break
            count += 1
        out.append(min(count, MAX_THRESHOLD))
    return np.array(out, dtype=int)


def _gauss(x, a, mu, sigma):
    return a * np.exp(-((x - mu) ** 2) / (2.0 * sigma ** 2))


@functools.lru_cache(maxsize=4096)
def _gauss_fit(t: tuple) -> tuple[float, float, float, bool]:
    """(A, mu, sigma, converged) of the Gaussian fitted to thresholds ``t``. Cached: thresholds take few
    values (integers 0..4), and a bootstrap fits the same vectors again and again (a spike that hits the
    iteration limit costs a second or so each time)."""
    x = np.arange(N_BANDS, dtype=float)
    y = np.asarray(t, dtype=float)
    # Exactly what curve_fit(_gauss, x, t, p0=P0, bounds=BOUNDS) runs, minus its RuntimeError when
    # the iteration limit is hit (e.g. a single-band spike drives sigma towards 0): then the last
    # iterate is reported with converged=False instead of crashing the whole evaluation.
    with np.errstate(all="ignore"):
        res = least_squares(lambda p: _gauss(x, *p) - y, P0, jac="2-point", bounds=BOUNDS, method="trf")
    a, mu, sigma = res.x
    return float(a), float(mu), float(sigma), bool(res.success)


def fit_thresholds(t, criterion: float = float("nan")) -> CriticalBandFit:
    """Fit the Gaussian to a threshold vector (7 values in 0..4) and derive bw, cf, pns."""
    t = np.asarray(t, dtype=float)
    if t.shape != (N_BANDS,) or not np.isfinite(t).all() or t.min() < 0 or t.max() > MAX_THRESHOLD:
        raise ResultsError(f"critical-band thresholds must be {N_BANDS} values in 0..{MAX_THRESHOLD}; got {t}")
    a, mu, sigma, converged = _gauss_fit(tuple(float(v) for v in t))
    with np.errstate(over="ignore"):  # a runaway mu gives cf = inf, not an exception
        bw, cf, pns = 2.0 * np.sqrt(np.log(4.0)) * sigma, LOWEST_CENTRE * np.exp2(mu), np.exp2(a - 4.0)
    return CriticalBandFit(bw=float(bw), cf=float(cf), pns=float(pns), thresholds=tuple(int(v) for v in t), A=float(a),
                           mu=float(mu), sigma=float(sigma), criterion=float(criterion), converged=converged)


def fit(grid, criterion: float = 50.0) -> CriticalBandFit:
    """bw, cf, pns of a 5 x 7 accuracy grid (%) at an absolute ``criterion`` (%): the plain columns."""
    return fit_thresholds(thresholds(grid, criterion), criterion=float(criterion))


def normalized_criterion(grid) -> float:
    """50 % of the noise-free accuracy: half the mean of row 0 (one run, repeated per band)."""
    return 0.5 * float(_check_grid(grid)[0].mean())


def fit_normalized(grid) -> CriticalBandFit:
    """bw, cf, pns with the criterion at 50 % of the noise-free accuracy: the ``_norm`` columns."""
    return fit(grid, normalized_criterion(grid))


def degenerate_keys(grid) -> set[str]:
    """The SUMMARY_KEYS whose fit of ``grid`` is degenerate (``CriticalBandFit.degenerate``)."""
    plain, norm = fit(grid), fit_normalized(grid)
    return {k for k in SUMMARY_KEYS if (norm if k.endswith("_norm") else plain).degenerate}


def summary(grid) -> dict[str, float]:
    """The six result values of a grid: bw, cf, pns (criterion 50 %) and bw_norm, cf_norm, pns_norm."""
    plain, norm = fit(grid), fit_normalized(grid)
    values = (plain.bw, plain.cf, plain.pns, norm.bw, norm.cf, norm.pns)
    return dict(zip(SUMMARY_KEYS, values))
