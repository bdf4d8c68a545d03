"""Generate ImageNet-C-bar from ImageNet val, as the authors' ``make_imagenet_c_bar.py`` does
(Mintun et al. 2021): each val image is resized to 256 and centre-cropped to 224 (the
suite's PIL-identical decode), corrupted by each of the 10 corruptions at its 5 published
parameter values and saved as JPEG quality 85 to
``OUT/<corruption>/<parameter "{:.2f}">/<wnid>/<file name>``, the layout the C-bar reader accepts.

Every (image, corruption, parameter) draws from its own ``RandomState`` seeded by
(seed, file name, corruption, severity), so any image can be regenerated alone, in any order,
on any number of processes. Files are written to a temporary name and renamed, so a file that
exists is complete; a rerun skips them (resumable). See the README, "Preparing the datasets".
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Sequence
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.corruptions import IMAGENET_CBAR, IMAGENET_CBAR_PARAMS, SEVERITIES, cbar_severity_folder
from ..data.decode import decode
from ..data.imagelist import RESIZE_CROP
from ..data.synsets import imagenet_wnids
from .cbar_corruptions import CORRUPTIONS

JPEG_QUALITY = 85  # make_imagenet_c_bar.py: save(quality=85, optimize=True)


def image_rng(seed: int, file_name: str, corruption: str, severity: int) -> np.random.RandomState:
    """The random state of one corrupted file: independent of the order and process that makes it."""
    key = [seed, zlib.crc32(file_name.encode()), IMAGENET_CBAR.index(corruption), severity]
    return np.random.RandomState(np.random.SeedSequence(key).generate_state(1)[0])


def corrupt(image: np.ndarray, corruption: str, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """``image`` (224 x 224 x 3 uint8) under ``corruption`` at severity 1..5 (its published parameter)."""
    return CORRUPTIONS[corruption](image, IMAGENET_CBAR_PARAMS[corruption][severity - 1], rng)


def target(out: Path, corruption: str, severity: int, wnid: str, file_name: str) -> Path:
    return out / corruption / cbar_severity_folder(corruption, severity) / wnid / file_name


def _save_jpeg(array: np.ndarray, path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)


def _one_image(job) -> int:
    """Write every missing corrupted version of one val image; returns how many were written."""
    src, wnid, out, corruptions, seed = job
    todo = [(c, s) for c in corruptions for s in SEVERITIES if not target(out, c, s, wnid, src.name).exists()]
    if not todo:
        return 0
    image = decode(src, RESIZE_CROP).permute(1, 2, 0).numpy()
    for c, s in todo:
        _save_jpeg(corrupt(image, c, s, image_rng(seed, src.name, c, s)), target(out, c, s, wnid, src.name))
    return len(todo)


def generate(val_images, out: Path, *, corruptions: Sequence[str] = IMAGENET_CBAR, seed: int = 0,
             workers: int | None = None, progress: bool = True) -> int:
    """Write ImageNet-C-bar for the images of ``val_images`` (an ImageList of ImageNet val) under
    ``out``; returns the number of files written (0 when everything was already there)."""
    from tqdm import tqdm

    wnids = imagenet_wnids()
    jobs = [(val_images.path(i), wnids[int(val_images.labels[i])], Path(out), tuple(corruptions), seed)
            for i in range(len(val_images))]
    workers = workers or os.cpu_count() or 1
    written = 0
    with tqdm(total=len(jobs), desc="ImageNet-C-bar", unit="img", disable=not progress) as bar:
        if workers == 1:
            for job in jobs:
                written += _one_image(job)
                bar.update()
        else:
            with get_context("spawn").Pool(workers) as pool:
                for n in pool.imap_unordered(_one_image, jobs, chunksize=4):
                    written += n
                    bar.update()
    return written
