"""The ten ImageNet-C-bar corruptions (Mintun et al. 2021, "On Interaction Between Augmentations
and Corruptions in Natural Corruption Robustness", NeurIPS), written from the paper's definitions
and the parameters of its release (``IMAGENET_CBAR_PARAMS``), vectorised with numpy.

Each function takes a square ``H x W x 3`` uint8 image, the corruption's parameter value ``p``
(``2.35``, ``10.0`` ...: the published "severity", which scales a maximum as ``p * max / 10``) and a
``numpy.random.RandomState``; it draws its random parameters from that state in the same order
as the release and returns a uint8 image of the same shape. Pixel coordinates are (row y,
column x), as in the release. docs/datasets.md ("ImageNet-C-bar, generated from ImageNet val")
says, per corruption, how the output compares with the release's under the same draws.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import fft, ndimage

Array = np.ndarray
RS = np.random.RandomState
LUMA = np.array([0.2126, 0.7152, 0.0722])


def _scaled(p: float, maxval: float) -> float:
    return float(p) * maxval / 10.0


def _finish(x: Array) -> Array:
    return np.clip(x, 0, 255).astype(np.uint8)


def _grid(n: int) -> tuple[Array, Array]:
    """Row and column coordinates (y, x) of an n x n image, as float arrays."""
    y, x = np.mgrid[0:n, 0:n]
    return y.astype(np.float64), x.astype(np.float64)


def _size(image: Array) -> int:
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] != image.shape[1]:
        raise ValueError(f"expected a square H x W x 3 image, got shape {image.shape}")
    return image.shape[0]


# --- noise fields with a chosen power spectrum ----------------------------------------------

def spectral_noise(n: int, rs: RS, amplitude: Callable[[Array], Array]) -> Array:
    """Unit-variance real noise whose Fourier amplitude at distance r from the spectrum's centre is
    ``amplitude(r)``, with uniform random phases mirrored so the field is (almost) real."""
    y, x = _grid(n)
    r = np.hypot(x - n / 2, y - n / 2)
    phases = rs.uniform(low=0, high=2 * np.pi, size=(n, n // 2))
    if n % 2 == 0:
        phases = np.concatenate((phases, phases[::-1, ::-1]), axis=1)
    else:
        mid = rs.uniform(low=0, high=2 * np.pi, size=(n // 2, 1))
        mid = np.concatenate((mid, np.zeros((1, 1)), mid[::-1]), axis=0)
        phases = np.concatenate((phases, mid, phases[::-1, ::-1]), axis=1)
    spectrum = amplitude(r) * np.exp(1j * phases)
    spectrum = np.roll(spectrum, (n // 2, n // 2), axis=(0, 1))  # centre -> frequency 0
    noise = np.real(fft.ifft2(spectrum))
    return noise / np.std(noise)


def blue_noise_sample(image: Array, p: float, rs: RS) -> Array:
    """Keep only the pixels where a blue-noise field (amplitude ~ frequency) exceeds a threshold."""
    n = _size(image)
    rs_noise = RS(rs.randint(low=0, high=2**32))
    threshold = _scaled(p, 3.0) - 2.5
    mask = spectral_noise(n, rs_noise, lambda r: r) > threshold
    return _finish(image * mask[..., None])


def brownish_noise(image: Array, p: float, rs: RS) -> Array:
    """Add per-channel noise with amplitude 1 / (f^2 + 1): mostly low frequencies."""
    n = _size(image)
    rs_noise = RS(rs.randint(low=0, high=2**32))
    intensity = _scaled(p, 64)
    noise = np.stack([spectral_noise(n, rs_noise, lambda r: 1 / (r**2 + 1)) for _ in range(3)], axis=2)
    return _finish(image + intensity * noise)


# --- periodic patterns --------------------------------------------------------------------

def single_frequency_greyscale(image: Array, p: float, rs: RS) -> Array:
    """Add one grey sinusoidal grating sin(x f0 + y f1 + phase), frequencies in radians per pixel."""
    n = _size(image)
    mag = rs.uniform(low=-np.pi, high=np.pi)
    other = rs.uniform(low=-abs(mag), high=abs(mag))
    freq = np.array([mag, other])[rs.permutation(2)]
    phase = rs.uniform(low=0, high=2 * np.pi)
    intensity = _scaled(p, 196)
    y, x = _grid(n)
    noise = np.sin(x * freq[0] + y * freq[1] + phase)
    return _finish(image + intensity * noise[..., None])


def cocentric_sine_waves(image: Array, p: float, rs: RS) -> Array:
    """Add a sawtooth of the distance from a random centre (rings), wobbled by a sine of the angle."""
    n = _size(image)
    offset = rs.uniform(low=0, high=n, size=2)
    freq = rs.uniform(low=0, high=10)
    amplitude = rs.uniform(low=0, high=n / 10)
    ring_width = rs.uniform(low=0, high=n / 10)
    intensity = np.array([_scaled(p, 128)] * 3)
    y, x = _grid(n)
    dx, dy = x - offset[0], y - offset[1]
    angle = np.arctan2(dx, dy) * freq
    ring = ((np.hypot(dx, dy) + np.sin(angle) * amplitude) % ring_width) / ring_width - 0.5
    return _finish(image + ring[..., None] * intensity)


def plasma_noise(image: Array, p: float, rs: RS) -> Array:
    """Blend toward a colour "plasma": coordinates pushed through iterated sines (a domain warp)."""
    n = _size(image)
    time = rs.uniform(low=0.0, high=6 * np.pi)
    iterations = rs.randint(low=4, high=7)
    sharpness = rs.uniform(low=0.5, high=1.0)
    scale = rs.uniform(low=0.075, high=0.2) * n
    intensity = _scaled(p, 64)
    y, x = _grid(n)
    x, y = x / scale, y / scale
    a, b, c, d = 1.0, 1.0, 1.0, 0.0
    for _ in range(iterations):
        r0 = np.cos(y * a - d + time / b) / c
        r1 = np.sin(x * a - d + time / b) / c
        x, y = x + r0 - 0.3 * r1, y + r1 + 0.3 * r0
        a, b, c, d = a * 1.93, b * 1.15, c * (2.25 - sharpness), d * time * b
    plasma = np.stack((np.sin(x - time), np.sin((x + y + np.sin(time)) * 0.5), np.sin(y + time)), axis=2)
    return _finish((1 - intensity / 255) * image + intensity * plasma)


# --- masks --------------------------------------------------------------------------------

def checkerboard_cutout(image: Array, p: float, rs: RS) -> Array:
    """Grey out (128) a random fraction p/10 of the dark squares of a rotated checkerboard."""
    n = _size(image)
    angle = rs.uniform(low=0, high=2 * np.pi)
    s = max(rs.uniform(low=0.1, high=0.25) * n, 1)
    fraction = _scaled(p, 1.0)
    rs_grid = RS(rs.randint(low=0, high=2**32))
    cells = int(4 * n // s)
    grid = rs_grid.uniform(size=(cells, cells)) < fraction
    y, x = _grid(n)
    u = (np.cos(angle) * y + np.sin(angle) * x) / s
    v = (-np.sin(angle) * y + np.cos(angle) * x) / s
    dark = np.floor(u % 2) == np.floor(v % 2)
    # Cell index truncates toward zero; negative indices wrap around the grid as in the release.
    cut = dark & grid[np.trunc(u).astype(int), np.trunc(v).astype(int)]
    out = image.copy()
    out[cut] = 128
    return out


def _star(shape: tuple[int, int], center: Array, ray_lengths: Array, exponent: float) -> Array:
    """Per-pixel weight in [0, 1] of a star of rays around ``center`` (row, column)."""
    y, x = _grid(shape[0])
    dy, dx = y - center[0], x - center[1]
    dist2 = dy**2 + dx**2
    rays = len(ray_lengths)
    d = (np.arctan2(dx, dy) + np.pi) / (2 * np.pi) * rays
    i = d.astype(int)
    f = d - i
    lo, hi = ray_lengths[i % rays], ray_lengths[(i + 1) % rays]
    length = lo + f * (hi - lo)
    g = (length**2 / (dist2 + 1e-4)) ** exponent
    return np.clip((1 - (f - 0.5) ** 2) * g, 0, 1)


def sparkles(image: Array, p: float, rs: RS) -> Array:
    """Five white starbursts of radius p/100 of the image side at random places."""
    n = _size(image)
    centers = rs.uniform(low=0, high=n, size=(5, 2))
    radii = np.array([_scaled(p, 0.1)] * 5) * n
    amount, randomness = 50, 25
    rs_rays = RS(rs.randint(low=0, high=2**32))
    nrays = rs.randint(low=50, high=200, size=5)
    out = image.astype(np.float64)
    for center, rays, radius in zip(centers, nrays, radii):
        lengths = np.array([max(1, radius + randomness / 100.0 * radius * rs_rays.randn()) for _ in range(rays)])
        w = _star((n, n), center, lengths, (100 - amount) / 50.0) if radius != 0 else np.zeros((n, n))
        out = out + w[..., None] * (255 - out)
    return _finish(out)


def inverse_sparkles(image: Array, p: float, rs: RS) -> Array:
    """White everywhere but a starburst around a random centre, which narrows as p grows."""
    n = _size(image)
    center = rs.uniform(low=0.25, high=0.75, size=2) * n
    radius = 0.25 * n
    amount = 100 - _scaled(p, 65)
    randomness = 25
    rs_rays = RS(rs.randint(low=0, high=2**32))
    rays = rs.randint(low=50, high=200)
    lengths = np.array([radius + randomness / 100.0 * radius * rs_rays.randn() for _ in range(rays)])
    w = _star((n, n), center, lengths, (100 - amount) / 50.0)
    return _finish(255 + w[..., None] * (image.astype(np.float64) - 255))


# --- Perlin noise -------------------------------------------------------------------------

class _Perlin:
    """2-D gradient noise as the release's ``utils/perlin_noise.py`` computes it (Ken Perlin's
    reference noise), vectorised: the same tables drawn from ``rs`` in the same order and form,
    the same arithmetic in the same order, and its final factor 1.5. ``noise`` and ``turbulence``
    broadcast their coordinate arrays (a column of rows against a row of columns gives a field)."""

    B = 256
    N = 16 * 256  # added to the coordinates before the lattice cell is taken

    def __init__(self, rs: RS):
        b = self.B
        # 2B + 2 gradients, two draws in [0, 2^31) each, mapped to multiples of 1/B in [-1, 1) and
        # made unit length. Two draws of 256 (mod 2B) give (0, 0) and 0/0 = NaN, as in the release
        # (about one seed in a thousand); the sums of squares are exact, so the norms are the release's.
        g = (rs.randint(low=0, high=2**31, size=(2 * b + 2, 2)) % (2 * b) - b) / b
        with np.errstate(invalid="ignore"):
            g = g / np.linalg.norm(g, axis=1, keepdims=True)
        # Then a shuffle of 0..B-1 from i = B-1 down to 0, swapping entry i with entry (draw mod B).
        perm = np.arange(b)
        for i, j in zip(range(b - 1, -1, -1), rs.randint(low=0, high=2**31, size=b) % b):
            perm[i], perm[j] = perm[j], perm[i]
        # The release copies entries 0..B+1 onto B..2B+1, in that order, so entries B and B+1 end as
        # copies of 0 and 1: the gradients drawn for B..2B+1 are never used.
        self.p = np.concatenate((perm, perm, perm[:2]))
        self.g = np.concatenate((g[:b], g[:b], g[:2]))

    @staticmethod
    def _s_curve(t: Array) -> Array:
        return t**2 * (3.0 - 2.0 * t)

    def noise(self, x: Array, y: Array) -> Array:
        tx, ty = x + self.N, y + self.N  # positive, so truncation is the floor
        bx0, by0 = tx.astype(np.int64) % self.B, ty.astype(np.int64) % self.B
        bx1, by1 = (bx0 + 1) % self.B, (by0 + 1) % self.B
        rx0, ry0 = tx % 1, ty % 1
        rx1, ry1 = rx0 - 1.0, ry0 - 1.0
        i, j = self.p[bx0], self.p[bx1]
        b00, b10, b01, b11 = self.p[i + by0], self.p[j + by0], self.p[i + by1], self.p[j + by1]
        sx, sy = self._s_curve(rx0), self._s_curve(ry0)
        gx, gy = self.g[:, 0], self.g[:, 1]
        u, v = rx0 * gx[b00] + ry0 * gy[b00], rx1 * gx[b10] + ry0 * gy[b10]
        a = u + sx * (v - u)
        u, v = rx0 * gx[b01] + ry1 * gy[b01], rx1 * gx[b11] + ry1 * gy[b11]
        b = u + sx * (v - u)
        return 1.5 * (a + sy * (b - a))

    def turbulence(self, x: Array, y: Array, octaves: float) -> Array:
        t, f = 0.0, 1.0
        while f <= octaves:
            t = t + np.abs(self.noise(f * x, f * y)) / f
            f *= 2
        return t


def perlin_noise(image: Array, p: float, rs: RS) -> Array:
    """Blend toward grey Perlin turbulence (16 octaves, lattice cells of 32 px at 224), weight p/20."""
    n = _size(image)
    scale = 1 / (32 * n / 224)  # the release's matrix I / (32 n / 224): 1 / period, rounded once
    alpha = _scaled(p, 0.50)
    gen = _Perlin(RS(rs.randint(low=0, high=2**32)))
    coords = np.arange(n, dtype=np.float64) * scale
    # Row coordinates are the noise's first argument, as in the release.
    f = np.clip(0.5 * gen.turbulence(coords[:, None], coords[None, :], 16.0) + 0.5, 0, 1)
    with np.errstate(invalid="ignore"):  # a NaN gradient's pixels cast as the release's do
        return _finish((1 - alpha) * image.astype(np.float32) + 255 * alpha * f[..., None])


# --- caustic refraction -------------------------------------------------------------------

def caustics(n: int, time: float, size: float) -> Array:
    """Grey caustic light pattern in [0, 1] (the iterated "water caustic" shader), tiled every ``size`` px."""
    y, x = _grid(n)
    p0 = ((y / size) % 1) * 6.28318530718 - 250
    p1 = ((x / size) % 1) * 6.28318530718 - 250
    i0, i1 = p0.copy(), p1.copy()
    c = np.ones_like(p0)
    inten = 0.005
    for k in range(5):
        t = time * (1.0 - (3.5 / (k + 1)))
        i0, i1 = p0 + np.cos(t - i0) + np.sin(t + i1), p1 + np.sin(t - i1) + np.cos(t + i0)
        c += 1.0 / np.sqrt((p0 / (np.sin(i0 + t) / inten)) ** 2 + (p1 / (np.cos(i1 + t) / inten)) ** 2)
    c = 1.17 - (c / 5.0) ** 1.4
    return np.clip(np.abs(c) ** 8.0, 0, 1)


def _bilinear(image: Array, py: Array, px: Array) -> Array:
    """Bilinear samples of ``image`` at (py, px); neighbours outside the image count as 0."""
    h, w = image.shape[:2]
    y0, x0 = np.floor(py).astype(int), np.floor(px).astype(int)
    out = np.zeros(py.shape + image.shape[2:])
    for dy in (0, 1):
        for dx in (0, 1):
            yy, xx = y0 + dy, x0 + dx
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            v = image[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)] * inside[..., None]
            wy = (py - y0) if dy else (1 - (py - y0))
            wx = (px - x0) if dx else (1 - (px - x0))
            out += v * (wy * wx)[..., None]
    return out


def _neighbour(field: Array, dy: int, dx: int) -> Array:
    """field[y + dy, x + dx], 0 outside."""
    out = np.zeros_like(field)
    h, w = field.shape
    out[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)] = \
        field[max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
    return out


def caustic_refraction(image: Array, p: float, rs: RS) -> Array:
    """Look at the image through water: the caustic pattern is a height map whose slopes refract
    (index 4) each ray by up to p * n / 20 pixels, and whose slopes light and shade the result."""
    n = _size(image)
    time = rs.uniform(low=0.5, high=2.0)
    size = rs.uniform(low=0.75, high=1.25) * n
    eta, lens_scale, lighting = 4.0, _scaled(p, 0.5 * n), _scaled(p, 2.0)
    field = caustics(n, time, size)
    field = ndimage.gaussian_filter(np.repeat(field[..., None], 3, axis=2), sigma=1)
    luma = field @ LUMA
    north, south = _neighbour(luma, 0, -1), _neighbour(luma, 0, 1)
    west, east = _neighbour(luma, -1, 0), _neighbour(luma, 1, 0)
    normal = np.stack((east - west, south - north, np.ones_like(luma)), axis=-1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    # Refract the ray (0, 0, 1) at the surface with this normal (Snell, sin out = sin in / eta): the
    # refracted direction is cos(out) * normal + sin(out) * (the in-plane direction orthogonal to it).
    cos_in = normal[..., 2]
    angle_out = np.arcsin(np.sin(np.arccos(np.clip(cos_in, -1, 1))) / eta)
    spectator = np.cross(np.array([0.0, 0.0, 1.0]), normal)
    norm = np.linalg.norm(spectator, axis=-1, keepdims=True)
    spectator = spectator / np.where(norm == 0, 1, norm)
    orthogonal = np.cross(normal, spectator)
    ray = np.cos(angle_out)[..., None] * normal + np.sin(angle_out)[..., None] * orthogonal
    straight = np.abs(cos_in) >= 1.0 - 1e-3
    ray[straight] = (0.0, 0.0, 1.0)
    shift = np.round(ray * lens_scale, 3)
    y, x = _grid(n)
    out = _bilinear(image.astype(np.float32) / 255, y + shift[..., 0], x + shift[..., 1])
    out += ((north - south) * lighting + (east - west) * lighting)[..., None]
    return np.clip((np.clip(out, 0, 1) * 255).astype(np.uint8), 0, 255)


CORRUPTIONS: dict[str, Callable[[Array, float, RS], Array]] = {
    "blue_noise_sample": blue_noise_sample,
    "brownish_noise": brownish_noise,
    "caustic_refraction": caustic_refraction,
    "checkerboard_cutout": checkerboard_cutout,
    "cocentric_sine_waves": cocentric_sine_waves,
    "inverse_sparkles": inverse_sparkles,
    "perlin_noise": perlin_noise,
    "plasma_noise": plasma_noise,
    "single_frequency_greyscale": single_frequency_greyscale,
    "sparkles": sparkles,
}
