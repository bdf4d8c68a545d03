"""The reference approach, re-created as the baseline of the performance scripts (not part of the library).

How the authors' evaluation scripts work, and so what the suite is measured against:
for every condition and every model, a fresh ``torchvision`` ``ImageFolder`` +
``DataLoader`` whose per-image transform is ``Resize(256)``, ``CenterCrop(224)``,
``ToTensor`` and then the condition's filter on that one image, followed by the
forward pass of that one model. Every image is therefore decoded again for every
condition and every model.

- Spectral: the authors' ``bandpass_filter`` applied to one CHW tensor in the
  DataLoader worker: ``torch.fft`` fft2, fftshift, a square 0/1 mask built per
  image, ifftshift, ifft2, real part, clip to [0, 1].
- Critical band: per image, PIL greyscale, contrast 0.2 around 0.449, white noise
  (``np.random``) through a pyrtools ``LaplacianPyramid`` with one band reconstructed
  and rescaled to the RMS of the finest band; when any pixel leaves [0, 1], the
  out-of-range rule as a Python loop over every pixel (the slow part; it runs for
  most images at SD 0.16 and for few at the lower SDs); then ``ToTensor``.
- ImageNet-C / C-bar style folders: ``ToTensor`` only, one DataLoader per cell.
- Generating ImageNet-C-bar: the authors' ``make_imagenet_c_bar.py`` computes ``perlin_noise``
  pixel by pixel in Python (``release_perlin_noise``; its other corruptions are per-pixel loops too).

Labels: the reference scripts take ImageFolder's folder positions; here they are
mapped to the standard synset index (a negligible per-image dict lookup) so that
the accuracies of both sides can be compared on partial synthetic data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pyrtools as pt
import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms as T

from biasbench.data.synsets import label_of

CONTRAST, GREY_MEAN, EPSILON, N_LEVELS = 0.2, 0.449, 0.1, 7


# ------------------------------------------------------------------ spectral

def bandpass_filter(x: torch.Tensor, cutoff_freq: float, lowpass: bool = True) -> torch.Tensor:
    """The reference square low-/high-pass on one image ``[C, H, W]`` in [0, 1]."""
    fft = torch.fft.fftshift(torch.fft.fft2(x))
    c = cutoff_freq if lowpass else 1 - cutoff_freq
    h, w = fft.shape[-2:]
    cy, cx = h // 2, w // 2
    ry, rx = int(c * cy), int(c * cx)
    mask = torch.zeros_like(fft) if lowpass else torch.ones_like(fft)
    mask[:, cy - ry:cy + ry, cx - rx:cx + rx] = 1 if lowpass else 0
    return torch.fft.ifft2(torch.fft.ifftshift(fft * mask)).real.clip(0, 1)


def bandpass_filter_numpy(x: np.ndarray, cutoff_freq: float, lowpass: bool = True) -> np.ndarray:
    """The same filter with numpy.fft (float64), as the issue describes the reference; for comparison."""
    fft = np.fft.fftshift(np.fft.fft2(x), axes=(-2, -1))
    c = cutoff_freq if lowpass else 1 - cutoff_freq
    h, w = fft.shape[-2:]
    cy, cx = h // 2, w // 2
    ry, rx = int(c * cy), int(c * cx)
    mask = np.zeros(fft.shape) if lowpass else np.ones(fft.shape)
    mask[..., cy - ry:cy + ry, cx - rx:cx + rx] = 1 if lowpass else 0
    return np.clip(np.fft.ifft2(np.fft.ifftshift(fft * mask, axes=(-2, -1))).real, 0, 1)


class Bandpass:
    """Picklable per-image transform (DataLoader workers): ``Bandpass(c, lowpass)(tensor)``."""

    def __init__(self, cutoff: float, lowpass: bool):
        self.cutoff, self.lowpass = cutoff, lowpass

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return bandpass_filter(x, self.cutoff, self.lowpass)


# ------------------------------------------------------------------ critical band

def _rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(a))))


def critical_band_grey(grey_u8: np.ndarray, band: int | None, sd: float, noise: np.ndarray | None = None,
                       redraw: Callable[[], float] | None = None, always_loop: bool = False) -> np.ndarray:
    """The reference filter on one PIL-greyscale uint8 image ``[H, W]`` -> float32 ``[H, W]``.

    ``noise`` (N(0, sd^2) per pixel) and ``redraw()`` (one N(0, sd^2) value) default to
    ``np.random`` draws, as in the reference; passing them makes the result reproducible.
    ``always_loop``: run the pixel loop on every image, as the issue describes the reference
    (same result; for comparison).
    """
    image = grey_u8 / 255.0
    image = (image - image.mean()) * CONTRAST + GREY_MEAN
    if sd == 0:
        return image.astype(np.float32)
    if noise is None:
        noise = np.random.randn(*image.shape) * sd
    if redraw is None:
        redraw = lambda: np.random.randn() * sd  # noqa: E731
    pyr = pt.pyramids.LaplacianPyramid(noise)
    recon = pyr.recon_pyr(levels=N_LEVELS - 1 - band)
    band_noise = recon * _rms(pyr.recon_pyr(levels=0)) / _rms(recon)
    noisy = image + band_noise
    if always_loop or noisy.min() < 0 or noisy.max() > 1:  # then every pixel is visited in Python
        for i in range(noisy.shape[0]):
            for j in range(noisy.shape[1]):
                if not (noisy[i, j] < 0 or noisy[i, j] > 1):
                    continue
                moved = (EPSILON if noisy[i, j] < 0 else 1 - EPSILON) - band_noise[i, j]
                if 0 <= moved <= 1:
                    image[i, j] = moved
                else:  # moving the image pixel would leave the range on the other side: redraw its noise
                    n = band_noise[i, j]
                    while n + image[i, j] < 0 or n + image[i, j] > 1:
                        n = redraw()
                    band_noise[i, j] = n
        noisy = image + band_noise
    return noisy.astype(np.float32)


class CriticalBand:
    """Picklable per-image transform on the cropped PIL image -> HWC float32 array (ToTensor follows)."""

    def __init__(self, band: int | None, sd: float, always_loop: bool = False):
        self.band, self.sd, self.always_loop = band, sd, always_loop

    def __call__(self, img: Image.Image) -> np.ndarray:
        grey = critical_band_grey(np.asarray(img.convert("L"), dtype=np.uint8), self.band, self.sd,
                                  always_loop=self.always_loop)
        return np.stack([grey, grey, grey], axis=2)


# ------------------------------------------------------------------ data and evaluation

RESIZE_CROP = [T.Resize(256), T.CenterCrop(224)]


def spectral_transform(cutoff: float | None, lowpass: bool = True) -> T.Compose:
    """Resize, crop, ToTensor, then the filter (``cutoff=None``: unfiltered)."""
    steps = [*RESIZE_CROP, T.ToTensor()]
    if cutoff is not None:
        steps.append(Bandpass(cutoff, lowpass))
    return T.Compose(steps)


def critical_band_transform(band: int | None, sd: float) -> T.Compose:
    return T.Compose([*RESIZE_CROP, CriticalBand(band, sd), T.ToTensor()])


class _SynsetIndex:
    """ImageFolder position -> standard ImageNet index (picklable)."""

    def __init__(self, classes: list[str]):
        self.index = [label_of(c) for c in classes]

    def __call__(self, position: int) -> int:
        return self.index[position]


def image_folder(root: str | Path, transform: Callable) -> torchvision.datasets.ImageFolder:
    ds = torchvision.datasets.ImageFolder(str(root), transform=transform)
    ds.target_transform = _SynsetIndex(ds.classes)
    return ds


def loader(dataset, batch_size: int, num_workers: int, device: torch.device) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      pin_memory=device.type == "cuda")


def eval_top1(model: torch.nn.Module, data: Iterable, device: torch.device) -> float:
    """Top-1 accuracy (%) of ``model`` over ``data``, one batch at a time."""
    correct = n = 0
    with torch.no_grad():
        for x, y in data:
            x, y = x.to(device), y.to(device)
            correct += int((model(x).argmax(1) == y).sum())
            n += len(y)
    return 100.0 * correct / max(n, 1)


Conditions = dict[str, tuple[Path, Callable]]  # condition name -> (image folder, per-image transform)


def run_conditions(model: torch.nn.Module, conditions: Conditions, *, batch_size: int, num_workers: int,
                   device: torch.device) -> dict[str, float]:
    """One model, every condition on its own: a fresh dataset + DataLoader per condition."""
    out = {}
    for name, (root, transform) in conditions.items():
        out[name] = eval_top1(model, loader(image_folder(root, transform), batch_size, num_workers, device), device)
    return out


def spectral_conditions(root: str | Path, cutoffs: Iterable[float]) -> Conditions:
    """The suite's condition names -> (root, reference transform): clean, LFC/<c>, HFC/<c>."""
    cutoffs = list(cutoffs)
    conds = {"clean": (Path(root), spectral_transform(None))}
    for tag, lowpass in (("LFC", True), ("HFC", False)):
        conds.update({f"{tag}/{c}": (Path(root), spectral_transform(c, lowpass)) for c in cutoffs})
    return conds


def criticalband_conditions(root: str | Path, cells: Iterable[tuple[int | None, float]]) -> Conditions:
    """(band, sd) cells -> (root, reference transform), named as the suite names them."""
    return {("sd=0" if sd == 0 else f"f={band}/sd={sd}"): (Path(root), critical_band_transform(band, sd))
            for band, sd in cells}


def folder_conditions(cells: dict[str, Path]) -> Conditions:
    """ImageNet-C/C-bar style cells, one folder each, ToTensor only."""
    return {name: (Path(folder), T.ToTensor()) for name, folder in cells.items()}


def release_perlin_noise(image: np.ndarray, p: float, rs: np.random.RandomState, pixels=None) -> np.ndarray:
    """ImageNet-C-bar's perlin_noise as the release computes it (``imagenet_c_bar/corrupt.py``,
    ``utils/perlin_noise.py``): tables built one draw at a time, then every pixel's turbulence in
    Python with numpy scalars, the coordinates through a 2 x 2 matrix product per pixel. The timing
    baseline of bench_cbar_generation.py and the tests' oracle. ``pixels``: only these (row, column)
    pairs are computed (the rest of the field stays 0), for a sparse check of a large image."""
    n = image.shape[0]
    tables = np.random.RandomState(rs.randint(low=0, high=2**32))
    grads = np.zeros((2 * 256 + 2, 2))
    for k in range(len(grads)):
        v = (tables.randint(low=0, high=2**31, size=2) % 512 - 256) / 256
        with np.errstate(invalid="ignore"):
            grads[k] = v / np.linalg.norm(v)
    perm = np.arange(2 * 256 + 2)
    for i in range(255, -1, -1):
        j = tables.randint(low=0, high=2**31) % 256
        perm[i], perm[j] = perm[j], perm[i]
    for i in range(256 + 2):
        perm[256 + i], grads[256 + i] = perm[i], grads[i]

    def noise(x, y):
        tx, ty = x + 4096, y + 4096
        bx0, by0 = int(tx) % 256, int(ty) % 256
        bx1, by1 = (bx0 + 1) % 256, (by0 + 1) % 256
        rx0, ry0 = tx % 1, ty % 1
        rx1, ry1 = rx0 - 1.0, ry0 - 1.0
        i, j = perm[bx0], perm[bx1]
        b00, b10, b01, b11 = perm[i + by0], perm[j + by0], perm[i + by1], perm[j + by1]
        sx, sy = rx0**2 * (3.0 - 2.0 * rx0), ry0**2 * (3.0 - 2.0 * ry0)
        u, v = rx0 * grads[b00, 0] + ry0 * grads[b00, 1], rx1 * grads[b10, 0] + ry0 * grads[b10, 1]
        a = u + sx * (v - u)
        u, v = rx0 * grads[b01, 0] + ry1 * grads[b01, 1], rx1 * grads[b11, 0] + ry1 * grads[b11, 1]
        return 1.5 * (a + sy * (u + sx * (v - u) - a))

    m = np.array([[1, 0], [0, 1]]) / (32 * n / 224)
    alpha = float(p) * 0.5 / 10
    field = np.zeros((n, n, 3))
    for y, x in pixels if pixels is not None else [(y, x) for y in range(n) for x in range(n)]:
        point = np.matmul(np.array([y, x]), m)
        t, f = 0.0, 1.0
        while f <= 16.0:
            t += np.abs(noise(f * point[0], f * point[1])) / f
            f *= 2
        field[y, x] = np.clip(np.array([0.5 * t + 0.5] * 3), 0, 1.0)
    with np.errstate(invalid="ignore"):
        return np.clip((1 - alpha) * image.astype(np.float32) + 255 * alpha * field, 0, 255).astype(np.uint8)
