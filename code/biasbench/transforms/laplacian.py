"""Batched Laplacian-pyramid band reconstruction, equal to pyrtools' ``LaplacianPyramid`` defaults.

pyrtools (binom5 filter ``sqrt(2) * [1, 4, 6, 4, 1] / 16``, ``reflect1`` edges,
automatic height) builds the pyramid with separable ``corrDn`` (correlate, keep
every 2nd sample) and reconstructs with separable ``upConv`` (zero-insert, correlate):

    G_0 = X,  G_{l+1} = down(G_l)                      (Gaussian levels)
    band_l = G_l - up(G_{l+1})  (top level: G_top)     (Laplacian bands)
    recon_pyr(levels=l) = up(... up(band_l))           (l times, back to full size)

Two equal ways to compute it, on whole batches, any device:
- shifted slices: the five taps applied along one axis at a time to the signal
  reflected about its edge samples (``x[-k] = x[k]``); used for the two finest bands,
  whose operators are large and almost all zeros as matrices;
- matrices: along one axis of length n both operations are slices of one matrix
  ``C_n`` (correlation under reflect1 padding): ``down = C_n[::2, :]``,
  ``up = C_n[:, ::2]``, so ``G_l = A_l X A_l^T`` and ``recon = V_l band_l V_l^T`` with
  ``A_l = D_{l-1} ... D_0`` and ``V_l = U_0 ... U_{l-1}`` precomputed per size; used for
  the coarser bands, where these matrices are small.

tests/test_criticalband_transform.py checks the result against pyrtools itself.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

# pyrtools' named filter 'binom5' (normalised to sum sqrt(2)); 1-D and symmetric.
BINOM5 = np.sqrt(2.0) * np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
_OUTER, _INNER, _CENTRE = (float(v) for v in BINOM5[:3])
_HALF = len(BINOM5) // 2


def pyramid_height(height: int, width: int, filter_size: int = len(BINOM5)) -> int:
    """Number of levels of pyrtools' ``LaplacianPyramid(image)`` (height='auto'): 7 for 224x224."""
    levels = 0
    h, w = height, width
    while min(h, w) >= filter_size:
        levels += 1
        h, w = h // 2, w // 2
    return levels + 1


def _reflect_correlation(n: int) -> np.ndarray:
    """``C_n``: correlation with BINOM5, signal reflected about its edge samples (x[-k] = x[k])."""
    half = len(BINOM5) // 2
    c = np.zeros((n, n))
    for i in range(n):
        for k, weight in enumerate(BINOM5, start=-half):
            j = abs(i + k)
            if j > n - 1:
                j = 2 * (n - 1) - j
            c[i, j] += weight
    return c


@lru_cache(maxsize=None)
def _axis_factors(n: int, levels: int) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...],
                                               tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Per level l along one axis of length n: A_l (n_l x n), V_l (n x n_l), D_l, U_l."""
    downs, ups = [], []
    size = n
    for _ in range(levels - 1):
        c = _reflect_correlation(size)
        downs.append(c[::2, :])
        ups.append(c[:, ::2])
        size = downs[-1].shape[0]
    a, v = [np.eye(n)], [np.eye(n)]
    for lev in range(1, levels):
        a.append(downs[lev - 1] @ a[-1])
        v.append(v[-1] @ ups[lev - 1])
    return tuple(a), tuple(v), tuple(downs), tuple(ups)


_DEVICE_CACHE: dict[tuple, tuple[Tensor, ...]] = {}


def _factors(height: int, width: int, level: int, levels: int, device: torch.device,
             dtype: torch.dtype) -> tuple[Tensor, ...]:
    key = (height, width, level, levels, str(device), dtype)
    if key not in _DEVICE_CACHE:
        mats = []
        for n in (height, width):
            a, v, downs, ups = _axis_factors(n, levels)
            top = level == levels - 1
            empty = np.zeros((0, 0))
            mats += [a[level], v[level], empty if top else downs[level], empty if top else ups[level]]
        _DEVICE_CACHE[key] = tuple(torch.as_tensor(m, dtype=dtype, device=device) for m in mats)
    return _DEVICE_CACHE[key]


def _matrix_band(x: Tensor, level: int, levels: int) -> Tensor:
    h, w = x.shape[-2:]
    a_h, v_h, d_h, u_h, a_w, v_w, d_w, u_w = _factors(h, w, level, levels, x.device, x.dtype)
    g = x if level == 0 else a_h @ x @ a_w.mT
    if level < levels - 1:
        g = g - u_h @ (d_h @ g @ d_w.mT) @ u_w.mT
    return g if level == 0 else v_h @ g @ v_w.mT


@lru_cache(maxsize=None)
def _reflected(n: int, device: str) -> Tensor:
    """Indices of a length-n signal padded by 2 on each side, reflected about its edge samples."""
    idx = [abs(i) if i < n else 2 * (n - 1) - i for i in range(-_HALF, n + _HALF)]
    return torch.tensor(idx, device=device)


def _along(x: Tensor, dim: int, start: int, length: int, step: int) -> Tensor:
    index = [slice(None)] * x.ndim
    index[dim] = slice(start, start + length, step)
    return x[tuple(index)]


def _correlate(x: Tensor, dim: int, step: int) -> Tensor:
    """binom5 correlation along ``dim`` with reflect1 edges, keeping outputs 0, step, 2*step, ..."""
    n = x.shape[dim]
    padded = x.index_select(dim, _reflected(n, str(x.device)))
    tap = lambda k: _along(padded, dim, k, n, step)  # noqa: E731
    return _OUTER * (tap(0) + tap(4)) + _INNER * (tap(1) + tap(3)) + _CENTRE * tap(2)


def _down(x: Tensor) -> Tensor:
    return _correlate(_correlate(x, -2, 2), -1, 2)


@lru_cache(maxsize=None)
def _up_index(m: int, last: int, device: str) -> Tensor:
    """``[1, 0..m-1, last]`` on ``device``, built once (a host-to-device copy per call otherwise)."""
    return torch.tensor([1, *range(m), last], device=device)


def _up_axis(y: Tensor, dim: int, n: int) -> Tensor:
    """upConv along ``dim`` to length ``n``: zeros between samples, then the correlation.

    The zeros are not materialised: with z[2j] = y[j] and z[2j+1] = 0 (reflected about
    z's edge samples, which keeps parity), even outputs are outer * (y[j-1] + y[j+1]) +
    centre * y[j] and odd ones inner * (y[j] + y[j+1]).
    """
    m = y.shape[dim]  # (n + 1) // 2
    last = m - 1 if n % 2 == 0 else m - 2  # z[n] reflects to z[n-2]: y[m-1] (n even) or y[m-2] (n odd)
    p = y.index_select(dim, _up_index(m, last, str(y.device)))  # p[j + 1] = y[j]
    even = _OUTER * (_along(p, dim, 0, m, 1) + _along(p, dim, 2, m, 1)) + _CENTRE * _along(p, dim, 1, m, 1)
    odd = _INNER * (_along(p, dim, 1, n // 2, 1) + _along(p, dim, 2, n // 2, 1))
    shape = list(y.shape)
    shape[dim] = n
    out = y.new_empty(shape)
    index = [slice(None)] * y.ndim
    index[dim] = slice(0, n, 2)
    out[tuple(index)] = even
    index[dim] = slice(1, n, 2)
    out[tuple(index)] = odd
    return out


def _up(x: Tensor, height: int, width: int) -> Tensor:
    return _up_axis(_up_axis(x, -2, height), -1, width)


# The two finest bands are cheapest with shifted slices (their pyramid matrices are large and
# almost all zeros); coarser bands, and small images, with a few small matrix products.
_SLICED_LEVELS, _SLICED_MIN_SIZE = 2, 64


def band_reconstruction(x: Tensor, level: int) -> Tensor:
    """pyrtools ``LaplacianPyramid(x_i).recon_pyr(levels=level)`` for every image of ``x [B, H, W]``.

    Level 0 is the finest band, ``pyramid_height(H, W) - 1`` the low-pass residual.
    Computed in ``x``'s dtype on ``x``'s device.
    """
    if x.ndim != 3:
        raise ValueError(f"expected a batch of single-channel images [B, H, W], got {tuple(x.shape)}")
    h, w = x.shape[-2:]
    levels = pyramid_height(h, w)
    if not 0 <= level < levels:
        raise ValueError(f"level {level} is outside 0..{levels - 1} for {h}x{w} images")
    if level >= _SLICED_LEVELS or min(h, w) < _SLICED_MIN_SIZE or levels == 1:
        return _matrix_band(x, level, levels)
    if level == 0:
        return x - _up(_down(x), h, w)
    return _up(band_reconstruction(_down(x), level - 1), h, w)  # down(x)'s pyramid is x's from level 1 on
