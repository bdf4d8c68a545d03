"""Batched Laplacian-pyramid band reconstruction, equal to pyrtools' ``LaplacianPyramid`` defaults.

pyrtools (binom5 filter ``sqrt(2) * [1, 4, 6, 4, 1] / 16``, ``reflect1`` edges,
automatic height) builds the pyramid with separable ``corrDn`` (correlate, keep
every 2nd sample) and reconstructs with separable ``upConv`` (zero-insert, correlate).
Along one axis of length n both are slices of one matrix: ``C_n``, correlation
with the filter under reflect-about-the-edge-sample padding, gives
``down = C_n[::2, :]`` and ``up = C_n[:, ::2]``. So every operation is a small
matrix product, which batches on any device:

    G_0 = X,  G_{l+1} = D_l G_l D_l^T                  (Gaussian levels)
    band_l = G_l - U_l G_{l+1} U_l^T  (top level: G_top) (Laplacian bands)
    recon_pyr(levels=l) = V_l band_l V_l^T,  V_l = U_0 U_1 ... U_{l-1}

``G_l = A_l X A_l^T`` with ``A_l = D_{l-1} ... D_0``; ``A_l`` and ``V_l`` are
precomputed per image size. tests/test_criticalband_transform.py checks the
result against pyrtools itself.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

# pyrtools' named filter 'binom5' (normalised to sum sqrt(2)); 1-D and symmetric.
BINOM5 = np.sqrt(2.0) * np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


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
    a_h, v_h, d_h, u_h, a_w, v_w, d_w, u_w = _factors(h, w, level, levels, x.device, x.dtype)
    g = x if level == 0 else a_h @ x @ a_w.mT
    if level < levels - 1:
        g = g - u_h @ (d_h @ g @ d_w.mT) @ u_w.mT
    return g if level == 0 else v_h @ g @ v_w.mT
