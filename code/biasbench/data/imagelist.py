"""A dataset as a list of image files with labels, and how its files become tensors (its preprocessing name).

Every dataset reader returns an ``ImageList``. The runner turns it into batches
of uint8 RGB tensors (N x 3 x 224 x 224) with ``data/decode.py``: decoding is lossless into uint8, and
``ToTensor`` is exactly ``uint8 / 255``, which the runner applies on the device.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import DatasetError

# How files become 224 x 224 tensors (docs/running.md; the reference's Resize(256)/CenterCrop(224)).
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
