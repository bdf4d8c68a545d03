"""Simple stand-ins for the ImageNet-C and ImageNet-C-bar corruptions.

Not the real corruption code (that would need its own dependencies and is far
slower): each name maps to a small degradation of the same family (noise, blur,
weather-like overlays, digital), whose strength rises with the severity, so that
accuracy falls with severity on the synthetic sets. For one image the random
fields are the same at every severity; only the strength changes, which makes the
distance from the clean image grow monotonically.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy import ndimage, signal

# The real names, C-bar parameters and severity folder names live with the dataset readers
# (biasbench.data.corruptions); the stand-ins follow them.
from ..data.corruptions import IMAGENET_C, IMAGENET_CBAR, IMAGENET_CBAR_PARAMS
from .images import rng, smooth_field

Array = np.ndarray
G = np.random.Generator
_Degrade = Callable[[Array, float, G], Array]


def _to_pil(x: Array) -> Image.Image:
    return Image.fromarray((np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8))


def _pil_array(img: Image.Image) -> Array:
    return np.asarray(img, dtype=np.float32) / 255


def _size(x: Array) -> tuple[int, int]:
    return x.shape[1], x.shape[0]


def _per_channel(f: Callable[[Array], Array], x: Array) -> Array:
    return np.stack([f(x[..., c]) for c in range(x.shape[2])], axis=2)


def _disk(radius: float) -> Array:
    r = int(np.ceil(radius))
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    k = (x * x + y * y <= radius * radius).astype(np.float32)
    return k / k.sum()


def _zoom_mean(x: Array, z: float, steps: int = 6) -> Array:
    img = _to_pil(x)
    w, h = img.size
    acc = x.copy()
    for i in range(1, steps + 1):
        f = 1 + z * i / steps
        big = img.resize((round(w * f), round(h * f)), Image.BILINEAR)
        left, top = (big.width - w) // 2, (big.height - h) // 2
        acc += np.asarray(big.crop((left, top, left + w, top + h)), dtype=np.float32) / 255
    return acc / (steps + 1)


def _warp(x: Array, dx: Array, dy: Array) -> Array:
    h, w = x.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    coords = [yy + dy, xx + dx]
    return _per_channel(lambda ch: ndimage.map_coordinates(ch, coords, order=1, mode="reflect"), x)


def _unit_smooth_noise(r: G, shape: tuple[int, int], sigma: float) -> Array:
    n = ndimage.gaussian_filter(r.normal(size=shape).astype(np.float32), sigma, mode="wrap")
    return n / (n.std() + 1e-8)


def _spots(r: G, size: tuple[int, int], n: int, radius: float) -> Array:
    """n soft round spots at fixed random places (the first n of one list, so n nests)."""
    w, h = size
    centres = r.random((64, 2)) * (w, h)
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((h, w), np.float32)
    for cx, cy in centres[:n]:
        out = np.maximum(out, np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius ** 2)))
    return out


def _grey(x: Array) -> Array:
    return (x @ np.asarray([0.299, 0.587, 0.114], np.float32))[..., None]


# ImageNet-C stand-ins: f(x, strength, rng) -> x, x float HxWx3 in [0, 1].

def _impulse(x: Array, s: float, r: G) -> Array:
    u = r.random(x.shape)
    return np.where(u < s / 2, 0.0, np.where(u > 1 - s / 2, 1.0, x))


def _defocus(x: Array, s: float, r: G) -> Array:
    k, p = _disk(s), int(np.ceil(s))
    return _per_channel(lambda ch: signal.fftconvolve(np.pad(ch, p, mode="reflect"), k, mode="valid"), x)


def _glass(x: Array, s: float, r: G) -> Array:
    d = s * (r.random((2,) + x.shape[:2], dtype=np.float32) * 2 - 1)
    return ndimage.gaussian_filter(_warp(x, d[0], d[1]), (0.7, 0.7, 0))


def _motion(x: Array, s: float, r: G) -> Array:
    return ndimage.uniform_filter1d(x, int(s), axis=int(r.integers(0, 2)), mode="reflect")


def _snow(x: Array, s: float, r: G) -> Array:
    flakes = ndimage.uniform_filter1d(r.random(x.shape[:2], dtype=np.float32), 4, axis=0)
    on = (flakes >= np.quantile(flakes, 1 - s))[..., None]
    hazy = (1 - 2 * s) * x + 2 * s * 0.9
    return np.where(on, 0.97, hazy)


def _frost(x: Array, s: float, r: G) -> Array:
    ice = 0.75 + 0.25 * smooth_field(r, _size(x), cells=24)
    return (1 - s) * x + s * ice * np.asarray([0.85, 0.95, 1.0], np.float32)


def _fog(x: Array, s: float, r: G) -> Array:
    return (1 - s) * x + s * (0.55 + 0.4 * smooth_field(r, _size(x), cells=3))


def _contrast(x: Array, s: float, r: G) -> Array:
    m = x.mean()
    return (x - m) * s + m


def _elastic(x: Array, s: float, r: G) -> Array:
    return _warp(x, s * _unit_smooth_noise(r, x.shape[:2], 6), s * _unit_smooth_noise(r, x.shape[:2], 6))


def _pixelate(x: Array, s: float, r: G) -> Array:
    img = _to_pil(x)
    small = img.resize((round(img.width * s), round(img.height * s)), Image.BOX)
    return _pil_array(small.resize(img.size, Image.NEAREST))


def _jpeg(x: Array, s: float, r: G) -> Array:
    buf = io.BytesIO()
    _to_pil(x).save(buf, "JPEG", quality=int(s))
    return _pil_array(Image.open(buf))


def _spatter(x: Array, s: float, r: G) -> Array:
    f = _unit_smooth_noise(r, x.shape[:2], 3)
    mud = np.asarray([0.2, 0.16, 0.12], np.float32)
    return np.where((f >= np.quantile(f, 1 - s))[..., None], 0.85 * mud + 0.15 * x, x)


def _saturate(x: Array, s: float, r: G) -> Array:
    g = _grey(x)
    return g + s * (x - g)


# name -> (strength at severity 1..5, degradation)
_C: dict[str, tuple[tuple[float, ...], _Degrade]] = {
    "gaussian_noise": ((0.08, 0.12, 0.18, 0.26, 0.38), lambda x, s, r: x + s * r.normal(size=x.shape)),
    "shot_noise": ((0.1, 0.16, 0.24, 0.34, 0.46), lambda x, s, r: x + s * np.sqrt(x + 0.02) * r.normal(size=x.shape)),
    "impulse_noise": ((0.03, 0.06, 0.09, 0.17, 0.27), _impulse),
    "defocus_blur": ((2, 3, 4.5, 6, 8), _defocus),
    "glass_blur": ((1, 2, 3, 4, 6), _glass),
    "motion_blur": ((5, 9, 15, 21, 29), _motion),
    "zoom_blur": ((0.06, 0.11, 0.16, 0.21, 0.26), lambda x, s, r: _zoom_mean(x, s)),
    "snow": ((0.02, 0.04, 0.07, 0.1, 0.14), _snow),
    "frost": ((0.2, 0.3, 0.4, 0.5, 0.6), _frost),
    "fog": ((0.15, 0.3, 0.45, 0.6, 0.75), _fog),
    "brightness": ((0.08, 0.16, 0.24, 0.32, 0.4), lambda x, s, r: x + s),
    "contrast": ((0.4, 0.3, 0.2, 0.1, 0.05), _contrast),
    "elastic_transform": ((1.5, 3, 4.5, 6, 8), _elastic),
    "pixelate": ((0.6, 0.5, 0.4, 0.3, 0.25), _pixelate),
    "jpeg_compression": ((25, 18, 15, 10, 7), _jpeg),
    "speckle_noise": ((0.15, 0.2, 0.35, 0.45, 0.6), lambda x, s, r: x + x * s * r.normal(size=x.shape)),
    "gaussian_blur": ((1, 2, 3, 4, 6), lambda x, s, r: ndimage.gaussian_filter(x, (s, s, 0), mode="reflect")),
    "spatter": ((0.04, 0.08, 0.12, 0.17, 0.22), _spatter),
    "saturate": ((2, 3, 5, 8, 12), _saturate),
}


# ImageNet-C-bar stand-ins: strength = the real severity parameter (see IMAGENET_CBAR_PARAMS).

def _blue_noise(x: Array, p: float, r: G) -> Array:
    n = r.normal(size=x.shape).astype(np.float32)
    high = n - ndimage.gaussian_filter(n, (1.5, 1.5, 0))
    return x + 0.05 * p * high / (high.std() + 1e-8)


def _brownish_noise(x: Array, p: float, r: G) -> Array:
    n = ndimage.gaussian_filter(r.normal(size=x.shape).astype(np.float32), (6, 6, 0), mode="wrap")
    return x + 0.05 * p * n / (n.std() + 1e-8)


def _caustic(x: Array, p: float, r: G) -> Array:
    dx, dy = _unit_smooth_noise(r, x.shape[:2], 10), _unit_smooth_noise(r, x.shape[:2], 10)
    light = np.abs(np.sin(3 * (dx + dy)))[..., None]
    return _warp(x, p * dx, p * dy) * (1 - 0.03 * p) + 0.03 * p * light


def _checkerboard(x: Array, p: float, r: G) -> Array:
    h, w = x.shape[:2]
    period = 32
    off = r.integers(0, period, 2)
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = (yy + off[0]) % period, (xx + off[1]) % period
    cell = ((yy + off[0]) // period + (xx + off[1]) // period) % 2 == 0
    half = period * p / 14
    hole = cell & (np.abs(cy - period / 2) < half) & (np.abs(cx - period / 2) < half)
    return np.where(hole[..., None], 0.5, x)


def _concentric(x: Array, p: float, r: G) -> Array:
    h, w = x.shape[:2]
    cy, cx = r.random(2) * (h, w)
    yy, xx = np.mgrid[0:h, 0:w]
    waves = np.sin(np.hypot(yy - cy, xx - cx) / r.uniform(2, 4) + r.uniform(0, 2 * np.pi))
    return x + 0.025 * p * waves[..., None]


def _inverse_sparkles(x: Array, p: float, r: G) -> Array:
    light = _spots(r, _size(x), 12, 14)[..., None]
    return x * (1 - 0.07 * p * (1 - light))


def _perlin(x: Array, p: float, r: G) -> Array:
    n = sum(smooth_field(r, _size(x), cells=c) / (i + 1) for i, c in enumerate((4, 8, 16, 32)))
    n = (n - n.mean()) / (n.std() + 1e-8)
    return x + 0.025 * p * n


def _plasma(x: Array, p: float, r: G) -> Array:
    a = 0.06 * p
    return (1 - a) * x + a * smooth_field(r, _size(x), cells=6, channels=3)


def _single_frequency(x: Array, p: float, r: G) -> Array:
    h, w = x.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    th, f = r.uniform(0, np.pi), r.uniform(0.05, 0.3)
    return x + 0.06 * p * np.sin(f * (xx * np.cos(th) + yy * np.sin(th)))[..., None]


def _sparkles(x: Array, p: float, r: G) -> Array:
    return np.maximum(x, _spots(r, _size(x), int(round(8 * p)), 5.0)[..., None])


_CBAR: dict[str, _Degrade] = {
    "blue_noise_sample": _blue_noise,
    "brownish_noise": _brownish_noise,
    "caustic_refraction": _caustic,
    "checkerboard_cutout": _checkerboard,
    "cocentric_sine_waves": _concentric,
    "inverse_sparkles": _inverse_sparkles,
    "perlin_noise": _perlin,
    "plasma_noise": _plasma,
    "single_frequency_greyscale": _single_frequency,
    "sparkles": _sparkles,
}
assert tuple(_C) == IMAGENET_C and tuple(_CBAR) == IMAGENET_CBAR
_ALL = IMAGENET_C + IMAGENET_CBAR


def corrupt(image: Image.Image, corruption: str, severity: int, key: tuple[int, ...] = (0,)) -> Image.Image:
    """``image`` degraded by the stand-in for ImageNet-C or C-bar ``corruption`` at ``severity`` 1..5.

    ``key`` seeds the random fields (noise, flakes, warps); with the same key every
    severity uses the same fields, so the change from the clean image grows with it.
    """
    if not 1 <= int(severity) <= 5:
        raise ValueError(f"severity {severity} is not in 1..5")
    if corruption in _C:
        strength, f = _C[corruption][0][severity - 1], _C[corruption][1]
    elif corruption in _CBAR:
        strength, f = IMAGENET_CBAR_PARAMS[corruption][severity - 1], _CBAR[corruption]
    else:
        raise ValueError(f"unknown corruption {corruption!r}; expected one of "
                         f"{', '.join(_ALL)}")
    x = _pil_array(image.convert("RGB"))
    return _to_pil(f(x, strength, rng(*key, _ALL.index(corruption))))
