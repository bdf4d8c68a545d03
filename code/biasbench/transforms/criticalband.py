"""Critical-band masking noise (docs/benchmarks.md "Bias measurements"; Subramanian et al., NeurIPS 2023), on
whole batches, any device.

Per image: PIL-"L" greyscale, scaled to [0, 1], mean removed, contrast 0.2,
shifted to 0.449. White noise N(0, sd^2) is filtered to one octave band by
keeping a single Laplacian-pyramid level (pyrtools defaults; band f uses level
6 - f, so f = 0 is the coarsest) and rescaled to the RMS of the finest level.
Out-of-range pixels follow the reference rule (see ``fix_out_of_range``). The
grey result is replicated to 3 channels.

Randomness is per image and condition: the noise of image ``i`` is a pure function
of (seed, band, sd, i), drawn by the counter-based generator of ``biasbench.rng``
on the images' device, so a result does not depend on batch size, order, worker
count or device (docs/devices.md).
Arithmetic is float64, as in the NumPy reference (``dtype="float32"`` or ``"auto"`` for GPUs with
slow float64, deviation measured by bench/bench_criticalband_float32.py); the output is float32.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import rng
from ..errors import ConfigError
from .laplacian import band_reconstruction, pyramid_height

# The grid (docs/benchmarks.md "Bias measurements"), read by metrics/criticalband.py and the benchmark too.
BANDS: tuple[int, ...] = tuple(range(7))
SDS: tuple[float, ...] = (0.02, 0.04, 0.08, 0.16)
LOWEST_CENTRE = 1.75  # cycles/image at the coarsest band; each band is an octave above the last
CONTRAST = 0.2
GREY_MEAN = 0.449
EPSILON = 0.1  # an out-of-range pixel is moved this far inside [0, 1]
N_BANDS = len(BANDS)
CPU_CHUNK = 4  # images per step on the CPU


def centre_frequency(band: int) -> float:
    """Centre frequency of ``band`` in cycles per image (224 px): 1.75 * 2**band."""
    return LOWEST_CENTRE * 2.0 ** band


def pil_greyscale(images: Tensor) -> Tensor:
    """PIL ``convert('L')`` of RGB batches: uint8 or [0, 1] floats ``[B, 3, H, W]`` -> int32 ``[B, H, W]``.

    Float input must be uint8 / 255 (what ``ToTensor`` makes of a decoded image);
    the integer formula is PIL's: ``(R*19595 + G*38470 + B*7471 + 0x8000) >> 16``.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ConfigError(f"critical-band noise expects RGB batches [B, 3, H, W]; got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        u8 = images.to(torch.int32)
    elif images.is_floating_point():
        x = images.float()
        scaled = x * 255.0
        u8f = scaled.round()
        lo, hi, off = torch.stack([x.amin(), x.amax(), (scaled - u8f).abs().amax()]).tolist()
        if lo < 0.0 or hi > 1.0 or off > 1e-3:
            raise ConfigError(
                "critical-band noise expects decoded images as uint8 or uint8/255 floats in [0, 1] "
                f"(no normalisation, no resampling after ToTensor); got values in [{lo:.4g}, {hi:.4g}], "
                f"up to {off:.3g} of a grey level off the uint8 grid")
        u8 = u8f.to(torch.int32)
    else:
        raise ConfigError(f"critical-band noise expects uint8 or float images; got {images.dtype}")
    r, g, b = u8.unbind(1)
    return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16


def low_contrast_grey(images: Tensor, dtype: torch.dtype = torch.float64) -> Tensor:
    """The noise-free stimulus ``[B, H, W]`` (float64 unless ``dtype``): (L/255 - mean) * 0.2 + 0.449 per image."""
    grey = pil_greyscale(images).to(dtype) / 255.0
    return (grey - grey.mean(dim=(-2, -1), keepdim=True)) * CONTRAST + GREY_MEAN


def _rms(x: Tensor) -> Tensor:
    return x.square().mean(dim=(-2, -1), keepdim=True).sqrt()


def band_noise(noise: Tensor, band: int) -> Tensor:
    """White noise ``[B, H, W]`` filtered to ``band`` (level 6 - band), at the RMS of level 0."""
    recon = band_reconstruction(noise, N_BANDS - 1 - band)
    finest = band_reconstruction(noise, 0)
    return recon * _rms(finest) / _rms(recon)


def fix_out_of_range(image: Tensor, noise: Tensor, sd: float, redraw_noise=None) -> Tensor:
    """``image + noise`` with the reference out-of-range rule; float64 ``[B, H, W]``.

    A pixel with image + noise < 0 gets image := 0.1 - noise (so it ends at 0.1);
    one above 1 gets image := 0.9 - noise. If that new image value is itself
    outside [0, 1], the image pixel is kept and its noise is redrawn from
    N(0, sd^2) until image + noise lies in [0, 1]: attempt ``k`` (1, 2, ...) of
    pixel ``p`` (row-major) of batch row ``b`` takes ``redraw_noise(b, p, k)``
    (tensors of rows and pixels, one attempt number). With the suite's contrast
    and SDs the redraw needs |noise| > 0.9 and practically never runs.
    """
    noisy = image + noise
    low, high = noisy < 0.0, noisy > 1.0
    out_of_range = low | high
    if not bool(out_of_range.any()):
        return noisy
    shifted = torch.where(low, EPSILON - noise, (1.0 - EPSILON) - noise)
    redraw = out_of_range & ((shifted < 0.0) | (shifted > 1.0))
    image = torch.where(out_of_range & ~redraw, shifted, image)
    if bool(redraw.any()):
        noise = noise.clone().flatten(1)
        base = image.flatten(1)
        rows, pixels = redraw.flatten(1).nonzero(as_tuple=True)
        attempt = 0
        while rows.numel():
            attempt += 1
            value = redraw_noise(rows, pixels, attempt)
            ok = (base[rows, pixels] + value >= 0.0) & (base[rows, pixels] + value <= 1.0)
            noise[rows[ok], pixels[ok]] = value[ok]
            rows, pixels = rows[~ok], pixels[~ok]
        noise = noise.view_as(image)
    return image + noise


# Arithmetic of the stimulus: float64 as the reference; float32; or "auto": float32 on GPUs whose
# float64 rate is a small fraction of float32's (consumer and inference cards: L4, A10, RTX), float64
# elsewhere. float32's deviation is measured by bench/bench_criticalband_float32.py (docs/devices.md).
DTYPES = ("float64", "float32", "auto")
# Compute capabilities with full-rate float64 (P100, V100, A100, H100/H200).
_FULL_FP64 = {(6, 0), (7, 0), (8, 0), (9, 0)}


def arithmetic_dtype(choice: str, device: torch.device) -> torch.dtype:
    """The dtype the stimulus of a batch on ``device`` is computed in, for ``choice`` in DTYPES."""
    if choice == "auto":
        slow_fp64 = device.type == "cuda" and torch.cuda.get_device_capability(device) not in _FULL_FP64
        return torch.float32 if slow_fp64 else torch.float64
    return torch.float32 if choice == "float32" else torch.float64


class CriticalBandNoise:
    """Batch transform for one grid cell: ``CriticalBandNoise(band, sd)(images, indices)``.

    ``band`` in 0..6 (0 = coarsest, centre 1.75 * 2**band cycles/image) and
    ``sd`` > 0; ``band=None`` with ``sd=0`` is the noise-free run (``sd=0``
    ignores the band). ``images``: ``[B, 3, H, W]`` uint8 or uint8/255 floats;
    ``indices``: the images' dataset indices, which select their noise.
    Returns float32 ``[B, 3, H, W]`` on the images' device.
    """

    def __init__(self, band: int | None, sd: float, seed: int = 0, dtype: str = "float64") -> None:
        sd = float(sd)
        if not math.isfinite(sd) or sd < 0.0:
            raise ConfigError(f"critical-band noise SD {sd!r} must be >= 0 (the grid uses 0 and {SDS})")
        if band is None:
            if sd != 0.0:
                raise ConfigError(f"critical-band band=None means the noise-free run, but sd={sd}; "
                                  f"give a band in {BANDS[0]}..{BANDS[-1]} or sd=0")
        elif isinstance(band, bool) or not isinstance(band, int) or band not in BANDS:
            raise ConfigError(f"critical-band band {band!r} is not one of {BANDS}")
        if dtype not in DTYPES:
            raise ConfigError(f"critical-band arithmetic {dtype!r}: expected one of {', '.join(DTYPES)}")
        self.band = band if sd > 0.0 else None
        self.sd = sd
        self.seed = int(seed)
        self.dtype = dtype

    def noise_key(self) -> int:
        """The 64-bit key of this condition's stream in ``biasbench.rng``."""
        return rng.stream_key(f"criticalband|seed={self.seed}|band={self.band}|sd={self.sd!r}")

    def white_noise(self, indices: Tensor, h: int, w: int, device: torch.device | str = "cpu") -> Tensor:
        """The white noise N(0, sd^2) of images ``indices``: float64 ``[B, H, W]`` (draw round 0)."""
        return rng.normal(self.noise_key(), indices, h * w, device=device).view(-1, h, w).mul_(self.sd)

    def redraw_noise(self, indices: Tensor, pixels: Tensor, attempt: int) -> Tensor:
        """Attempt ``attempt`` >= 1 at redrawing the noise of pixel ``pixels[k]`` (row-major) of
        image ``indices[k]``: N(0, sd^2) values from draw round ``attempt``."""
        return rng.normal_at(self.noise_key(), indices, pixels, draw=attempt) * self.sd

    def __call__(self, images: Tensor, indices: Tensor) -> Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ConfigError(f"critical-band noise expects RGB batches [B, 3, H, W]; got {tuple(images.shape)}")
        b, _, h, w = images.shape
        indices = torch.as_tensor(indices).reshape(-1).to(images.device, torch.long, non_blocking=True)
        if self.sd > 0.0:
            if pyramid_height(h, w) < N_BANDS:
                raise ConfigError(f"critical-band noise needs images of at least 160x160 px for its "
                                  f"{N_BANDS} pyramid levels; got {h}x{w}")
            if indices.numel() != b:
                raise ConfigError(f"critical-band noise got {indices.numel()} indices for {b} images")
        dtype = arithmetic_dtype(self.dtype, images.device)
        out = torch.empty(b, 3, h, w, dtype=torch.float32, device=images.device)
        # On the CPU a few images at a time: the float64 temporaries of a whole batch
        # would leave the caches (and cost page faults); GPUs take the whole batch.
        k = CPU_CHUNK if images.device.type == "cpu" else max(b, 1)
        for i in range(0, b, k):
            out[i:i + k] = self._stimulus(images[i:i + k], indices[i:i + k], dtype).unsqueeze(1)
        return out

    def _stimulus(self, images: Tensor, indices: Tensor, dtype: torch.dtype) -> Tensor:
        """The grey result ``[B, H, W]`` of a few images, computed in ``dtype``."""
        image = low_contrast_grey(images, dtype)
        if self.sd == 0.0:
            return image
        _, h, w = image.shape
        noise = self.white_noise(indices, h, w, image.device).to(dtype)
        return fix_out_of_range(image, band_noise(noise, self.band), self.sd,
                                lambda rows, pixels, k: self.redraw_noise(indices[rows], pixels, k).to(dtype))

    def __repr__(self) -> str:
        return f"CriticalBandNoise(band={self.band}, sd={self.sd}, seed={self.seed}, dtype={self.dtype!r})"
