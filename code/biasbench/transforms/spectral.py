"""Square low-/high-pass filter in the centred 2-D Fourier spectrum (docs/benchmarks.md "Bias measurements";
Gavrikov & Keuper, CVPR 2024).

Per image and channel: FFT, ``fftshift`` (DC at index H//2), a square centred
on DC with half-width ``r = int(c_eff * (H//2))`` covering ``[H//2 - r, H//2 + r)``
(same along W). Low-pass keeps the square with ``c_eff = c``; high-pass zeroes it
with ``c_eff = 1 - c``. Inverse FFT, real part, clip to [0, 1]. So ``c`` is the
share of the spectrum that is kept.
"""

from __future__ import annotations

from functools import lru_cache

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


# On the CPU, batches are filtered a few images at a time: a whole batch's complex spectra
# do not fit in the caches, and the big temporaries it needs cost more in page faults than
# the FFTs themselves. GPUs take the whole batch at once.
CPU_CHUNK = 4


@lru_cache(maxsize=64)
def _half_mask(height: int, width: int, ry: int, rx: int, device: str, dtype: torch.dtype) -> Tensor:
    """The square's mask on the real FFT's half spectrum, symmetrised.

    The square ``[-r, r)`` is not symmetric about DC, so the filtered spectrum is not
    Hermitian and the reference takes the real part of a complex inverse FFT. That real
    part equals the inverse FFT of the spectrum times ``(M(k) + M(-k)) / 2``, which is
    Hermitian: so ``irfft2`` of the half spectrum gives the same image at half the cost.
    """
    inside = torch.zeros(height, width, dtype=torch.float64)
    cy, cx = height // 2, width // 2
    inside[cy - ry:cy + ry, cx - rx:cx + rx] = 1.0
    m = torch.fft.ifftshift(inside, dim=(-2, -1))  # DC at index 0, as the FFT has it
    neg_h, neg_w = (-torch.arange(height)) % height, (-torch.arange(width)) % width
    sym = (m + m[neg_h][:, neg_w]) / 2
    return sym[:, : min(rx + 1, width // 2 + 1)].to(device=device, dtype=dtype)


def _lowpass_raw(spectrum: Tensor, height: int, width: int, ry: int, rx: int) -> Tensor:
    """Unclipped low-pass from the half spectrum ``rfft2(x)``: only the columns 0..rx inside
    the square are non-zero, so the inverse along the rows runs on those columns alone."""
    mask = _half_mask(height, width, ry, rx, str(spectrum.device), spectrum.real.dtype)
    rows = torch.fft.ifft(spectrum[..., : mask.shape[-1]] * mask, dim=-2)
    return torch.fft.irfft(rows, n=width, dim=-1)


def _chunk(images: Tensor) -> int:
    return CPU_CHUNK if images.device.type == "cpu" else max(len(images), 1)


def half_spectrum(images: Tensor) -> Tensor:
    """``rfft2`` of a batch ``[B, C, H, W]``: what every cut-off's filter starts from, so the runner
    computes it once per batch for all of them (``Bandpass.shared_step``)."""
    real = images if images.dtype in (torch.float32, torch.float64) else images.float()
    k = _chunk(images)
    return torch.cat([torch.fft.rfft2(real[i:i + k]) for i in range(0, len(images), k)])


def bandpass(images: Tensor, cutoff: float, lowpass: bool, spectrum: Tensor | None = None) -> Tensor:
    """Low-pass (``lowpass=True``) or high-pass filter a batch ``[B, C, H, W]`` in [0, 1].

    Returns a tensor of the same shape, dtype and device, clipped to [0, 1]. Equal to the per-image
    complex FFT of the definition (docs/benchmarks.md "Bias measurements") up to floating-point rounding (float32: ~1e-6).
    ``spectrum``: ``half_spectrum(images)`` when the caller already has it (computed here otherwise).
    """
    if images.ndim != 4 or not images.is_floating_point():
        raise ConfigError(f"bandpass expects a float image batch [B, C, H, W]; got {tuple(images.shape)} "
                          f"{images.dtype}")
    h, w = images.shape[-2:]
    # High-pass zeroes the square of c_eff = 1 - c: the image minus the low-pass that keeps it.
    ry, rx = square_radii(h, w, cutoff, lowpass)
    if spectrum is None:
        spectrum = half_spectrum(images)
    elif spectrum.shape != (*images.shape[:-1], w // 2 + 1):
        raise ConfigError(f"bandpass: spectrum of shape {tuple(spectrum.shape)} does not belong to images of shape "
                          f"{tuple(images.shape)} (expected half_spectrum(images))")
    out = torch.empty_like(images)
    k = _chunk(images)
    for i in range(0, len(images), k):
        low = _lowpass_raw(spectrum[i:i + k], h, w, ry, rx)
        part = low if lowpass else images[i:i + k] - low
        out[i:i + k] = part.clamp_(0.0, 1.0)
    return out


class Bandpass:
    """``bandpass`` as a batch transform: ``Bandpass(0.3, lowpass=True)(images, indices)``.

    ``indices`` (the images' dataset indices) is accepted for a uniform transform
    interface and unused: the filter is deterministic. ``shared_step`` is the first step
    every cut-off has in common: the runner computes ``shared_step(images)`` once per batch
    and passes it to each filter as ``spectrum`` (22 filters, one forward FFT).
    """

    shared_step = staticmethod(half_spectrum)

    def __init__(self, cutoff: float, lowpass: bool) -> None:
        self.cutoff = _check_cutoff(cutoff)
        self.lowpass = bool(lowpass)

    def __call__(self, images: Tensor, indices: Tensor | None = None, spectrum: Tensor | None = None) -> Tensor:
        return bandpass(images, self.cutoff, self.lowpass, spectrum)

    def __repr__(self) -> str:
        return f"Bandpass(cutoff={self.cutoff}, lowpass={self.lowpass})"


def lowpass_unclipped(images: Tensor, cutoff: float) -> Tensor:
    """The low-pass of ``bandpass(images, cutoff, lowpass=True)`` before its clip to [0, 1].

    ``images - lowpass_unclipped(images, c)`` is then the high-pass of ``bandpass(images, 1 - c,
    lowpass=False)`` before its clip (the same square, zeroed): the two bands of a hybrid image
    (biasbench.prepare.freq_cue_conflict) with the spectral benchmark's own frequency definitions.
    """
    if images.ndim != 4 or not images.is_floating_point():
        raise ConfigError(f"lowpass_unclipped expects a float image batch [B, C, H, W]; got {tuple(images.shape)}")
    h, w = images.shape[-2:]
    ry, rx = square_radii(h, w, cutoff, lowpass=True)
    return _lowpass_raw(half_spectrum(images), h, w, ry, rx).to(images.dtype)
