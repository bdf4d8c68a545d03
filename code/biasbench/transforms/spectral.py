"""Square low-/high-pass filter in the centred 2-D Fourier spectrum (SPEC §1 'Spectral filter').

Per image and channel: FFT, ``fftshift`` (DC at index H//2), a square centred
on DC with half-width ``r = int(c_eff * (H//2))`` covering ``[H//2 - r, H//2 + r)``
(same along W). Low-pass keeps the square with ``c_eff = c``; high-pass zeroes it
with ``c_eff = 1 - c``. Inverse FFT, real part, clip to [0, 1]. So ``c`` is the
share of the spectrum that is kept.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import ConfigError

#: The paper's cut-offs (the reference script's ``[0.01, *np.arange(0.1, 0.99, 0.1), 0.99]``;
#: both spellings give the same integer radii for 224 px).
CUTOFFS: tuple[float, ...] = (0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99)
#: Cut-offs averaged into the low-/high-pass preference LPP / HPP.
PREFERENCE_CUTOFFS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)


def _check_cutoff(cutoff: float) -> float:
    c = float(cutoff)
    if not 0.0 < c < 1.0:
        raise ConfigError(f"spectral cut-off {cutoff!r} is outside (0, 1); expected e.g. one of {CUTOFFS}")
    return c


def square_radii(height: int, width: int, cutoff: float, lowpass: bool) -> tuple[int, int]:
    """Half-widths (rows, columns) of the square around DC for ``cutoff``."""
    c = _check_cutoff(cutoff)
    c_eff = c if lowpass else 1.0 - c
    return int(c_eff * (height // 2)), int(c_eff * (width // 2))


def bandpass(images: Tensor, cutoff: float, lowpass: bool) -> Tensor:
    """Low-pass (``lowpass=True``) or high-pass filter a batch ``[B, C, H, W]`` in [0, 1].

    Returns a tensor of the same shape, dtype and device, clipped to [0, 1].
    """
    if images.ndim != 4 or not images.is_floating_point():
        raise ConfigError(f"bandpass expects a float image batch [B, C, H, W]; got {tuple(images.shape)} "
                          f"{images.dtype}")
    h, w = images.shape[-2:]
    ry, rx = square_radii(h, w, cutoff, lowpass)
    cy, cx = h // 2, w // 2
    inside = torch.zeros(h, w, dtype=torch.bool, device=images.device)
    inside[cy - ry:cy + ry, cx - rx:cx + rx] = True
    keep = inside if lowpass else ~inside
    # ifftshift(fftshift(F) * M) == F * ifftshift(M): same numbers, two copies fewer.
    keep = torch.fft.ifftshift(keep, dim=(-2, -1))
    out = torch.fft.ifft2(torch.fft.fft2(images) * keep).real
    return out.clamp_(0.0, 1.0).to(images.dtype)


class Bandpass:
    """``bandpass`` as a batch transform: ``Bandpass(0.3, lowpass=True)(images, indices)``.

    ``indices`` (the images' dataset indices) is accepted for a uniform transform
    interface and unused: the filter is deterministic.
    """

    def __init__(self, cutoff: float, lowpass: bool) -> None:
        self.cutoff = _check_cutoff(cutoff)
        self.lowpass = bool(lowpass)

    def __call__(self, images: Tensor, indices: Tensor | None = None) -> Tensor:
        return bandpass(images, self.cutoff, self.lowpass)

    def __repr__(self) -> str:
        return f"Bandpass(cutoff={self.cutoff}, lowpass={self.lowpass})"
