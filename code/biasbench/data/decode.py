"""Decoding one image file into the uint8 tensor a model is fed, by the image list's preprocessing name
(``data/imagelist.py``: ``RESIZE_CROP``, ``AS_IS``, or either with a model's own steps, ``data/model_input.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import DatasetError
from .imagelist import AS_IS, MODEL_SEP, RESIZE_CROP
from .model_input import apply


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


def decode(path: Path, preprocess: str) -> torch.Tensor:
    """One image as a uint8 tensor 3 x 224 x 224, pixel-identical to the PIL pipeline
    (``Resize(256)``, ``CenterCrop(224)``, ``ToTensor`` times 255); with a model's own preprocessing
    (``--preprocess model``) 3 x H x W as that model's library makes it."""
    try:
        with Image.open(path) as im:
            img = im.convert("RGB")
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
        return apply(preprocess, img)
    if base == RESIZE_CROP:
        img = _resize_crop(img)
    elif base != AS_IS:
        raise ValueError(f"unknown preprocessing {preprocess!r}")
    arr = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
