"""A dataset as a list of image files with labels, and the decoding of one image.

Every dataset reader returns an ``ImageList``. The runner turns it into batches
of uint8 RGB tensors (N x 3 x 224 x 224): decoding is lossless into uint8, and
``ToTensor`` is exactly ``uint8 / 255``, which the runner applies on the device.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import DatasetError

# How files become 224 x 224 tensors (README "Running on real data"; the reference's Resize(256)/CenterCrop(224)).
RESIZE_CROP = "resize256-bilinear-aa/centercrop224"  # natural images: Resize(256) + CenterCrop(224)
AS_IS = "as-is-224"  # ImageNet-C / C-bar / model-vs-human files are already 224 x 224 crops
MODEL_SEP = "|"  # "<one of the above>|<a model's own preprocessing>" (--preprocess model: data/model_input.py)

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class ImageList:
    """Files (relative to ``root``) with ImageNet class indices and a preprocessing name."""

    name: str
    root: Path
    files: tuple[str, ...]
    labels: np.ndarray
    preprocess: str = RESIZE_CROP
    # Set for deliberate subsets, so the fingerprint tells them apart from the full set.
    note: str = ""
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if len(self.files) != len(self.labels):
            raise ValueError("files and labels differ in length")

    def __len__(self) -> int:
        return len(self.files)

    def path(self, i: int) -> Path:
        return self.root / self.files[i]

    def fingerprint(self) -> str:
        """Identifies the exact images, labels and preprocessing: equal lists give equal
        fingerprints wherever the dataset lives (the root path is not part of it)."""
        h = hashlib.sha256()
        h.update(f"{self.name}\n{self.preprocess}\n{self.note}\n".encode())
        for f, y in zip(self.files, self.labels.tolist()):
            try:
                size = os.stat(self.root / f).st_size
            except OSError:
                size = -1
            h.update(f"{f}\t{y}\t{size}\n".encode())
        return h.hexdigest()[:16]

    def subset(self, n: int) -> "ImageList":
        """A deterministic, class-balanced subset of ``n`` images.

        Images are taken round-robin over the classes (ascending class index),
        each class in its sorted file order, so every class contributes
        floor(n / classes) or one more; the result keeps the original order.
        """
        if n <= 0:
            raise DatasetError(f"--n_samples must be positive, got {n}")
        if n >= len(self):
            return self
        by_class: dict[int, list[int]] = {}
        for i, y in enumerate(self.labels.tolist()):
            by_class.setdefault(y, []).append(i)
        queues = [by_class[c] for c in sorted(by_class)]
        chosen: list[int] = []
        depth = 0
        while len(chosen) < n:
            for q in queues:
                if depth < len(q):
                    chosen.append(q[depth])
                    if len(chosen) == n:
                        break
            depth += 1
        keep = sorted(chosen)
        return replace(
            self,
            files=tuple(self.files[i] for i in keep),
            labels=self.labels[keep],
            note=f"{self.note}subset{n};",
            meta={**self.meta, "source_index": np.asarray(keep)},
        )


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _resize_crop(img: Image.Image) -> Image.Image:
    # torchvision Resize(256): shorter side to 256, the other int(256 * long / short);
    # PIL's bilinear resize antialiases, as torchvision's PIL path does.
    w, h = img.size
    if w <= h:
        nw, nh = 256, int(256 * h / w)
    else:
        nw, nh = int(256 * w / h), 256
    img = img.resize((nw, nh), Image.BILINEAR)
    # torchvision CenterCrop(224): top/left = int(round((size - 224) / 2)).
    left = int(round((nw - 224) / 2.0))
    top = int(round((nh - 224) / 2.0))
    return img.crop((left, top, left + 224, top + 224))


def to_rgb8(im: Image.Image, path: Path) -> Image.Image:
    """``im`` as 8-bit RGB. 16-bit grey images (PIL modes ``I;16*``) keep their high byte, ``v >> 8``,
    as torchvision's ``convert_image_dtype`` does and as PIL itself reads 16-bit RGB PNGs; PIL's own
    ``convert("RGB")`` would clip every value above 255 to white. 32-bit integer or float images
    (modes ``I``, ``F``) have no defined value range and are refused (docs/troubleshooting.md)."""
    if im.mode.startswith("I;16"):
        high = (np.asarray(im).astype(np.uint16) >> 8).astype(np.uint8)
        return Image.fromarray(high, mode="L").convert("RGB")
    if im.mode in ("I", "F"):
        kind = "32-bit integer" if im.mode == "I" else "floating-point"
        raise DatasetError(
            f"cannot read image {path}: it is a {kind} image (PIL mode {im.mode}), whose value range is "
            "not defined; save it as 8- or 16-bit"
        )
    return im.convert("RGB")


def decode(path: Path, preprocess: str) -> torch.Tensor:
    """One image as a uint8 tensor 3 x 224 x 224, pixel-identical to the PIL pipeline
    (``Resize(256)``, ``CenterCrop(224)``, ``ToTensor`` times 255); with a model's own preprocessing
    (``--preprocess model``) 3 x H x W as that model's library makes it."""
    try:
        with Image.open(path) as im:
            img = to_rgb8(im, path)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        # DecompressionBombError: a damaged header claiming billions of pixels
        raise DatasetError(f"cannot read image {path}: {e}") from None
    base, _, model_steps = preprocess.partition(MODEL_SEP)
    if base == AS_IS and img.size != (224, 224):
        raise DatasetError(
            f"{path} is {img.size[0]}x{img.size[1]}, expected 224x224: this dataset's files are "
            "stored as 224x224 crops and are fed as they are (resizing them would change the benchmark)"
        )
    if model_steps:
        from .model_input import apply

        return apply(preprocess, img)
    if base == RESIZE_CROP:
        img = _resize_crop(img)
    elif base != AS_IS:
        raise ValueError(f"unknown preprocessing {preprocess!r}")
    arr = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
